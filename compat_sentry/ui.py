"""Web pages of the error tracker (SPEC ET-040..044)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["ui"])
