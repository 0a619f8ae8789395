"""The local server's limits (docs/local.md), over HTTP on 127.0.0.1 against a running server:
Host check, request-line and header limits, body bounds, stalled clients, bursts of
connections, and JSON errors whatever the route or method."""

from __future__ import annotations

import http.client
import json
import re
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from smartdoor_local.http_server import MAX_BODY_BYTES, LocalServer, smartdoor_api_routes

DOOR = "front-door"
# The stalled-client tests: the server drops a silent client after this; the test's own socket
# waits far longer, so only the server's timeout can end the wait.
SHORT_READ_TIMEOUT = 0.5
SHORT_REQUEST_DEADLINE = 1.5
CLIENT_PATIENCE_SECONDS = 60
# A dripping client sends one byte this often: never silent as long as SHORT_READ_TIMEOUT.
DRIP_SECONDS = 0.1


class RecordingLambda:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.events.append(event)
        return {"statusCode": 202, "headers": {"Content-Type": "application/json"}, "body": "{}"}


@pytest.fixture
def recording() -> RecordingLambda:
    return RecordingLambda()


@pytest.fixture
def server(recording: RecordingLambda) -> Iterator[LocalServer]:
    running = LocalServer(
        api_routes=smartdoor_api_routes(recording),
        read_timeout=SHORT_READ_TIMEOUT,
        request_deadline=SHORT_REQUEST_DEADLINE,
    )
    with running:
        running.allow_body(re.compile(r"/local/big"), 100_000)
        running.mount("/local/", lambda request: _echo_size(request.body))
        yield running


def _echo_size(body: bytes) -> Any:
    from smartdoor_local.http_server import LocalResponse

    return LocalResponse.json(200, {"size": len(body)})


def raw_exchange(port: int, data: bytes) -> bytes:
    """Send `data` as is; everything the server answers until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=CLIENT_PATIENCE_SECONDS) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def parse_answer(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def request(
    server: LocalServer,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=CLIENT_PATIENCE_SECONDS)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        answer = connection.getresponse()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
    finally:
        connection.close()


def assert_json_error(answer: tuple[int, dict[str, str], bytes], status: int) -> None:
    code, headers, body = answer
    assert code == status, body
    assert headers["content-type"] == "application/json"
    assert isinstance(json.loads(body)["error"], str)


# ---------------------------------------------------------------------------- Host


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "LOCALHOST", "[::1]"])
def test_the_loopback_names_with_the_servers_port_are_served(server: LocalServer, name: str) -> None:
    status, _, body = request(server, "GET", "/config.json", headers={"Host": f"{name}:{server.port}"})
    assert status == 200 and json.loads(body)["apiUrl"] == server.url


@pytest.mark.parametrize(
    "host",
    ["attacker.example:{port}", "attacker.example", "127.0.0.1", "127.0.0.1:1", "127.0.0.2:{port}"],
)
def test_any_other_host_is_421_and_reaches_no_route(
    server: LocalServer, recording: RecordingLambda, host: str
) -> None:
    # GIVEN a page whose DNS name was rebound to 127.0.0.1 (its Host is its own name)
    headers = {"Host": host.format(port=server.port)}
    # WHEN it reads the local API or calls the API THEN it gets 421 and nothing runs
    assert_json_error(request(server, "GET", "/local/outbox", headers=headers), 421)
    assert_json_error(request(server, "POST", f"/doors/{DOOR}/ring", b"{}", headers), 421)
    assert_json_error(request(server, "GET", "/local/health", headers=headers), 421)
    assert recording.events == []


def test_a_request_without_host_is_421(server: LocalServer) -> None:
    raw = raw_exchange(server.port, b"GET /config.json HTTP/1.0\r\n\r\n")
    assert_json_error(parse_answer(raw), 421)


def test_an_absolute_request_target_is_checked_by_its_host(server: LocalServer) -> None:
    raw = raw_exchange(
        server.port,
        f"GET http://attacker.example/config.json HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode(),
    )
    assert_json_error(parse_answer(raw), 421)


# ---------------------------------------------------------------------------- request line and headers


@pytest.mark.parametrize("length", [9 * 1024, 70 * 1024])
def test_a_long_request_line_is_414_json(server: LocalServer, length: int) -> None:
    target = "/" + "a" * length
    raw = raw_exchange(server.port, f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    assert_json_error(parse_answer(raw), 414)


def test_large_headers_are_431_json(server: LocalServer) -> None:
    answer = request(server, "GET", "/config.json", headers={"X-Padding": "a" * 20_000})
    assert_json_error(answer, 431)


def test_too_many_headers_are_431_json(server: LocalServer) -> None:
    headers = "".join(f"X-H{i}: 1\r\n" for i in range(120))
    raw = raw_exchange(
        server.port, f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n{headers}\r\n".encode()
    )
    assert_json_error(parse_answer(raw), 431)


def test_a_malformed_request_line_is_400_json(server: LocalServer) -> None:
    raw = raw_exchange(server.port, b"NOT A REQUEST LINE AT ALL\r\n\r\n")
    assert_json_error(parse_answer(raw), 400)


# ---------------------------------------------------------------------------- bodies


@pytest.mark.parametrize("path", [f"/doors/{DOOR}/ring", f"/doors/{DOOR}/snapshots", "/approvals/a1"])
def test_an_api_body_over_4096_bytes_is_413_before_any_lambda(
    server: LocalServer, recording: RecordingLambda, path: str
) -> None:
    assert_json_error(request(server, "POST", path, b"{" + b" " * 1_000_000 + b"}"), 413)
    assert_json_error(request(server, "POST", path, b" " * (MAX_BODY_BYTES + 1)), 413)
    assert recording.events == []


def test_a_body_of_4096_bytes_reaches_the_lambda(server: LocalServer, recording: RecordingLambda) -> None:
    status, _, _ = request(server, "POST", f"/doors/{DOOR}/ring", b" " * MAX_BODY_BYTES)
    assert status == 202
    assert len(recording.events[0]["body"]) == MAX_BODY_BYTES


def test_a_route_allowed_larger_bodies_takes_them_and_no_more(server: LocalServer) -> None:
    status, _, body = request(server, "POST", "/local/big", b"x" * 100_000)
    assert status == 200 and json.loads(body) == {"size": 100_000}
    assert_json_error(request(server, "POST", "/local/big", b"x" * 100_001), 413)
    assert_json_error(request(server, "POST", "/local/other", b"x" * (MAX_BODY_BYTES + 1)), 413)


def test_a_chunked_body_is_411_json(server: LocalServer, recording: RecordingLambda) -> None:
    raw = raw_exchange(
        server.port,
        f"POST /doors/{DOOR}/ring HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n".encode(),
    )
    assert_json_error(parse_answer(raw), 411)
    assert recording.events == []


# ---------------------------------------------------------------------------- stalled clients


@pytest.mark.parametrize(
    "partial",
    [
        b"GET /config.json HTT",
        b"GET /config.json HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow",
        b'POST /doors/front-door/ring HTTP/1.1\r\nHost: {host}\r\nContent-Length: 100\r\n\r\n{"a":',
    ],
)
def test_a_client_that_stops_mid_request_is_dropped(
    server: LocalServer, recording: RecordingLambda, partial: bytes
) -> None:
    # GIVEN a client that sends part of a request and then nothing (its socket waits a minute)
    data = partial.replace(b"{host}", f"127.0.0.1:{server.port}".encode())
    # WHEN it waits for an answer THEN the server closes the connection, and nothing ran
    assert raw_exchange(server.port, data) == b""
    assert recording.events == []


def drip_until_dropped(port: int, head: bytes, filler: bytes) -> int:
    """Send `head`, then one byte of `filler` at a time, until the server closes; bytes sent."""
    pause = threading.Event()
    with socket.create_connection(("127.0.0.1", port), timeout=CLIENT_PATIENCE_SECONDS) as sock:
        sock.sendall(head)
        sent = len(head)
        try:
            for _ in range(int(CLIENT_PATIENCE_SECONDS / DRIP_SECONDS)):
                sock.sendall(filler)
                sent += 1
                pause.wait(DRIP_SECONDS)  # pacing, not an assertion
            return -1  # never dropped
        except (BrokenPipeError, ConnectionResetError):
            return sent


@pytest.mark.parametrize("part", ["headers", "body"])
def test_a_client_that_drips_its_request_is_dropped(
    server: LocalServer, recording: RecordingLambda, part: str
) -> None:
    # GIVEN a client that is never silent but sends its request one byte at a time
    host = f"127.0.0.1:{server.port}"
    if part == "headers":
        head, filler = f"GET /config.json HTTP/1.1\r\nHost: {host}\r\nX-Drip: ".encode(), b"a"
    else:
        head = f"POST /doors/{DOOR}/ring HTTP/1.1\r\nHost: {host}\r\nContent-Length: 4096\r\n\r\n".encode()
        filler = b" "
    # THEN the server closes the connection before the request is complete, and nothing ran
    assert drip_until_dropped(server.port, head, filler) != -1
    assert recording.events == []


# ---------------------------------------------------------------------------- many at once


def test_thirty_simultaneous_connections_are_all_answered(server: LocalServer) -> None:
    # GIVEN 30 clients that connect at the same moment
    count = 30
    barrier = threading.Barrier(count)
    answers: list[int] = []
    errors: list[BaseException] = []

    def client() -> None:
        try:
            barrier.wait(timeout=CLIENT_PATIENCE_SECONDS)
            answers.append(request(server, "GET", "/config.json")[0])
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=client) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # THEN every one of them is answered: none is reset or refused
    assert errors == []
    assert answers == [200] * count


# ---------------------------------------------------------------------------- JSON errors


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("TRACE", "/", 405),
        ("TRACE", "/owner/", 405),
        ("TRACE", "/local/health", 405),
        ("PUT", "/config.json", 405),
        ("GET", "/no-such-page", 404),
        ("PROPFIND", "/", 405),
    ],
)
def test_errors_are_json_whatever_the_method(
    server: LocalServer, method: str, path: str, status: int
) -> None:
    assert_json_error(request(server, method, path), status)


def test_an_unknown_method_on_an_api_resource_is_api_gateways_json_403(server: LocalServer) -> None:
    status, headers, body = request(server, "TRACE", f"/doors/{DOOR}/ring")
    assert status == 403 and headers["content-type"] == "application/json"
    assert json.loads(body) == {"message": "Missing Authentication Token"}


def test_a_client_that_expects_100_continue_gets_one_then_the_answer(server: LocalServer) -> None:
    head = (
        f"POST /local/big HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Length: 5000\r\n"
        "Expect: 100-continue\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=CLIENT_PATIENCE_SECONDS) as sock:
        sock.sendall(head)
        interim = sock.recv(65536)
        sock.sendall(b"x" * 5000)
        rest = b"".join(iter(lambda: sock.recv(65536), b""))
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    status, _, body = parse_answer(rest)
    assert status == 200 and json.loads(body) == {"size": 5000}
