"""Docs match the code: every setting is documented in docs/configuration.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from compat_loki.settings import LogsSettings
from compat_prom.settings import MetricsSettings
from compat_sentry.settings import ErrorsSettings
from core.settings import CommonSettings

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "configuration.md").read_text()


def section(title_start: str) -> str:
    match = re.search(rf"^## {re.escape(title_start)}.*?(?=^## |\Z)", DOC, re.M | re.S)
    assert match, f"docs/configuration.md has no section '## {title_start}'"
    return match.group(0)


@pytest.mark.parametrize(
    ("cls", "title"),
    [
        (CommonSettings, "Common"),
        (ErrorsSettings, "Error tracker"),
        (LogsSettings, "Log store"),
        (MetricsSettings, "Metrics collector"),
    ],
)
def test_every_setting_is_documented(cls: type[CommonSettings], title: str) -> None:
    text = section(title)
    own = [
        n for n in cls.model_fields if cls is CommonSettings or n not in CommonSettings.model_fields
    ]
    missing = [n.upper() for n in own if f"`{n.upper()}`" not in text]
    assert not missing, f"undocumented in '{title}': {missing}"


def test_readme_shows_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    assert "docs/configuration.md" in readme
