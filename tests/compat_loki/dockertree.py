"""A fake Docker ``/var/lib/docker/containers`` tree written with real files."""

from __future__ import annotations

import json
import os
from pathlib import Path

from compat_loki.docker import format_time, go_json_string

T0 = 1_737_646_200_000_000_000  # 2025-01-23T15:30:00Z


class Container:
    def __init__(self, root: Path, cid: str, name: str) -> None:
        self.cid = cid
        self.folder = root / cid
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "config.v2.json").write_text(json.dumps({"ID": cid, "Name": "/" + name}))
        self.log = self.folder / f"{cid}-json.log"
        self.log.touch()
        self.ts = T0

    def record(self, text: str, stream: str = "stdout", *, newline: bool = True) -> str:
        self.ts += 1_000_000
        log = text + ("\n" if newline else "")
        return (
            f'{{"log":{go_json_string(log)},"stream":"{stream}","time":"{format_time(self.ts)}"}}\n'
        )

    def write(self, *lines: str, stream: str = "stdout") -> None:
        with self.log.open("a", encoding="utf-8") as fh:
            for line in lines:
                fh.write(self.record(line, stream))

    def write_raw(self, data: str) -> None:
        with self.log.open("a", encoding="utf-8") as fh:
            fh.write(data)

    def rotate(self) -> None:
        """Docker's rotation: .1 → .2, current → .1, new empty current file."""
        one = self.log.with_name(self.log.name + ".1")
        if one.exists():
            os.rename(one, self.log.with_name(self.log.name + ".2"))
        os.rename(self.log, one)
        self.log.touch()

    def truncate(self) -> None:
        with self.log.open("r+") as fh:
            fh.truncate(0)
