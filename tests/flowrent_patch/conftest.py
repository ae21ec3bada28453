from __future__ import annotations

from collections.abc import Iterator

import pytest
import sentry_sdk

from flowrent_patch import error_client, metrics_client


@pytest.fixture(autouse=True)
def _no_global_clients() -> Iterator[None]:
    """Each test starts and ends with no SDK client and no default stack clients."""
    yield
    client = sentry_sdk.get_client()
    if client.is_active():
        client.close(timeout=2)
    sentry_sdk.init(dsn=None)
    metrics_client.set_default(None)
    error_client._default = None
