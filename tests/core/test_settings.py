from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from compat_loki.settings import LogsSettings
from compat_prom.settings import MetricsSettings
from compat_sentry.settings import ErrorsSettings
from core.keys import ensure_api_key
from core.settings import SettingsError, load_settings, sqlite_path

KEY = "k" * 32


def test_defaults_follow_the_spec(tmp_path: Path) -> None:
    s = load_settings(ErrorsSettings, {"DATA_DIR": str(tmp_path)})
    assert s.port == 5010
    assert s.host == "127.0.0.1"
    assert s.retention_days == 90
    assert s.postmark_from_email == "errors@example.com"
    assert s.database_path == tmp_path / "errors.db"
    assert load_settings(LogsSettings, {}).max_entries == 100_000
    assert load_settings(MetricsSettings, {}).retention_raw == "1h"


def test_prefixed_name_overrides_shared_name() -> None:
    env = {"API_KEY": KEY, "METRICS_API_KEY": "m" * 40, "RETENTION_RAW": "2h"}
    metrics = load_settings(MetricsSettings, env)
    errors = load_settings(ErrorsSettings, env)
    assert metrics.api_key is not None and metrics.api_key.get_secret_value() == "m" * 40
    assert errors.api_key is not None and errors.api_key.get_secret_value() == KEY
    assert metrics.retention_raw == "2h"


def test_port_is_read_only_with_the_prefix() -> None:
    env = {"PORT": "9999", "LOGS_PORT": "6011"}
    assert load_settings(ErrorsSettings, env).port == 5010
    assert load_settings(LogsSettings, env).port == 6011


def test_explicit_overrides_win_over_environment() -> None:
    s = load_settings(ErrorsSettings, {"ERRORS_PORT": "7000"}, port=7001, host=None)
    assert s.port == 7001
    assert s.host == "127.0.0.1"


def test_environment_names_are_case_insensitive_and_typed() -> None:
    s = load_settings(LogsSettings, {"max_entries": "5", "Poll_Interval": "0.5"})
    assert s.max_entries == 5
    assert s.poll_interval == 0.5


def test_bad_value_gives_one_line_naming_the_variable() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(LogsSettings, {"LOGS_MAX_ENTRIES": "many"})
    assert str(info.value).startswith("LOGS_MAX_ENTRIES:")
    assert "\n" not in str(info.value)


def test_short_api_key_is_refused_with_a_clear_message() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(ErrorsSettings, {"API_KEY": "short"})
    message = str(info.value)
    assert message.startswith("API_KEY: must be at least 32 characters (got 5)")
    assert "openssl rand -base64 32" in message
    with pytest.raises(SettingsError, match=r"^ERRORS_API_KEY:"):
        load_settings(ErrorsSettings, {"API_KEY": KEY, "ERRORS_API_KEY": "x" * 31})


def test_shared_database_url_refused_when_running_all_three() -> None:
    with pytest.raises(SettingsError, match="ERRORS_DATABASE_URL"):
        load_settings(ErrorsSettings, {"DATABASE_URL": "sqlite:///x.db"}, multi=True)
    ok = load_settings(
        ErrorsSettings,
        {"DATABASE_URL": "sqlite:///x.db", "ERRORS_DATABASE_URL": "sqlite:///e.db"},
        multi=True,
    )
    assert ok.database_path == Path("e.db")
    single = load_settings(ErrorsSettings, {"DATABASE_URL": "sqlite:///./data/errors.db"})
    assert single.database_path == Path("./data/errors.db")


def test_sqlite_urls() -> None:
    assert sqlite_path("sqlite:////abs/x.db") == Path("/abs/x.db")
    assert sqlite_path("sqlite:///rel/x.db") == Path("rel/x.db")
    for bad in ("postgres://x", "sqlite:///", "sqlite:///:memory:"):
        with pytest.raises(SettingsError):
            sqlite_path(bad)


def test_generated_key_is_stored_private_and_reused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    s = ensure_api_key(load_settings(ErrorsSettings, {"DATA_DIR": str(data)}))
    key_file = data / "api_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert len(s.api_key_value) >= 32
    assert key_file.read_text().strip() == s.api_key_value
    again = ensure_api_key(load_settings(MetricsSettings, {"DATA_DIR": str(data)}))
    assert again.api_key_value == s.api_key_value


def test_configured_key_is_not_written(tmp_path: Path) -> None:
    s = ensure_api_key(load_settings(ErrorsSettings, {"DATA_DIR": str(tmp_path), "API_KEY": KEY}))
    assert s.api_key_value == KEY
    assert not (tmp_path / "api_key").exists()


def test_settings_do_not_read_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_ENTRIES", "7")
    assert load_settings(LogsSettings, {}).max_entries == 100_000
    assert load_settings(LogsSettings).max_entries == 7
    assert os.environ["MAX_ENTRIES"] == "7"
