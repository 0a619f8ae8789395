"""The local server: pages from web/ with the CDN's security headers; API routes as API Gateway events."""

from __future__ import annotations

import base64
import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from api.handler import handler as api_handler
from api.handler import reset_adapters
from smartdoor_local.http_server import (
    WEB_DIR,
    ApiRoute,
    LocalRequest,
    LocalResponse,
    LocalServer,
    direct,
    smartdoor_api_routes,
)
from tests.e2e.api_world import DOOR_ID, ApiWorld, use_world_environment


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(NoRedirect)


def fetch(
    url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    assert url.startswith("http://127.0.0.1:")
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})  # noqa: S310
    try:
        with _opener.open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


class RecordingLambda:
    """Stands in for the API Lambda to show exactly what the server sends it."""

    def __init__(self, answer: dict[str, Any] | None = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.contexts: list[Any] = []
        self.answer = answer or {"statusCode": 200, "headers": {"X-From": "lambda"}, "body": '{"ok": true}'}

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.events.append(event)
        self.contexts.append(context)
        return self.answer


@pytest.fixture
def recording() -> RecordingLambda:
    return RecordingLambda()


@pytest.fixture
def server(recording: RecordingLambda) -> Iterator[LocalServer]:
    with LocalServer(api_routes=smartdoor_api_routes(recording), site_config={"doorId": DOOR_ID}) as running:
        yield running


# ---------------------------------------------------------------------------- pages


@pytest.mark.parametrize(
    ("path", "content_type", "marker"),
    [
        ("/owner/", "text/html; charset=utf-8", b"Someone is at your door"),
        ("/door/", "text/html; charset=utf-8", b"Enter your passcode"),
        ("/", "text/html; charset=utf-8", b"Smart Door"),
        ("/assets/app.css", "text/css; charset=utf-8", b".keypad"),
        ("/assets/owner.js", "text/javascript; charset=utf-8", b"/approvals/"),
        ("/assets/door.js", "text/javascript; charset=utf-8", b"/unlock"),
    ],
)
def test_pages_are_served_with_their_type_and_the_cdn_security_headers(
    server: LocalServer, path: str, content_type: str, marker: bytes
) -> None:
    status, headers, body = fetch(server.url + path)
    assert status == 200
    assert headers["Content-Type"] == content_type
    assert marker in body
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp and "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Frame-Options"] == "DENY"


def test_pages_have_no_inline_scripts_styles_or_third_party_urls() -> None:
    # The CSP allows 'self' only: inline code or a CDN would be blocked in the browser.
    for page in WEB_DIR.rglob("*.html"):
        html = page.read_text()
        assert "style=" not in html, page
        assert "<style" not in html, page
        for chunk in html.split("<script")[1:]:
            assert 'src="' in chunk.split(">")[0], f"inline script in {page}"
        assert "http://" not in html and "https://" not in html, page
    for asset in [*WEB_DIR.rglob("*.js"), *WEB_DIR.rglob("*.css")]:
        text = asset.read_text()
        assert "http://" not in text and "https://" not in text, asset


def test_config_json_points_the_pages_at_this_server(server: LocalServer) -> None:
    status, headers, body = fetch(server.url + "/config.json")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"apiUrl": server.url, "doorId": DOOR_ID}


def test_a_folder_without_its_slash_redirects_keeping_the_query(server: LocalServer) -> None:
    status, headers, _ = fetch(server.url + "/owner?a=abc")
    assert status == 301
    assert headers["Location"] == "/owner/?a=abc"


@pytest.mark.parametrize(
    "path", ["/../pyproject.toml", "/%2e%2e/pyproject.toml", "/nothing-here.html", "/a%00b"]
)
def test_nothing_outside_web_is_served(server: LocalServer, path: str) -> None:
    status, _, body = fetch(server.url + path)
    assert status == 404
    assert b"[project]" not in body


def test_pages_are_read_only(server: LocalServer) -> None:
    status, _, _ = fetch(server.url + "/owner/", method="POST", body=b"x")
    assert status == 405


# ---------------------------------------------------------------------------- API Gateway emulation


def test_api_requests_become_rest_api_proxy_events(server: LocalServer, recording: RecordingLambda) -> None:
    status, headers, body = fetch(
        server.url + "/doors/front-door/unlock?lang=en&x=1&x=2",
        method="POST",
        body=b'{"otp": "123456"}',
        headers={"Content-Type": "application/json", "Origin": "http://example.test"},
    )
    # THEN the proxy answer is the HTTP answer
    assert status == 200
    assert headers["X-From"] == "lambda"
    assert json.loads(body) == {"ok": True}
    # AND the handler got API Gateway's REST (v1) proxy event
    (event,) = recording.events
    assert event["resource"] == "/doors/{doorId}/unlock"
    assert event["path"] == "/doors/front-door/unlock"
    assert event["httpMethod"] == "POST"
    assert event["pathParameters"] == {"doorId": "front-door"}
    assert event["queryStringParameters"] == {"lang": "en", "x": "2"}
    assert event["multiValueQueryStringParameters"] == {"lang": ["en"], "x": ["1", "2"]}
    assert event["headers"]["Origin"] == "http://example.test"
    assert event["multiValueHeaders"]["Content-Type"] == ["application/json"]
    assert event["body"] == '{"otp": "123456"}'
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["stage"] == "local"
    assert context["resourcePath"] == "/doors/{doorId}/unlock"
    assert context["path"] == "/local/doors/front-door/unlock"
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["requestId"]
    assert recording.contexts[0].aws_request_id


def test_binary_bodies_arrive_base64_encoded(server: LocalServer, recording: RecordingLambda) -> None:
    fetch(server.url + "/approvals/abc", method="POST", body=b"\xff\xd8\xff")
    (event,) = recording.events
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xff\xd8\xff"
    assert event["pathParameters"] == {"approvalId": "abc"}


def test_get_without_body_or_query(server: LocalServer, recording: RecordingLambda) -> None:
    fetch(server.url + "/approvals/abc")
    (event,) = recording.events
    assert event["body"] is None
    assert event["queryStringParameters"] is None


def test_a_method_the_resource_does_not_have_is_api_gateways_403(
    server: LocalServer, recording: RecordingLambda
) -> None:
    status, _, body = fetch(server.url + "/doors/front-door/unlock")
    assert status == 403
    assert json.loads(body) == {"message": "Missing Authentication Token"}
    assert recording.events == []


def test_a_failing_lambda_is_api_gateways_502() -> None:
    def broken(event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise RuntimeError("boom")

    with LocalServer(api_routes=smartdoor_api_routes(broken)) as running:
        status, _, body = fetch(running.url + "/approvals/abc")
    assert status == 502
    assert json.loads(body) == {"message": "Internal server error"}


def test_the_local_stack_can_mount_routes() -> None:
    seen: list[LocalRequest] = []

    def controls(request: LocalRequest) -> LocalResponse:
        seen.append(request)
        return LocalResponse.json(202, {"rang": request.path})

    ring = RecordingLambda({"statusCode": 202, "body": "{}"})
    with LocalServer() as running:
        running.mount("/local/", controls)
        running.add_api_route(ApiRoute("/doors/{doorId}/ring", frozenset({"POST"}), ring))
        status, _, body = fetch(running.url + "/local/ring?door=x", method="POST", body=b"{}")
        ring_status, _, _ = fetch(running.url + "/doors/front-door/ring", method="POST", body=b"{}")
    assert (status, json.loads(body)) == (202, {"rang": "/local/ring"})
    assert seen[0].query == {"door": ["x"]}
    assert ring_status == 202
    assert ring.events[0]["pathParameters"] == {"doorId": "front-door"}


def test_stop_leaves_nothing_listening() -> None:
    server = LocalServer().start()
    port = server.port
    thread = server._running.thread if server._running else None
    assert fetch(server.url + "/config.json")[0] == 200
    server.stop()
    assert thread is not None and not thread.is_alive()
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
    server.stop()  # a second stop is harmless


# ---------------------------------------------------------------------------- the real handler behind it


def test_the_real_handler_answers_through_the_server(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the API deployment on moto and the server running the real handler
    world = ApiWorld.create()
    use_world_environment(world, monkeypatch)
    world.add_visitor("visitor-ada", "Ada Lovelace")
    code = world.issue_code("visitor-ada")
    with LocalServer(api_routes=smartdoor_api_routes(direct(api_handler))) as running:
        # WHEN a browser-like client posts the code
        status, headers, body = fetch(
            f"{running.url}/doors/{DOOR_ID}/unlock",
            method="POST",
            body=json.dumps({"otp": code}).encode(),
            headers={"Content-Type": "application/json"},
        )
        again, _, _ = fetch(
            f"{running.url}/doors/{DOOR_ID}/unlock",
            method="POST",
            body=json.dumps({"otp": code}).encode(),
            headers={"Content-Type": "application/json"},
        )
        # urllib labels a body it is given without a type as a form: not JSON, so refused unread
        form, _, _ = fetch(
            f"{running.url}/doors/{DOOR_ID}/unlock", method="POST", body=json.dumps({"otp": code}).encode()
        )
    # THEN the door opens once, as the handler decided
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    answer = json.loads(body)
    assert (answer["granted"], answer["visitor"], answer["lock"]) == (True, "Ada Lovelace", "none")
    assert again == 409  # the same code moments later: already open
    assert form == 415
    assert [e["detail-type"] for e in world.bus_events()] == ["DoorUnlocked"]
    reset_adapters()
