"""google-re2, imported when a regex is first compiled, not when a module is imported.

Why: the module and its C++ runtime (libstdc++) cost ~2.4 MB RSS, and a service that only
ingests never compiles a regex. Modules write ``from core.lazyre2 import re2`` and use
``re2.compile``, ``re2.Options`` and ``re2.error`` as usual; ``except re2.error`` is only
evaluated once an exception is on its way, so it imports nothing either.
"""

from __future__ import annotations

import importlib
from typing import Any


class _LazyModule:
    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)


re2: Any = _LazyModule("re2")
