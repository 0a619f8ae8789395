"""A local web server: the pages from web/ and the real API handler behind API Gateway-shaped events.

    server = LocalServer(api_routes=smartdoor_api_routes(direct(api_handler)))
    with server:                              # binds 127.0.0.1 on a free port
        print(server.url)                     # http://127.0.0.1:<port>
        # /owner/?a=<id>, /door/?door=<id>, /config.json -> {"apiUrl": server.url}

Requests whose path matches an API route become REST API (v1) Lambda proxy events for the
handler, and its proxy response becomes the HTTP answer, as API Gateway would do. Everything
else is a static file from web/, with the security headers the CDN sets. Extra behaviour for
the local stack (`/local/...` controls, fake photo links, other Lambda routes) plugs in with
`mount(prefix, hook)` and `add_api_route(route)`.

Serving: werkzeug's threaded server with the limits of `smartdoor_local.serving` (Host must be
the loopback address and port, else 421; 414/431 for long request lines and headers; a read
timeout and a whole-request deadline). Every body is read only up to its bound, MAX_BODY_BYTES
(413 beyond) unless `allow_body(pattern, max_bytes)` allows more on a path; every error the
server answers itself is JSON `{"error": ...}`.

Readiness: a server made with `starting=True` listens at once (so a taken port fails first) but
answers every request with 503, `Retry-After` and `{"error": "starting"}` until `mark_ready()`;
after `mark_stopping()` it answers `{"error": "stopping"}` the same way. `GET /local/health` is
the one path that always answers: 200 `{"status": "ready"}` or 503 with the state.
"""

from __future__ import annotations

import base64
import json
import logging
import mimetypes
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from smartdoor_local import REPO_ROOT
from smartdoor_local.lambda_runtime import LambdaContext, LambdaRuntime
from smartdoor_local.serving import (
    RAW_HEADERS_KEY,
    READ_TIMEOUT_SECONDS,
    REQUEST_DEADLINE_SECONDS,
    REQUEST_READ_KEY,
    RunningServer,
    StartResponse,
    loopback_only,
    serve_in_thread,
    status_line,
)

WEB_DIR = REPO_ROOT / "web"
DEFAULT_STAGE = "local"
# docs/api.md: request bodies over 4096 bytes are refused with 413 before they are parsed. Every
# route has this bound unless the local stack allows a larger body on it (`allow_body`).
MAX_BODY_BYTES = 4096
API_FUNCTION_NAME = "api"  # the local stack names functions by their folder
HEALTH_PATH = "/local/health"
STARTING, READY, STOPPING = "starting", "ready", "stopping"
# Seconds a client should wait before asking again while the stack starts.
RETRY_AFTER_SECONDS = 1

_log = logging.getLogger(__name__)

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]
"""A Lambda proxy integration: (event, context) -> {"statusCode", "headers", "body", ...}."""


# ---------------------------------------------------------------------------- security headers


def content_security_policy(api_origin: str | None = None) -> str:
    """The pages' CSP: scripts and styles only from the site, API calls to the site or the API,
    photos from S3 presigned links. The CDN sets the same policy with its own API origin."""
    connect = "'self'" + (f" {api_origin}" if api_origin else "")
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' https://*.amazonaws.com",
            f"connect-src {connect}",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
            "manifest-src 'self'",
        ]
    )


def security_headers(api_origin: str | None = None) -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(api_origin),
        "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        # The approval link carries its id in the query: never send it on to S3 or anyone else.
        "Referrer-Policy": "no-referrer",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
        "Cross-Origin-Opener-Policy": "same-origin",
    }


_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".ico": "image/x-icon",
    ".webmanifest": "application/manifest+json",
    ".txt": "text/plain; charset=utf-8",
}


def content_type_for(path: Path) -> str:
    return (
        _CONTENT_TYPES.get(path.suffix.lower())
        or mimetypes.guess_type(path.name)[0]
        or "application/octet-stream"
    )


# ---------------------------------------------------------------------------- requests and answers


@dataclass(frozen=True)
class LocalRequest:
    method: str
    path: str  # decoded-once path, no query
    raw_path: str  # as sent, without the query
    query: Mapping[str, list[str]]
    headers: Sequence[tuple[str, str]]
    body: bytes
    client_ip: str
    host: str

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None


@dataclass
class LocalResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    multi_headers: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> LocalResponse:
        return cls(
            status=status,
            headers={"Content-Type": "application/json", **(headers or {})},
            body=json.dumps(payload).encode(),
        )


RouteHook = Callable[[LocalRequest], LocalResponse]
"""A mounted handler for a path prefix (e.g. the local stack's `/local/...` controls)."""


# ---------------------------------------------------------------------------- API Gateway emulation


_PARAMETER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class ApiRoute:
    """One API Gateway resource (`/approvals/{approvalId}`) and the methods its Lambda serves."""

    resource: str
    methods: frozenset[str]
    handler: LambdaHandler

    def match(self, path: str) -> dict[str, str] | None:
        """Path parameters if `path` (raw, percent-encoded) is this resource, else None."""
        wanted = self.resource.strip("/").split("/")
        given = path.strip("/").split("/")
        if len(wanted) != len(given):
            return None
        parameters: dict[str, str] = {}
        for template, segment in zip(wanted, given, strict=True):
            parameter = _PARAMETER.fullmatch(template)
            if parameter is not None and segment:
                parameters[parameter.group(1)] = unquote(segment)
            elif template != segment:
                return None
        return parameters


def build_proxy_event(
    request: LocalRequest,
    *,
    resource: str,
    path_parameters: Mapping[str, str],
    stage: str = DEFAULT_STAGE,
    request_id: str | None = None,
) -> dict[str, Any]:
    """The REST API (payload v1) Lambda proxy event API Gateway would send for `request`."""
    headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for name, value in request.headers:
        headers[name] = value
        multi_headers.setdefault(name, []).append(value)
    query = {name: values[-1] for name, values in request.query.items()}
    body: str | None
    is_base64 = False
    if not request.body:
        body = None
    else:
        try:
            body = request.body.decode("utf-8")
        except UnicodeDecodeError:
            body, is_base64 = base64.b64encode(request.body).decode(), True
    request_id = request_id or str(uuid.uuid4())
    return {
        "resource": resource,
        "path": request.raw_path,
        "httpMethod": request.method,
        "headers": headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: list(v) for k, v in request.query.items()} or None,
        "pathParameters": dict(path_parameters) or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "resourceId": "local",
            "resourcePath": resource,
            "httpMethod": request.method,
            "path": f"/{stage}{request.raw_path}",
            "stage": stage,
            "requestId": request_id,
            "extendedRequestId": request_id,
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
            "requestTimeEpoch": int(time.time() * 1000),
            "protocol": "HTTP/1.1",
            "domainName": request.host,
            "identity": {"sourceIp": request.client_ip, "userAgent": request.header("User-Agent")},
        },
        "body": body,
        "isBase64Encoded": is_base64,
    }


def missing_authentication_token() -> LocalResponse:
    """API Gateway REST's answer for a path or method it has no resource for (before any Lambda)."""
    return LocalResponse.json(HTTPStatus.FORBIDDEN, {"message": "Missing Authentication Token"})


def proxy_response(result: Any) -> LocalResponse:
    """The HTTP answer for a Lambda proxy result; a malformed result is API Gateway's 502."""
    if not isinstance(result, Mapping) or not isinstance(result.get("statusCode"), int):
        _log.error("Lambda returned a malformed proxy response")
        return LocalResponse.json(502, {"message": "Internal server error"})
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode("utf-8")
    multi = {
        str(k): [str(v) for v in values] for k, values in (result.get("multiValueHeaders") or {}).items()
    }
    headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items() if str(k) not in multi}
    return LocalResponse(status=result["statusCode"], headers=headers, body=data, multi_headers=multi)


def direct(handler: Callable[..., dict[str, Any]], **overrides: Any) -> LambdaHandler:
    """Call a handler in this thread with a Lambda-like context and adapter overrides.

    Concurrent requests run concurrently, like separate Lambda environments would.
    """

    def invoke(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return handler(event, context, **overrides)

    return invoke


def via_runtime(runtime: LambdaRuntime, function_name: str = API_FUNCTION_NAME) -> LambdaHandler:
    """Call a function registered in a LambdaRuntime (its environment and overrides apply).

    A handler that raises becomes API Gateway's 502, as an unhandled Lambda error would.
    """

    def invoke(event: dict[str, Any], context: Any) -> dict[str, Any]:
        result, failed = runtime.invoke(function_name, event)
        if failed:
            _log.error("API function failed: %s", result.get("errorType"))
            return {"statusCode": 502, "body": json.dumps({"message": "Internal server error"})}
        return dict(result)

    return invoke


def smartdoor_api_routes(api: LambdaHandler) -> list[ApiRoute]:
    """The resources of the Smart Door API Lambda (functions/api), as the CDK app wires them."""
    return [
        ApiRoute("/approvals/{approvalId}", frozenset({"GET", "POST", "OPTIONS"}), api),
        ApiRoute("/doors/{doorId}/unlock", frozenset({"POST", "OPTIONS"}), api),
        ApiRoute("/doors/{doorId}/lock/{commandId}", frozenset({"GET", "OPTIONS"}), api),
        # Door devices (docs/doorbell.md); on AWS they need the devices' API key, not CORS.
        ApiRoute("/doors/{doorId}/ring", frozenset({"POST"}), api),
        ApiRoute("/doors/{doorId}/snapshots", frozenset({"POST"}), api),
    ]


# ---------------------------------------------------------------------------- the server


class LocalServer:
    """Static pages + API routes on 127.0.0.1. `start()`/`stop()`, or use it as a context manager."""

    def __init__(
        self,
        *,
        api_routes: Iterable[ApiRoute] = (),
        web_root: Path = WEB_DIR,
        host: str = "127.0.0.1",
        port: int = 0,
        stage: str = DEFAULT_STAGE,
        site_config: Mapping[str, Any] | None = None,
        starting: bool = False,
        read_timeout: float = READ_TIMEOUT_SECONDS,
        request_deadline: float = REQUEST_DEADLINE_SECONDS,
    ) -> None:
        self.web_root = web_root.resolve()
        self._state = STARTING if starting else READY
        self.stage = stage
        self.site_config = dict(site_config or {})
        self._routes: list[ApiRoute] = list(api_routes)
        self._mounts: list[tuple[str, RouteHook]] = []
        self._host = host
        self._port = port
        self._read_timeout = read_timeout
        self._request_deadline = request_deadline
        self._body_limits: list[tuple[re.Pattern[str], int]] = []
        self._running: RunningServer | None = None

    # -- extension points for the local stack

    def add_api_route(self, route: ApiRoute) -> None:
        self._routes.append(route)

    def mount(self, prefix: str, hook: RouteHook) -> None:
        """Serve every path under `prefix` (e.g. "/local/") with `hook`, before API routes and files."""
        if not prefix.startswith("/"):
            raise ValueError("a mount prefix starts with '/'")
        self._mounts.append((prefix, hook))

    def allow_body(self, raw_path: re.Pattern[str], max_bytes: int) -> None:
        """Bodies up to `max_bytes` on paths that fully match `raw_path` (others: MAX_BODY_BYTES)."""
        self._body_limits.append((raw_path, max_bytes))

    def body_limit(self, raw_path: str) -> int:
        for pattern, max_bytes in self._body_limits:
            if pattern.fullmatch(raw_path):
                return max_bytes
        return MAX_BODY_BYTES

    # -- readiness

    @property
    def state(self) -> str:
        """STARTING, READY or STOPPING; only READY serves pages and routes."""
        return self._state

    def mark_ready(self) -> None:
        self._state = READY

    def mark_stopping(self) -> None:
        self._state = STOPPING

    # -- lifecycle

    @property
    def port(self) -> int:
        if self._running is None:
            raise RuntimeError("the server is not running")
        return self._running.port

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    def start(self) -> LocalServer:
        if self._running is not None:
            raise RuntimeError("the server is already running")
        self._running = serve_in_thread(
            lambda port: loopback_only(self.wsgi, port),
            name="smartdoor-local-http",
            host=self._host,
            port=self._port,
            read_timeout=self._read_timeout,
            request_deadline=self._request_deadline,
        )
        _log.info("Serving %s on %s", self.web_root, self.url)
        return self

    def stop(self) -> None:
        running, self._running = self._running, None
        if running is not None:
            running.stop()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- dispatch

    def wsgi(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        """The WSGI app werkzeug serves: read the request (bounded), `handle` it, answer."""
        request = read_request(environ, self.body_limit)
        if isinstance(request, LocalResponse):
            return respond(start_response, request)
        try:
            response = self.handle(request)
        except Exception:
            _log.exception("Local server failed on %s %s", request.method, request.path)
            response = LocalResponse.json(
                HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal server error"}
            )
        return respond(start_response, response)

    def site_config_json(self) -> dict[str, Any]:
        return {"apiUrl": self.url, **self.site_config}

    def handle(self, request: LocalRequest) -> LocalResponse:
        if request.path.rstrip("/") == HEALTH_PATH:
            return self._health(request)
        if self._state != READY:
            return self._not_ready(request)
        for prefix, hook in self._mounts:
            if request.path == prefix.rstrip("/") or request.path.startswith(prefix):
                return hook(request)
        for route in self._routes:
            parameters = route.match(request.raw_path)
            if parameters is None:
                continue
            if request.method not in route.methods:
                return missing_authentication_token()
            event = build_proxy_event(
                request, resource=route.resource, path_parameters=parameters, stage=self.stage
            )
            context = LambdaContext(
                function_name=API_FUNCTION_NAME,
                invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{API_FUNCTION_NAME}",
                memory_limit_in_mb=256,
                timeout_seconds=10,
            )
            try:
                return proxy_response(route.handler(event, context))
            except Exception:
                _log.exception("API handler raised")
                return LocalResponse.json(HTTPStatus.BAD_GATEWAY, {"message": "Internal server error"})
        if self._under_api_resource(request.raw_path):
            return missing_authentication_token()
        if request.path == "/config.json" and request.method in ("GET", "HEAD"):
            return self._static_answer(
                HTTPStatus.OK, "application/json", json.dumps(self.site_config_json()).encode(), request
            )
        return self._serve_file(request)

    def _health(self, request: LocalRequest) -> LocalResponse:
        if request.method not in ("GET", "HEAD"):
            return LocalResponse.json(HTTPStatus.METHOD_NOT_ALLOWED, {"error": "GET only"})
        if self._state == READY:
            response = LocalResponse.json(HTTPStatus.OK, {"status": READY}, {"Cache-Control": "no-store"})
        else:
            response = self._not_ready(request, json_only=True)
            response.body = json.dumps({"status": self._state, "error": self._state}).encode()
        if request.method == "HEAD":
            response.headers["Content-Length"] = str(len(response.body))
            response.body = b""
        return response

    def _not_ready(self, request: LocalRequest, *, json_only: bool = False) -> LocalResponse:
        """503 for every path while the stack starts or stops: never a half-mounted answer."""
        headers = {
            "Retry-After": str(RETRY_AFTER_SECONDS),
            "Cache-Control": "no-store",
            "Connection": "close",
        }
        wants_page = request.method in ("GET", "HEAD") and "text/html" in (request.header("Accept") or "")
        if wants_page and not json_only:
            # A person who opened the page early: a page that reloads itself until the stack is up.
            page = _not_ready_page(self._state)
            response = self._static_answer(
                HTTPStatus.SERVICE_UNAVAILABLE, "text/html; charset=utf-8", page, request
            )
            response.headers.update(headers)
            return response
        response = LocalResponse.json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": self._state}, headers)
        if request.method == "HEAD" and not json_only:
            response.headers["Content-Length"] = str(len(response.body))
            response.body = b""
        return response

    def _under_api_resource(self, raw_path: str) -> bool:
        """A path in the API's tree (`/approvals/...`, `/doors/...`) that no resource matched."""
        first = raw_path.strip("/").split("/")[0]
        return any(route.resource.strip("/").split("/")[0] == first for route in self._routes if first)

    def _static_answer(
        self, status: int, content_type: str, body: bytes, request: LocalRequest
    ) -> LocalResponse:
        headers = {"Content-Type": content_type, "Cache-Control": "no-cache", **security_headers()}
        if request.method == "HEAD":
            headers["Content-Length"] = str(len(body))
            body = b""
        return LocalResponse(status=status, headers=headers, body=body)

    def _serve_file(self, request: LocalRequest) -> LocalResponse:
        if request.method not in ("GET", "HEAD"):
            return self._static_error(HTTPStatus.METHOD_NOT_ALLOWED, "pages are GET or HEAD only", request)
        try:
            candidate = (self.web_root / request.path.lstrip("/")).resolve()
        except (OSError, ValueError):  # e.g. a NUL byte in the path
            return self._not_found(request)
        if candidate != self.web_root and self.web_root not in candidate.parents:
            return self._not_found(request)
        if candidate.is_dir():
            if not request.path.endswith("/"):
                location = request.path + "/" + (f"?{_query_string(request)}" if request.query else "")
                response = self._static_answer(HTTPStatus.MOVED_PERMANENTLY, "text/plain", b"", request)
                response.headers["Location"] = location
                return response
            candidate = candidate / "index.html"
        if not candidate.is_file():
            return self._not_found(request)
        return self._static_answer(
            HTTPStatus.OK, content_type_for(candidate), candidate.read_bytes(), request
        )

    def _not_found(self, request: LocalRequest) -> LocalResponse:
        return self._static_error(HTTPStatus.NOT_FOUND, "not found", request)

    def _static_error(self, status: int, message: str, request: LocalRequest) -> LocalResponse:
        body = json.dumps({"error": message}).encode()
        return self._static_answer(status, "application/json", body, request)


def _not_ready_page(state: str) -> bytes:
    if state == STARTING:
        title = "Smart Door is starting"
        text = f"{title}; this page reloads itself when it is ready."
    else:
        title, text = "Smart Door is stopping", "Smart Door is stopping."
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="{RETRY_AFTER_SECONDS}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title></head><body><p>{text}</p></body></html>\n"
    ).encode()


def _query_string(request: LocalRequest) -> str:
    return urlencode([(k, v) for k, values in request.query.items() for v in values])


# ---------------------------------------------------------------------------- WSGI in and out


def _error(status: int, message: str) -> LocalResponse:
    return LocalResponse.json(status, {"error": message})


def read_body(environ: dict[str, Any], limit: int) -> bytes | LocalResponse:
    """The body, at most `limit` bytes (413 before reading more), or the error answer."""
    if environ.get("HTTP_TRANSFER_ENCODING"):
        return _error(HTTPStatus.LENGTH_REQUIRED, "send the body with a Content-Length")
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = -1
    if length < 0:
        return _error(HTTPStatus.BAD_REQUEST, "bad Content-Length")
    if length > limit:
        return _error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"request bodies here are at most {limit} bytes")
    body = bytes(environ["wsgi.input"].read(length)) if length else b""
    if len(body) != length:
        return _error(HTTPStatus.BAD_REQUEST, "the body is shorter than its Content-Length")
    environ.get(REQUEST_READ_KEY, lambda: None)()
    return body


def _unwsgi(value: str) -> str:
    """A WSGI (latin-1) string back to what the client sent, as UTF-8."""
    return value.encode("latin-1").decode("utf-8", "replace")


def read_request(environ: dict[str, Any], body_limit: Callable[[str], int]) -> LocalRequest | LocalResponse:
    split = urlsplit(_unwsgi(str(environ.get("REQUEST_URI") or environ.get("PATH_INFO") or "/")))
    raw_path = split.path or "/"
    body = read_body(environ, body_limit(raw_path))
    if isinstance(body, LocalResponse):
        return body
    return LocalRequest(
        method=str(environ["REQUEST_METHOD"]),
        path=unquote(raw_path) or "/",
        raw_path=raw_path,
        query=parse_qs(split.query, keep_blank_values=True),
        headers=list(environ.get(RAW_HEADERS_KEY, [])),
        body=body,
        client_ip=str(environ.get("REMOTE_ADDR", "")),
        host=str(environ.get("HTTP_HOST", "")),
    )


def respond(start_response: StartResponse, response: LocalResponse) -> list[bytes]:
    # werkzeug sets Connection: close on every answer itself
    headers = [
        (name, value)
        for name, value in response.headers.items()
        if name.lower() not in {"content-length", "connection"}
    ]
    headers += [(name, value) for name, values in response.multi_headers.items() for value in values]
    headers.append(("Content-Length", response.headers.get("Content-Length", str(len(response.body)))))
    start_response(status_line(response.status), headers)
    return [response.body]
