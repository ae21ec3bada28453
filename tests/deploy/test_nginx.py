"""deploy/nginx/monitoring.conf (SPEC §8.6): TLS + basic auth in front of the three services.

The structural checks always run; ``nginx -t`` runs when nginx is installed (Debian
package nginx-core), with a throw-away certificate and password file in tmp_path.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.stack import DEPLOY

CONF = DEPLOY / "nginx/monitoring.conf"


def locations(text: str) -> dict[str, str]:
    """location prefix → its block's text (blocks here hold no nested braces)."""
    return dict(re.findall(r"location\s+(\S+)\s*\{([^}]*)\}", text))


def test_spec_locations_proxy_to_loopback_ports() -> None:
    blocks = locations(CONF.read_text())
    for prefix, port in {"/errors/": 5010, "/logs/": 5011, "/metrics/": 5012}.items():
        assert f"proxy_pass http://127.0.0.1:{port}/;" in blocks[prefix], prefix


def test_everything_sits_behind_tls_and_basic_auth() -> None:
    text = CONF.read_text()
    server = text.split("server {")[1]  # the 443 server, first in the file
    assert "listen 443 ssl;" in server
    assert 'auth_basic "Monitoring";' in server
    assert "auth_basic_user_file /etc/nginx/.htpasswd;" in server
    # No location turns auth off.
    assert "auth_basic off" not in text
    # Port 80 only redirects.
    assert "return 301 https://$host$request_uri;" in text


def test_nginx_accepts_the_file(tmp_path: Path) -> None:
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    openssl = shutil.which("openssl")
    if nginx is None or openssl is None:
        pytest.skip("nginx (Debian nginx-core) or openssl not installed; structure checked above")
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
         "/CN=monitoring.test", "-keyout", str(tmp_path / "key.pem"),
         "-out", str(tmp_path / "cert.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    (tmp_path / "htpasswd").write_text("admin:$apr1$x$y\n")
    site = (
        CONF.read_text()
        .replace("/etc/letsencrypt/live/.../fullchain.pem", str(tmp_path / "cert.pem"))
        .replace("/etc/letsencrypt/live/.../privkey.pem", str(tmp_path / "key.pem"))
        .replace("/etc/nginx/.htpasswd", str(tmp_path / "htpasswd"))
    )
    (tmp_path / "site.conf").write_text(site)
    main = tmp_path / "nginx.conf"
    main.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
        "events {}\n"
        f"http {{\n  access_log off;\n  client_body_temp_path {tmp_path};\n"
        f"  include {tmp_path}/site.conf;\n}}\n"
    )
    proc = subprocess.run(
        [nginx, "-t", "-c", str(main), "-p", str(tmp_path)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
