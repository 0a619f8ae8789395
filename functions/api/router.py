"""The API's routing: an API Gateway REST proxy event in, one route run, a proxy result out.

A `Route` is a method, a path template (`/doors/{doorId}/unlock`, API Gateway's own form), the
request model its JSON body must fit (or none), and what OpenAPI says of it (`Doc`). `Router`
matches the event's path, bounds and parses the body, validates it against the model
(`smartdoor.schema`), runs the route and turns any exception into an answer through the error
table (`api.errors`, most specific class first). CORS answers only the configured site origin.

This replaced Powertools' event handler, whose import (with the pydantic validation it needs)
was most of the API function's cold start (docs/performance.md, figure 3).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from http import HTTPStatus
from typing import Any

from msgspec import field
from msgspec.structs import replace

from api.adapters import Adapters
from smartdoor.schema import Record, ValidationError, parse

# What the pages and door devices may send cross-origin (API Gateway's own CORS default set).
CORS_ALLOWED_HEADERS = "Authorization,Content-Type,X-Amz-Date,X-Amz-Security-Token,X-Api-Key"
CORS_MAX_AGE_SECONDS = 600
JSON_MEDIA_TYPE = "application/json"


class Answer(Record):
    """An HTTP answer: always JSON, never cached."""

    status: HTTPStatus
    body: Mapping[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)


def json_answer(
    status: HTTPStatus, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> Answer:
    return Answer(status, body, dict(headers or {}))


class Documented(Record):
    """One status of a route in the OpenAPI document: what it means and the body model."""

    description: str
    model: type | None


class Doc(Record):
    summary: str
    tags: tuple[str, ...]
    responses: Mapping[int, Documented]
    params: Mapping[str, str]  # path parameter -> description
    security: Sequence[Mapping[str, Sequence[str]]] | None = None


class Call(Record):
    """One request as a route (or the error table) sees it."""

    method: str
    params: Mapping[str, str]
    headers: Mapping[str, str]  # names lower-cased
    adapters: Adapters
    client: str | None = None  # the caller's address, as API Gateway saw it (sourceIp)
    body: Any = None  # the validated request model of a route that takes a body


class Route(Record):
    method: str
    path: str
    run: Callable[[Call], Answer]
    doc: Doc
    body: type | None = None

    @property
    def pattern(self) -> re.Pattern[str]:
        return _compiled(self.path)


class InvalidBody(Exception):
    """The JSON body does not fit the route's request model (400): `problem` says where and what."""

    def __init__(self, problem: ValidationError) -> None:
        super().__init__(str(problem))
        self.problem = problem


class NotJson(Exception):
    """A body sent as another media type than application/json (415): API Gateway validates a
    body against the route's model only for the media type the model is declared for."""


class NotFound(Exception):
    """No route has this method and path (404)."""


ErrorTable = Callable[[Exception, Call], Answer]
BodyReader = Callable[[Mapping[str, Any]], Any]


class Router(Record):
    routes: Sequence[Route]
    errors: ErrorTable
    read_body: BodyReader  # the event -> its JSON object; raises the error table's exceptions
    cors_origin: str | None = None

    def resolve(self, event: Mapping[str, Any], adapters: Adapters) -> dict[str, Any]:
        method = str(event.get("httpMethod") or "").upper()
        path = str(event.get("path") or "")
        headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
        identity = (event.get("requestContext") or {}).get("identity") or {}
        call = Call(method, {}, headers, adapters, client=identity.get("sourceIp"))
        try:
            answer = self._answer(event, call, path)
        except Exception as error:
            answer = self.errors(error, call)
        return self._proxy_result(answer, headers)

    def _answer(self, event: Mapping[str, Any], call: Call, path: str) -> Answer:
        if call.method == "OPTIONS" and self.cors_origin:
            return self._preflight(path)
        for route in self.routes:
            found = route.pattern.match(path)
            if found and route.method == call.method:
                body = self._body(route.body, event, call.headers) if route.body else None
                return route.run(replace(call, params=found.groupdict(), body=body))
        raise NotFound(path)

    def _body(self, model: type, event: Mapping[str, Any], headers: Mapping[str, str]) -> Any:
        media_type = headers.get("content-type", JSON_MEDIA_TYPE).split(";")[0].strip().lower()
        if media_type != JSON_MEDIA_TYPE:
            raise NotJson(media_type)
        return _validated(model, self.read_body(event))

    def _preflight(self, path: str) -> Answer:
        methods = sorted({route.method for route in self.routes if route.pattern.match(path)})
        if not methods:
            raise NotFound(path)
        allowed = ",".join([*methods, "OPTIONS"])
        return Answer(
            HTTPStatus.NO_CONTENT,
            {},
            {"Access-Control-Allow-Methods": allowed, "Access-Control-Max-Age": str(CORS_MAX_AGE_SECONDS)},
        )

    def _proxy_result(self, answer: Answer, request_headers: Mapping[str, str]) -> dict[str, Any]:
        headers = {"Content-Type": "application/json", "Cache-Control": "no-store", **answer.headers}
        if self.cors_origin and request_headers.get("origin") == self.cors_origin:
            headers |= {
                "Access-Control-Allow-Origin": self.cors_origin,
                "Access-Control-Allow-Headers": CORS_ALLOWED_HEADERS,
                "Vary": "Origin",
            }
        body = "" if answer.status is HTTPStatus.NO_CONTENT else json.dumps(answer.body)
        return {"statusCode": answer.status.value, "headers": headers, "body": body, "isBase64Encoded": False}


def _validated(model: type, data: Any) -> Any:
    try:
        return parse(model, data)
    except ValidationError as problem:
        raise InvalidBody(problem) from None


def body_text(event: Mapping[str, Any]) -> str:
    """The request body as text: API Gateway base64-encodes binary media types (binascii.Error,
    UnicodeDecodeError when it is not base64 or not UTF-8)."""
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return base64.b64decode(str(raw), validate=True).decode("utf-8")
    return str(raw)


_PARAMETER = re.compile(r"\{(\w+)\}")


@cache
def _compiled(template: str) -> re.Pattern[str]:
    """`/doors/{doorId}/unlock` -> a pattern with one named group per path parameter."""
    parts = _PARAMETER.split(template)
    regex = "".join(
        f"(?P<{part}>[^/]+)" if index % 2 else re.escape(part) for index, part in enumerate(parts)
    )
    return re.compile(f"^{regex}$")
