"""WSGI apps on loopback with werkzeug's server: the local server and moto's HTTP front end.

    running = serve_in_thread(lambda port: app, name="smartdoor-local-http")
    running.port; running.stop()

werkzeug's threaded server (which moto[server] already brings) reads requests; this module adds
the limits a server reachable from a browser's machine needs (docs/local.md, "The local
server's limits"):

- a request line over MAX_REQUEST_LINE_BYTES is 414, headers over MAX_HEADER_BYTES (or a header
  line over 64 KiB, or over 100 headers) are 431, a malformed request line is 400: all JSON
  `{"error": ...}`, never http.server's HTML page;
- a client that sends nothing for `read_timeout` seconds in the middle of a request is dropped,
  and so is one that has not sent its whole request within `request_deadline` seconds (a
  client that drips a byte at a time); the deadline covers the request line and headers, and
  the body where the app says when it has read it (`REQUEST_READ_KEY`);
- one thread per connection and a listen backlog of 128, so a burst of connections queues
  instead of being reset;
- `loopback_only`: a `Host` other than 127.0.0.1, localhost or [::1] with the server's own port
  is 421, so a web page that rebinds its DNS name to 127.0.0.1 reads nothing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from werkzeug.serving import BaseWSGIServer, ThreadedWSGIServer, WSGIRequestHandler

MAX_REQUEST_LINE_BYTES = 8 * 1024
MAX_HEADER_BYTES = 16 * 1024
# Seconds a client may stay silent in the middle of a request (within the 30 s of the contract).
READ_TIMEOUT_SECONDS = 10.0
# Seconds for a whole request to arrive (a client dripping bytes never goes silent).
REQUEST_DEADLINE_SECONDS = 30.0
LISTEN_BACKLOG = 128
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
# After an error answered before the request was read: what is left of it is read (at most this
# much, this long) so that closing does not reset the connection before the client reads the answer.
_DRAIN_BYTES = 1024 * 1024
_DRAIN_SECONDS = 1.0
# The request's headers as sent (names' case, repeats, underscores), for API Gateway's events.
RAW_HEADERS_KEY = "smartdoor.raw_headers"
# A callable in the environ: the app calls it once it has read the body (the deadline stops).
REQUEST_READ_KEY = "smartdoor.request_read"

_log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def json_error(status: int, message: str) -> bytes:
    return json.dumps({"error": message}).encode()


def status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def answer_json(
    start_response: StartResponse, status: int, message: str, headers: Iterable[tuple[str, str]] = ()
) -> list[bytes]:
    body = json_error(status, message)
    start_response(
        status_line(status),
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            *headers,
        ],
    )
    return [body]


# ---------------------------------------------------------------------------- the request handler


class LimitedRequestHandler(WSGIRequestHandler):
    """werkzeug's handler with request-line and header limits, answered in JSON."""

    server_version = "SmartDoorLocal"  # no versions of werkzeug and Python in every answer
    sys_version = ""
    request_deadline = REQUEST_DEADLINE_SECONDS
    _deadline: threading.Timer | None = None

    def version_string(self) -> str:
        return self.server_version

    def handle_expect_100(self) -> bool:
        return True  # werkzeug answers `Expect: 100-continue` itself: one 100 Continue, not two

    def handle_one_request(self) -> None:
        self._deadline = threading.Timer(self.request_deadline, self._cut_off)
        self._deadline.daemon = True
        self._deadline.start()
        try:
            super().handle_one_request()
        finally:
            self.request_read()

    def request_read(self) -> None:
        """The whole request has arrived: no deadline for what the app does with it."""
        if self._deadline is not None:
            self._deadline.cancel()

    def _cut_off(self) -> None:
        with contextlib.suppress(OSError):  # already closed
            self.connection.shutdown(socket.SHUT_RDWR)

    def parse_request(self) -> bool:
        if len(self.raw_requestline) > MAX_REQUEST_LINE_BYTES:
            self.requestline, self.request_version, self.command = "", "", ""
            self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG)
            return False
        if not super().parse_request():
            return False
        if sum(len(name) + len(value) + 4 for name, value in self.headers.items()) > MAX_HEADER_BYTES:
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Request headers too large")
            return False
        return True

    def make_environ(self) -> Any:
        environ = super().make_environ()
        environ[RAW_HEADERS_KEY] = list(self.headers.items())
        environ[REQUEST_READ_KEY] = self.request_read
        return environ

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (400, 414, 431) as JSON; then the connection closes."""
        self.close_connection = True
        if getattr(self, "request_version", "") == "HTTP/0.9":  # unparsable line: answer with a status line
            self.request_version = "HTTP/1.0"
        body = json_error(code, message or HTTPStatus(code).phrase)
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if getattr(self, "command", "") != "HEAD":
            self.wfile.write(body)
        self._discard_unread()

    def _discard_unread(self) -> None:
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(_DRAIN_SECONDS)
            left = _DRAIN_BYTES
            while left > 0 and (data := self.connection.recv(65536)):
                left -= len(data)
        except OSError:
            pass

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # Paths only: query strings carry approval ids, which are bearer secrets.
        path = getattr(self, "path", "").split("?", 1)[0]
        _log.debug("%s %s %s", getattr(self, "command", ""), path[:200], code)

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("local server: " + format, *args)


def handler_with_timeouts(
    base: type[LimitedRequestHandler], read_timeout: float, request_deadline: float
) -> type[LimitedRequestHandler]:
    """`base` whose connections time out after `read_timeout` seconds without a byte, and whose
    requests must have arrived within `request_deadline` seconds."""
    attributes = {
        "timeout": read_timeout,
        "request_deadline": request_deadline,
        "protocol_version": "HTTP/1.1",
    }
    return type(base.__name__, (base,), attributes)


# ---------------------------------------------------------------------------- Host check


def loopback_hosts(port: int) -> frozenset[str]:
    return frozenset(f"{name}:{port}" for name in LOOPBACK_NAMES)


def loopback_only(app: WsgiApp, port: int) -> WsgiApp:
    """421 for a request whose Host is not this server's loopback address and port."""
    allowed = loopback_hosts(port)

    def guarded(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if str(environ.get("HTTP_HOST", "")).lower() not in allowed:
            return answer_json(
                start_response,
                HTTPStatus.MISDIRECTED_REQUEST,
                f"this server answers only to 127.0.0.1:{port}, localhost:{port} or [::1]:{port}",
            )
        return app(environ, start_response)

    return guarded


def refuse_browsers(app: WsgiApp) -> WsgiApp:
    """403 for a request a web page sent (browsers add `Origin` or `Sec-Fetch-Site`; SDKs don't):
    a page on any site could otherwise post to 127.0.0.1 without reading the answer."""

    def guarded(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if "HTTP_ORIGIN" in environ or "HTTP_SEC_FETCH_SITE" in environ:
            return answer_json(start_response, HTTPStatus.FORBIDDEN, "this endpoint is not for web pages")
        return app(environ, start_response)

    return guarded


# ---------------------------------------------------------------------------- serving in a thread


@dataclass
class RunningServer:
    httpd: BaseWSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def stop(self) -> None:
        self.httpd.shutdown()  # stops serve_forever and waits for it
        self.httpd.server_close()  # the listening socket: nothing may stay bound after stop
        self.thread.join(timeout=10)


def listening_socket(host: str, port: int) -> socket.socket:
    """Bound and listening, or OSError (werkzeug's own bind would exit the process instead)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


def serve_in_thread(
    make_app: Callable[[int], WsgiApp],
    *,
    name: str,
    host: str = "127.0.0.1",
    port: int = 0,
    handler: type[LimitedRequestHandler] = LimitedRequestHandler,
    read_timeout: float = READ_TIMEOUT_SECONDS,
    request_deadline: float = REQUEST_DEADLINE_SECONDS,
) -> RunningServer:
    """Bind `host:port`, then serve `make_app(bound_port)` in a daemon thread."""
    sock = listening_socket(host, port)
    try:
        bound = int(sock.getsockname()[1])
        httpd = ThreadedWSGIServer(
            host,
            bound,
            make_app(bound),
            handler_with_timeouts(handler, read_timeout, request_deadline),
            fd=sock.fileno(),
        )
    finally:
        sock.close()  # werkzeug holds its own duplicate of the socket
    thread = threading.Thread(target=httpd.serve_forever, name=name, daemon=True)
    thread.start()
    return RunningServer(httpd, thread)
