"""A real sender: Debian's Prometheus scrapes a tiny exposition and remote-writes to us."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from compat_prom import store
from compat_prom.service import create_app
from compat_prom.settings import MetricsSettings
from core.labels import Matcher
from tests.conftest import TEST_KEY, LiveServer, free_port

EXPOSITION = b"""# HELP shop_orders_total Orders.
# TYPE shop_orders_total counter
shop_orders_total{kind="rent"} 42
shop_orders_total{kind="buy",note="quote\\"d"} 7
# HELP shop_temperature Temperature.
# TYPE shop_temperature gauge
shop_temperature -3.25
"""


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(EXPOSITION)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def target() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_prometheus_remote_write_arrives(
    make_settings: Callable[..., Any], target: int, tmp_path: Path
) -> None:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("Debian's prometheus binary is missing (apt-get install -y prometheus)")
    with LiveServer(create_app(make_settings(MetricsSettings))) as srv:
        config = tmp_path / "prometheus.yml"
        config.write_text(
            f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
scrape_configs:
  - job_name: shop
    static_configs: [{{targets: ['127.0.0.1:{target}']}}]
remote_write:
  - url: {srv.url}/api/v1/write
    authorization: {{credentials: {TEST_KEY}}}
    queue_config: {{batch_send_deadline: 1s, max_samples_per_send: 100}}
    metadata_config: {{send: true, send_interval: 1s}}
"""
        )
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{free_port()}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            ctx = srv.server.config.app.state.ctx
            deadline = time.monotonic() + 20
            got: dict[str, Any] = {}
            meta: dict[str, Any] = {}
            while time.monotonic() < deadline:
                with ctx.db.read() as conn:
                    series = store.StoreReader(conn).select([Matcher("job", "=", "shop")], 0, 2**62)
                    meta = store.metadata(conn)
                got = {s.labels.get("__name__") + str(s.labels.get("kind")): s for s in series}
                if len(got) >= 3 + 5 and "shop_orders_total" in meta:
                    break
                time.sleep(0.3)
        finally:
            proc.terminate()
            try:
                _, err = proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate()
        assert "shop_orders_totalrent" in got, err.decode()[-2000:]
        rent = got["shop_orders_totalrent"]
        assert set(rent.values) == {42.0}
        assert rent.labels["instance"] == f"127.0.0.1:{target}"
        assert set(got["shop_orders_totalbuy"].values) == {7.0}
        assert got["shop_orders_totalbuy"].labels["note"] == 'quote"d'
        assert set(got["shop_temperatureNone"].values) == {-3.25}
        assert set(got["upNone"].values) == {1.0}
        assert meta["shop_orders_total"][0] == {"type": "counter", "help": "Orders.", "unit": ""}
