"""FastAPI dependencies shared by the services' routers (``Annotated`` aliases).

They are ``async def`` although none awaits: FastAPI runs a plain ``def`` dependency in its
thread pool, two thread hops per request for a header check (~10 % of a small remote-write).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from core.auth import basic_auth_checker, check_api_key
from core.context import ServiceContext
from core.errors import Unauthorized
from core.http import read_body


async def context(request: Request) -> ServiceContext:
    return ServiceContext.of(request)


Ctx = Annotated[ServiceContext, Depends(context)]


async def api_key(request: Request) -> None:
    """X-API-Key, bearer token or basic-auth password must equal the service's key."""
    check_api_key(ServiceContext.of(request).settings.api_key_value, request.headers)


ApiKey = Depends(api_key)


async def ui_login(request: Request) -> None:
    """Basic auth for web pages when UI_USERNAME and UI_PASSWORD are both set."""
    settings = ServiceContext.of(request).settings
    if not settings.ui_username or settings.ui_password is None:
        return
    check = basic_auth_checker(settings.ui_username, settings.ui_password.get_secret_value())
    if not check(request.headers):
        raise Unauthorized("login required", headers={"WWW-Authenticate": 'Basic realm="flowmon"'})


UiLogin = Depends(ui_login)


async def capped_body(request: Request) -> bytes:
    """The decoded request body within the service's MAX_BODY_BYTES / decompressed caps."""
    settings = ServiceContext.of(request).settings
    return await read_body(
        request,
        max_bytes=settings.max_body_bytes,
        max_decoded=settings.max_decompressed_bytes,
    )


Body = Annotated[bytes, Depends(capped_body)]
