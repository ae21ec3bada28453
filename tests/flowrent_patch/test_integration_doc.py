"""INTEGRATION.md stays true: well-formed diffs, names that exist, every setting listed."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import flowrent_patch
import flowrent_patch.business
from flowrent_patch.settings import MonitoringSettings

DOC = Path(flowrent_patch.__file__).with_name("INTEGRATION.md").read_text()
BLOCKS = re.findall(r"```diff\n(.*?)```", DOC, re.S)
HUNK = re.compile(r"^@@ -(\d+),(\d+) \+(\d+),(\d+) @@")


def test_every_diff_is_a_well_formed_unified_diff() -> None:
    assert len(BLOCKS) >= 7
    for block in BLOCKS:
        lines = block.rstrip("\n").split("\n")
        assert lines[0].startswith("--- ") and lines[1].startswith("+++ "), lines[:2]
        offset = 0
        i = 2
        while i < len(lines):
            if lines[i].startswith("--- "):  # the next file in the same block
                assert lines[i + 1].startswith("+++ ")
                offset, i = 0, i + 2
                continue
            m = HUNK.match(lines[i])
            assert m, f"expected a hunk header, got {lines[i]!r}"
            old_start, old_len, new_start, new_len = map(int, m.groups())
            if old_len:
                assert new_start == old_start + offset, lines[i]
            body = []
            i += 1
            while i < len(lines) and not lines[i].startswith(("@@", "--- ")):
                body.append(lines[i])
                i += 1
            assert all(line[:1] in (" ", "+", "-", "") for line in body)
            old = sum(1 for line in body if not line.startswith("+"))
            new = sum(1 for line in body if not line.startswith("-"))
            assert (old, new) == (old_len, new_len), lines
            offset += new - old


def test_names_the_diffs_import_exist() -> None:
    added = "\n".join(
        line[1:] for block in BLOCKS for line in block.split("\n") if line.startswith("+")
    )
    imports = re.findall(
        r"^from (flowrent_patch[\w.]*) import (\([^)]*\)|[^\n]+)$", added, re.MULTILINE
    )
    assert len(imports) >= 6
    for module_name, names in imports:
        module = importlib.import_module(module_name)
        for name in re.findall(r"\w+", names.split("#")[0]):
            assert hasattr(module, name), f"{module_name}.{name}"
    for helper in re.findall(r"business\.(\w+)\(", added):
        assert hasattr(flowrent_patch.business, helper), helper


def test_every_setting_is_documented() -> None:
    for name in MonitoringSettings.model_fields:
        assert f"`{name.upper()}`" in DOC, name
