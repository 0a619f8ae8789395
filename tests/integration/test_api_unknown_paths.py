"""Unknown paths: what each layer answers (docs/api.md, "Unknown paths")."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from api.handler import handler as api_handler
from api.handler import reset_adapters
from smartdoor_local.http_server import LocalRequest, LocalServer, build_proxy_event, smartdoor_api_routes
from tests.e2e.api_world import ApiWorld, use_world_environment
from tests.fakes import FakeLambdaContext


class RecordingLambda:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.events.append(event)
        return {"statusCode": 200, "body": "{}"}


def fetch(url: str, method: str = "GET") -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, method=method, data=b"{}" if method == "POST" else None)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read()


@pytest.fixture
def recording() -> RecordingLambda:
    return RecordingLambda()


@pytest.fixture
def server(recording: RecordingLambda) -> Iterator[LocalServer]:
    with LocalServer(api_routes=smartdoor_api_routes(recording)) as running:
        yield running


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/doors/front-door/open"),
        ("POST", "/doors/front-door/unlock/again"),
        ("POST", "/doors"),
        ("GET", "/approvals"),
        ("DELETE", "/approvals/abc/x"),
        # A method http.server has no do_ method for (schemathesis found it answered an HTML 501)
        ("TRACE", "/doors/front-door/unlock"),
        ("QUERY", "/approvals/abc"),
    ],
)
def test_a_path_in_the_api_no_resource_has_is_api_gateways_403(
    server: LocalServer, recording: RecordingLambda, method: str, path: str
) -> None:
    # WHEN a client calls a path under the API that has no resource
    status, content_type, body = fetch(server.url + path, method)
    # THEN the local server answers as API Gateway REST does, and the function never runs
    assert status == 403
    assert content_type == "application/json"
    assert json.loads(body) == {"message": "Missing Authentication Token"}
    assert recording.events == []


def test_paths_outside_the_api_are_still_the_pages_404(server: LocalServer) -> None:
    status, content_type, body = fetch(server.url + "/no-such-page.html")
    assert status == 404
    assert content_type == "application/json"
    assert json.loads(body) == {"error": "not found"}


def test_the_function_itself_answers_an_unknown_route_404_json(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an event for a route the function has no handler for (API Gateway never sends one)
    world = ApiWorld.create()
    use_world_environment(world, monkeypatch)
    request = LocalRequest(
        "GET", "/doors/front-door/open", "/doors/front-door/open", {}, [], b"", "203.0.113.7", "h"
    )
    event = build_proxy_event(
        request, resource="/doors/{doorId}/open", path_parameters={"doorId": "front-door"}
    )
    # WHEN it is handled
    answer = api_handler(event, FakeLambdaContext())
    # THEN the API's own 404 shape
    assert answer["statusCode"] == 404
    assert json.loads(answer["body"]) == {"error": "not found"}
    reset_adapters()
