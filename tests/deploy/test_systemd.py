"""deploy/systemd/flowmon.service: `flowmon all` from a virtualenv on a VPS without Docker.

``systemd-analyze verify`` checks the unit when systemd is installed (ExecStart pointed at
this checkout's ``flowmon``, since /opt/flowmon exists only on the VPS); the structural
checks below pin what the unit promises in docs/operations.md either way.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.stack import DEPLOY, repo_bin

UNIT = DEPLOY / "systemd/flowmon.service"


def unit_entries() -> dict[str, dict[str, list[str]]]:
    """Sections → key → values (systemd keys may repeat, so values are lists)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key, []).append(value)
    return sections


def test_unit_runs_flowmon_all_from_the_venv_as_an_unprivileged_user() -> None:
    service = unit_entries()["Service"]
    assert service["ExecStart"] == ["/opt/flowmon/bin/flowmon all"]
    assert service["User"] == ["flowmon"] and service["Group"] == ["flowmon"]
    assert "DATA_DIR=/var/lib/flowmon" in service["Environment"]
    assert "HOST=127.0.0.1" in service["Environment"]  # SPEC §10.2: not on the internet
    assert service["StateDirectory"] == ["flowmon"]
    assert service["StateDirectoryMode"] == ["0700"]  # SPEC §10.5
    assert service["UMask"] == ["0077"]
    assert service["Restart"] == ["on-failure"]
    assert service["EnvironmentFile"] == ["-/etc/flowmon/flowmon.env"]
    assert unit_entries()["Install"]["WantedBy"] == ["multi-user.target"]


def test_unit_is_hardened() -> None:
    service = unit_entries()["Service"]
    for key, value in {
        "NoNewPrivileges": "true",
        "ProtectSystem": "strict",
        "ProtectHome": "true",
        "PrivateTmp": "true",
        "CapabilityBoundingSet": "CAP_DAC_READ_SEARCH",
        "AmbientCapabilities": "CAP_DAC_READ_SEARCH",
    }.items():
        assert service.get(key) == [value], key
    assert service["ReadOnlyPaths"] == ["-/var/lib/docker/containers"]


def test_env_example_uses_names_flowmon_reads() -> None:
    from compat_loki.settings import LogsSettings
    from compat_prom.settings import MetricsSettings
    from compat_sentry.settings import ErrorsSettings

    known = set()
    for cls in (ErrorsSettings, LogsSettings, MetricsSettings):
        for field in cls.model_fields:
            known |= {field.upper(), cls.env_prefix + field.upper()}
    for line in (DEPLOY / "systemd/flowmon.env.example").read_text().splitlines():
        line = line.lstrip("# ").strip()
        if "=" in line and line.split("=")[0].isupper() and " " not in line.split("=")[0]:
            assert line.split("=")[0] in known, line


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed (Debian package systemd)")
    path = tmp_path / "flowmon.service"
    path.write_text(UNIT.read_text().replace("/opt/flowmon/bin", str(repo_bin())))
    proc = subprocess.run([analyze, "verify", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # ...and it does reject a broken unit, so the check above means something.
    path.write_text(UNIT.read_text().replace("/opt/flowmon/bin", str(tmp_path / "missing")))
    proc = subprocess.run([analyze, "verify", str(path)], capture_output=True, text=True)
    assert proc.returncode != 0
