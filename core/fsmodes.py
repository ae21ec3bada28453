"""Private files and folders for our data (SPEC §10.5: files 600, data folder 700)."""

from __future__ import annotations

import os
from pathlib import Path


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` (and parents) if missing; the leaf gets mode 700."""
    path.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode
    # A shared sticky folder such as /tmp is not ours to tighten.
    if mode & 0o077 and not mode & 0o1000:
        os.chmod(path, 0o700)


def ensure_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 600 if missing, tighten it if it exists."""
    ensure_private_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)
