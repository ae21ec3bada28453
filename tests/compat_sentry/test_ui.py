"""Pages: list filters in the URL, detail sections, HTMX resolve/reopen, escaping."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.compat_sentry.conftest import AUTH, groups, replay
from tests.compat_sentry.test_api import native, post

XSS = '<script>alert("x")</script>'


def test_list_page_filters_and_escaping(client: TestClient) -> None:
    post(client, native(message=XSS, environment="staging"))
    post(client, native(project="other", traceback='File "/app/o.py", line 1, in f'))
    page = client.get("/errors")
    assert page.status_code == 200
    assert XSS not in page.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page.text
    assert 'name="viewport" content="width=device-width' in page.text
    assert "<polyline" in page.text  # the 24 h sparkline has a point
    only_other = client.get("/errors", params={"project": "other"}).text
    assert "/app/o.py" not in only_other  # list shows type/message, not traceback
    assert only_other.count('href="/errors/') == 1
    assert (
        client.get("/errors", params={"environment": "staging"}).text.count('href="/errors/') == 1
    )
    assert (
        client.get("/errors", params={"q": "nothing-like-this"}).text.count('href="/errors/') == 0
    )
    assert 'value="other" selected' in only_other
    assert client.get("/", follow_redirects=False).headers["location"] == "/errors"


def test_pagination_links_keep_filters(client: TestClient) -> None:
    for i in range(30):
        post(client, native(traceback=f'File "/app/p.py", line {i}, in f'))
    page = client.get("/errors", params={"project": "flowrent", "sort": "count"}).text
    assert "page 1 of 2" in page
    assert "/errors?project=flowrent&amp;status=unresolved&amp;sort=count&amp;page=2" in page
    assert (
        client.get("/errors", params={"project": "flowrent", "page": 2}).text.count(
            'href="/errors/'
        )
        == 5
    )


def test_detail_page_shows_sdk_event_sections(client: TestClient) -> None:
    replay(client, "fastapi-exception")
    group = groups(client, project="fixtures")[0]
    page = client.get(f"/errors/{group['id']}").text
    assert "ZeroDivisionError" in page
    assert "division by zero" in page
    assert "/app/main.py:52" in page
    assert "border-blue-400" in page  # an in-app frame is highlighted
    assert "Request" in page and "http://testserver/orders/99/pay" in page
    assert "Breadcrumbs" in page or "Contexts" in page
    assert "sentry.python" in page
    assert "fixture-app@1.2.3" in page


def test_detail_page_message_event_with_user_and_tags(client: TestClient) -> None:
    replay(client, "message-warning")
    group = groups(client, project="fixtures")[0]
    page = client.get(f"/errors/{group['id']}").text
    assert "disk space low on /var" in page
    assert "jane@example.com" in page
    assert "Tags" in page


def test_detail_page_native_event(client: TestClient) -> None:
    error_id = post(client, native(message=XSS, extra={"k": XSS}, user_id="77")).json()["id"]
    page = client.get(f"/errors/{error_id}").text
    assert XSS not in page
    assert "validation.py" in page
    assert "native API" in page
    assert client.get("/errors/4040").status_code == 404


def test_htmx_resolve_and_reopen(client: TestClient) -> None:
    error_id = post(client, native()).json()["id"]
    hx = {"HX-Request": "true"}
    assert client.post(f"/errors/{error_id}/resolve").status_code == 400  # not from the page
    fragment = client.post(f"/errors/{error_id}/resolve", headers=hx)
    assert fragment.status_code == 200
    assert "<html" not in fragment.text and "Reopen" in fragment.text
    assert client.get(f"/api/errors/{error_id}", headers=AUTH).json()["resolved"] is True
    fragment = client.post(f"/errors/{error_id}/reopen", headers=hx)
    assert "Resolve" in fragment.text
    assert client.get(f"/api/errors/{error_id}", headers=AUTH).json()["resolved"] is False


def test_ui_login_when_configured(make_client) -> None:  # type: ignore[no-untyped-def]
    client = make_client(ui_username="admin", ui_password="pw")
    assert client.get("/errors").status_code == 401
    assert client.get("/errors", auth=("admin", "pw")).status_code == 200
