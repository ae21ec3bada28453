"""Settings of every service, read from the environment with SPEC §4.7/§5.7/§6.8 names.

Each service has a subclass of ``CommonSettings``. The same variable names serve every
service (``API_KEY``, ``DATABASE_URL``, ...), and a service prefix (``ERRORS_``, ``LOGS_``,
``METRICS_``) overrides the shared name for that service alone, so when the three run in one
process (``flowmon all``) each can still get its own value. Ports are only read with the
prefix (``ERRORS_PORT``), since one shared ``PORT`` cannot serve three listeners.

Nothing is read at import: ``load_settings`` takes the environment as an argument (default
``os.environ``), so each test builds its own settings, and the environment is never
changed after it was read (the Starlette rule).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

MIN_API_KEY_LENGTH = 32


class SettingsError(Exception):
    """A setting that cannot be used; the message is one line meant for the operator."""


class CommonSettings(BaseSettings):
    """Settings every service has. Subclasses set ``service`` and ``env_prefix``."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    service: ClassVar[str] = "common"
    env_prefix: ClassVar[str] = ""
    default_port: ClassVar[int] = 8000
    prefixed_only: ClassVar[frozenset[str]] = frozenset({"port"})

    data_dir: Path = Field(Path("./data"), description="Folder for the SQLite files and api_key.")
    host: str = Field("127.0.0.1", description="Address to listen on (containers use 0.0.0.0).")
    port: int = Field(0, description="Port to listen on; read only with the service prefix.")
    database_url: str | None = Field(
        None, description="SQLite URL; default sqlite:///DATA_DIR/<service>.db."
    )
    api_key: SecretStr | None = Field(
        None,
        description="Shared secret (>= 32 chars); generated into DATA_DIR/api_key when unset.",
    )
    ui_username: str | None = Field(None, description="Optional basic-auth user for web pages.")
    ui_password: SecretStr | None = Field(
        None, description="Optional basic-auth password for web pages."
    )
    max_body_bytes: int = Field(10_000_000, description="Largest request body accepted, as sent.")
    max_decompressed_bytes: int = Field(
        50_000_000, description="Largest request body accepted after Content-Encoding decoding."
    )
    query_timeout: float = Field(30.0, description="Seconds a single database read may run.")
    writer_batch_max: int = Field(
        1000, description="Most write jobs the writer commits in one transaction."
    )
    log_level: str = Field("info", description="Log level of the service's own logs.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment is merged by load_settings (shared names + prefixed overrides);
        # pydantic must not read os.environ on its own behind our back.
        return (init_settings,)

    @field_validator("api_key")
    @classmethod
    def _key_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_API_KEY_LENGTH:
            raise ValueError(
                f"must be at least {MIN_API_KEY_LENGTH} characters "
                f"(got {len(value.get_secret_value())}); generate one with "
                "`openssl rand -base64 32`"
            )
        return value

    @property
    def database_path(self) -> Path:
        """The SQLite file this service uses."""
        url = self.database_url or f"sqlite:///{self.data_dir / (self.service + '.db')}"
        return sqlite_path(url)

    @property
    def api_key_value(self) -> str:
        if self.api_key is None:
            raise SettingsError("API key not resolved yet; call core.keys.ensure_api_key")
        return self.api_key.get_secret_value()


S = TypeVar("S", bound=CommonSettings)


def sqlite_path(url: str) -> Path:
    """``sqlite:///./data/x.db`` → ``./data/x.db``; ``sqlite:////abs`` → ``/abs``."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        raise SettingsError(f"DATABASE_URL must be a sqlite:/// URL, got {url!r}")
    rest = url[len(prefix) :]
    if not rest or rest == ":memory:":
        raise SettingsError("DATABASE_URL must name a file: flowmon needs durable storage")
    return Path(rest)


def env_values(
    cls: type[CommonSettings], environ: Mapping[str, str], *, shared: bool = True
) -> dict[str, Any]:
    """Pick this service's values out of an environment: prefixed names win."""
    values: dict[str, Any] = {}
    upper = {k.upper(): v for k, v in environ.items()}
    for name in cls.model_fields:
        env_name = name.upper()
        if shared and name not in cls.prefixed_only and env_name in upper:
            values[name] = upper[env_name]
        prefixed = cls.env_prefix + env_name
        if cls.env_prefix and prefixed in upper:
            values[name] = upper[prefixed]
    return values


def load_settings(
    cls: type[S],
    environ: Mapping[str, str] | None = None,
    *,
    multi: bool = False,
    **overrides: Any,
) -> S:
    """Build one service's settings from an environment and explicit overrides.

    ``multi`` is true when several services share the process: an unprefixed
    DATABASE_URL would then point three services at one file, so it is refused.
    """
    env = dict(os.environ if environ is None else environ)
    values = env_values(cls, env)
    if multi and "DATABASE_URL" in {k.upper() for k in env}:
        own = cls.env_prefix + "DATABASE_URL"
        if own not in {k.upper() for k in env}:
            raise SettingsError(
                f"DATABASE_URL is per service when running all three; set {own} instead"
            )
    values.update({k: v for k, v in overrides.items() if v is not None})
    values.setdefault("port", cls.default_port)
    try:
        return cls(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]).upper() if first["loc"] else "settings"
        if cls.env_prefix + field in {k.upper() for k in env}:
            field = cls.env_prefix + field
        message = str(first["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"{field}: {message}") from None
