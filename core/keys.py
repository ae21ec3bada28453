"""The API key: configured, or generated once and kept in DATA_DIR/api_key (mode 600)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import TypeVar

from pydantic import SecretStr

from core.fsmodes import ensure_private_dir
from core.settings import MIN_API_KEY_LENGTH, CommonSettings, SettingsError

S = TypeVar("S", bound=CommonSettings)

KEY_FILE = "api_key"


def ensure_api_key(settings: S) -> S:
    """Return settings whose ``api_key`` is set, generating and storing one if needed."""
    if settings.api_key is not None:
        return settings
    key = read_or_create_key(settings.data_dir / KEY_FILE)
    return settings.model_copy(update={"api_key": SecretStr(key)})


def read_or_create_key(path: Path) -> str:
    ensure_private_dir(path.parent)
    try:
        key = path.read_text().strip()
    except FileNotFoundError:
        key = secrets.token_urlsafe(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another service in this process won the race
            return read_or_create_key(path)
        with os.fdopen(fd, "w") as fh:
            fh.write(key + "\n")
        return key
    if len(key) < MIN_API_KEY_LENGTH:
        raise SettingsError(f"{path} holds a key shorter than {MIN_API_KEY_LENGTH} characters")
    return key
