"""The image's install and start-up, exercised without Docker (issue 9).

The runtime stage of deploy/Dockerfile copies a few folders into /src and runs
deploy/scripts/install.sh into a fresh virtualenv; the container then starts through
deploy/scripts/entrypoint.sh and is probed by deploy/scripts/healthcheck.sh. This test does
the same: it copies exactly the paths the Dockerfile's COPY lines name (plus the built
assets the node stage would provide), runs the same install script into a virtualenv in
tmp_path, starts ``flowmon all`` through the entrypoint on free ports and runs the health
check script against it. A package missing from the wheel, a migration not shipped as
package data or an asset not installed fails here.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.deploy.dockerparse import stages
from tests.deploy.stack import DEPLOY, ROOT, SCRIPTS, SERVICES, Stack, start_stack

VENDOR = Path("core/ui/static/vendor")
pytestmark = pytest.mark.slow


def copy_like_the_dockerfile(dest: Path) -> None:
    for word, rest in stages(DEPLOY / "Dockerfile")["runtime"]:
        if word != "COPY" or rest.startswith("--from"):
            continue
        *sources, target = rest.split()
        if target.startswith("/"):
            continue  # the scripts folder, used from the repository below
        for source in sources:
            src = ROOT / source
            if src.is_dir():
                shutil.copytree(
                    src, dest / target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
                )
            else:
                shutil.copy2(src, dest / target)
    # The node stage's output (tests/deploy/test_dockerfile.py pins its commands to the
    # Makefile's, which built this folder in `make setup`).
    built = ROOT / VENDOR
    if not (built / "tailwind.css").is_file():
        pytest.fail(f"{built} is not built: run `make setup` first")
    shutil.rmtree(dest / VENDOR, ignore_errors=True)
    shutil.copytree(built, dest / VENDOR)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("image")
    src = base / "src"
    src.mkdir()
    copy_like_the_dockerfile(src)
    prefix = base / "opt-flowmon"
    proc = subprocess.run(
        ["sh", str(SCRIPTS / "install.sh"), str(prefix), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return prefix


@pytest.fixture(scope="module")
def stack(installed: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("run")
    running = start_stack(installed / "bin", tmp)
    try:
        yield running
    finally:
        running.stop()


def test_install_is_not_editable_and_ships_assets_and_migrations(installed: Path) -> None:
    site = next((installed / "lib").glob("python3*/site-packages"))
    assert (site / "core").is_dir(), "flowmon was installed editable or not at all"
    for name in ("htmx.min.js", "uPlot.iife.min.js", "uPlot.min.css", "tailwind.css"):
        assert (site / VENDOR / name).stat().st_size > 0, name
    for package in ("compat_sentry", "compat_loki", "compat_prom"):
        assert list((site / package / "migrations/versions").glob("0001_*.py")), package
        assert (site / package / "migrations/script.py.mako").is_file(), package
    assert not (site / "tests").exists()


def test_flowmon_all_from_the_installed_venv_answers_health(stack: Stack) -> None:
    for name in SERVICES:
        r = httpx.get(stack.url(name) + "/health", timeout=5)
        assert r.status_code == 200 and r.json()["status"] == "ok", (name, r.text)
        css = httpx.get(stack.url(name) + "/static/vendor/tailwind.css", timeout=5)
        assert css.status_code == 200 and len(css.content) > 1000, name
    # The SPEC §8.3 key names reached the services through the entrypoint.
    output = stack.output()
    assert "flowmon is ready" in output
    for db in ("errors.db", "logs.db", "metrics.db"):
        assert (stack.data_dir / db).is_file(), db
    assert stack.data_dir.stat().st_mode & 0o077 == 0, "data dir must be private (SPEC §10.5)"


def test_image_healthcheck_script_passes_against_the_stack(stack: Stack) -> None:
    env = {"PATH": "/usr/bin:/bin", "HEALTH_PORTS": " ".join(str(p) for p in stack.ports.values())}
    proc = subprocess.run(
        [str(SCRIPTS / "healthcheck.sh")], env=env, capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stderr


def test_entrypoint_hands_the_spec_key_to_the_collector(stack: Stack) -> None:
    """METRICS_COLLECTOR_API_KEY (SPEC §8.3) must be the collector's key, not a generated one."""
    assert not (stack.data_dir / "api_key").exists(), "a key was generated despite secrets"


def test_systemd_unit_verifies_against_the_installed_venv(installed: Path, tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed; test_systemd.py checks the unit's structure")
    unit = (DEPLOY / "systemd/flowmon.service").read_text()
    assert "ExecStart=/opt/flowmon/bin/flowmon all" in unit
    path = tmp_path / "flowmon.service"
    path.write_text(unit.replace("/opt/flowmon/bin/flowmon", str(installed / "bin/flowmon")))
    proc = subprocess.run([analyze, "verify", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_stack_stops_cleanly_on_sigterm(stack: Stack) -> None:
    """Last in this module: `docker stop` sends SIGTERM; flowmon must exit 0 (the fixture's
    own stop afterwards is a no-op)."""
    assert stack.stop() == 0, stack.output()
