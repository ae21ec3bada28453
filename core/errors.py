"""The one exception tree every flowmon layer raises; each wire protocol renders it.

Pure: no HTTP imports, so parsers and engines can raise these too.

    AppError                    status 500 unless a subclass says otherwise
    ├── BadRequest              400  malformed body, bad parameter, unknown encoding
    │   └── QueryError          400  a query that does not parse (PromQL / LogQL)
    ├── Unauthorized            401  missing or wrong credentials
    ├── Forbidden               403  credentials valid, but not for this resource
    ├── NotFound                404
    ├── PayloadTooLarge         413  body or decompressed body over its cap
    ├── Unprocessable           422  well-formed but cannot be executed
    ├── RateLimited             429  carries retry_after seconds
    └── Unavailable             503  overloaded, timed out, shutting down
"""

from __future__ import annotations


class AppError(Exception):
    """Base of every error we turn into a 4xx/5xx answer on purpose."""

    status = 500
    kind = "internal"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = dict(headers or {})


class BadRequest(AppError):
    status = 400
    kind = "bad_data"


class QueryError(BadRequest):
    kind = "bad_data"


class Unauthorized(AppError):
    status = 401
    kind = "unauthorized"


class Forbidden(AppError):
    status = 403
    kind = "forbidden"


class NotFound(AppError):
    status = 404
    kind = "not_found"


class PayloadTooLarge(AppError):
    status = 413
    kind = "too_large"


class Unprocessable(AppError):
    status = 422
    kind = "execution"


class RateLimited(AppError):
    status = 429
    kind = "rate_limited"

    def __init__(
        self, message: str, *, retry_after: int, headers: dict[str, str] | None = None
    ) -> None:
        merged = {"Retry-After": str(retry_after), **(headers or {})}
        super().__init__(message, headers=merged)
        self.retry_after = retry_after


class Unavailable(AppError):
    status = 503
    kind = "unavailable"
