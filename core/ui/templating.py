"""Jinja2 for the services' pages: service templates first, then the shared base.

Autoescape is always on (every page shows data that came from the outside: exception
messages, log lines, label values), so ``<script>`` in a message renders as text.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from starlette.templating import Jinja2Templates

CORE_TEMPLATES = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"


def make_templates(service_templates: Path | None = None) -> Jinja2Templates:
    folders = [service_templates] if service_templates else []
    env = Environment(
        loader=ChoiceLoader([FileSystemLoader(str(f)) for f in [*folders, CORE_TEMPLATES]]),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return Jinja2Templates(env=env)
