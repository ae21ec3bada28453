"""Page templates loaded on the first page view.

Jinja2 costs ~2 MB RSS per process; a collector that only ever ingests (the usual case for
the metrics collector and the log store) never loads it.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.responses import HTMLResponse
    from starlette.templating import Jinja2Templates


class LazyTemplates:
    """``make_templates(folder)`` on first use; same ``TemplateResponse`` call."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._loaded: Jinja2Templates | None = None
        self._lock = threading.Lock()

    def get(self) -> Jinja2Templates:
        with self._lock:
            if self._loaded is None:
                from core.ui.templating import make_templates

                self._loaded = make_templates(self.folder)
            return self._loaded

    def TemplateResponse(self, *args: Any, **kwargs: Any) -> HTMLResponse:
        """Starlette's name and arguments."""
        response: HTMLResponse = self.get().TemplateResponse(*args, **kwargs)
        return response
