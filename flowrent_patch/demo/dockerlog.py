"""Write a process's stdout/stderr as Docker's json-file log driver does, for the log store.

``flowmon demo`` has no Docker daemon to run the app in, so it plays the daemon's part:
under ``<root>/<container id>/`` it writes ``config.v2.json`` (whose ``Name``,
``/flowrent_demo``, the log store reads as the container name) and ``<id>-json.log``, one
``{"log": "<line>\\n", "stream": "stdout", "time": "<RFC3339Nano>"}`` record per line, in
Go's field order. Lines longer than 16 KiB are split into partial records (no trailing
``\\n`` but on the last) as dockerd does, so the tailer's joining is exercised too.
A new run is a new container id with the same name, like a redeploy.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

DOCKER_CHUNK = 16 * 1024


def rfc3339_nano(ns: int) -> str:
    seconds, frac = divmod(ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{frac:09d}Z"


class DockerLog:
    """One container's log directory; ``write`` is thread-safe (stdout and stderr pumps)."""

    def __init__(self, root: Path, name: str, container_id: str | None = None) -> None:
        self.id = container_id or secrets.token_hex(32)
        self.name = name
        self.folder = root / self.id
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / f"{self.id}-json.log"
        self._lock = threading.Lock()
        self._file = self.path.open("a", encoding="utf-8")
        self.lines = 0
        self.write_config(running=True)

    def write_config(self, *, running: bool, pid: int = 0) -> None:
        now = rfc3339_nano(time.time_ns())
        config = {
            "ID": self.id,
            "Name": "/" + self.name.lstrip("/"),
            "Created": now,
            "Path": "uvicorn",
            "Config": {"Image": "flowrent-demo", "Labels": {"app": "flowrent-demo"}},
            "State": {"Running": running, "Pid": pid, "StartedAt": now},
            "LogPath": str(self.path),
        }
        tmp = self.folder / "config.v2.json.tmp"
        tmp.write_text(json.dumps(config), encoding="utf-8")
        tmp.replace(self.folder / "config.v2.json")

    def write(self, stream: str, text: str) -> None:
        """One line of output (without its newline) as one or more json-file records."""
        now = rfc3339_nano(time.time_ns())
        data = text + "\n"
        chunks = [data[i : i + DOCKER_CHUNK] for i in range(0, len(data), DOCKER_CHUNK)]
        records = "".join(
            json.dumps({"log": chunk, "stream": stream, "time": now}, ensure_ascii=False) + "\n"
            for chunk in chunks
        )
        with self._lock:
            self._file.write(records)
            self._file.flush()
            self.lines += 1

    def pump(self, pipe: IO[bytes], stream: str, echo: IO[str] | None = None) -> threading.Thread:
        """Copy ``pipe`` line by line into the log (and to ``echo``) in a daemon thread."""

        def run() -> None:
            for raw in iter(pipe.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                self.write(stream, line)
                if echo is not None:
                    echo.write(line + "\n")
                    echo.flush()

        thread = threading.Thread(target=run, name=f"docker-{stream}", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        with self._lock:
            self._file.close()
        self.write_config(running=False)
