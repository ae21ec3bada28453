"""docs/operations.md and docs/grafana.md name files, compose services and commands that
exist: a renamed file or sub-command must not leave the operator's page behind."""

from __future__ import annotations

import re

import pytest

from core.cli import build_parser
from tests.deploy.stack import DEPLOY, ROOT, load_yaml

DOCS = [ROOT / "docs/operations.md", ROOT / "docs/grafana.md"]


def code(text: str) -> str:
    """Only what an operator types: fenced blocks and inline code spans."""
    blocks = re.findall(r"```[^\n]*\n(.*?)```", text, re.S)
    rest = re.sub(r"```.*?```", "", text, flags=re.S)
    lines = "\n".join(blocks + re.findall(r"`([^`\n]+)`", rest)).splitlines()
    return "\n".join(re.sub(r"(^|\s)#.*", "", line) for line in lines)  # no shell comments


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_deploy_path_mentioned_exists(doc: object) -> None:
    text = doc.read_text()  # type: ignore[attr-defined]
    # Paths from the repository root; deploy/data/... is made by the operator.
    paths = set(re.findall(r"(?<![\w/])(deploy/[\w./-]+\w)", text))
    paths = {p for p in paths if not p.startswith("deploy/data")}
    assert paths
    for path in paths:
        assert (ROOT / path).exists(), path
    # Files named relative to deploy/ in the tables, e.g. `docker-compose.allinone.yml`.
    for name in re.findall(r"`((?:docker-compose\.[\w.]+\.yml)|secrets\.env\.example)`", text):
        assert (DEPLOY / name).exists(), name


def test_compose_services_and_profiles_in_the_docs_exist() -> None:
    text = code((ROOT / "docs/operations.md").read_text())
    services = set()
    profiles = set()
    for name in ("docker-compose.monitoring.yml", "docker-compose.allinone.yml"):
        doc = load_yaml(DEPLOY / name)
        services |= set(doc["services"])
        for svc in doc["services"].values():
            profiles |= set(svc.get("profiles", []))
    checked = 0
    for verb, service in re.findall(
        r"\.yml (?:--profile \w+ )?(exec|run --rm --no-deps|stop|start|restart|build) "
        r"(?:-T )?([a-z][\w-]+)(?!\S)",
        text,
    ):
        assert service in services, (verb, service)
        checked += 1
    assert checked >= 5
    for profile in re.findall(r"--profile (\w+)", text):
        assert profile in profiles, profile


def test_flowmon_commands_in_the_docs_exist() -> None:
    parser = build_parser()
    subcommands = set(parser._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    text = "\n".join(code(doc.read_text()) for doc in DOCS)
    used = set(re.findall(r"\bflowmon (\w+)", text)) - {"env"}  # `sudo -u flowmon env`
    assert {"backup", "restore", "project"} <= used
    for command in used:
        assert command in subcommands, command
