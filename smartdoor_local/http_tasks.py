"""Step Functions HTTP Tasks (`arn:aws:states:::http:invoke`) on moto: a real HTTP request.

moto's ASL interpreter knows no `http` integration (its task factory raises "Unknown service
'http'"), and it refuses any error name that begins with `States.` but its own list, so a
`Retry` on `States.Http.StatusCode.503` does not even parse. `HttpInvoke.installed()` adds the
integration at the factory the interpreter calls per Task state, lets the HTTP Task's own error
names (`States.Http.*`) through moto's custom-error-name check, and sends the request the way
Step Functions does:

- `ApiEndpoint` (+ `QueryParameters`), `Method`, `Headers`, `RequestBody` (JSON unless a string);
- `Authentication.ConnectionArn`: the EventBridge connection's credentials, read as Step
  Functions reads them, from the secret the connection keeps (moto's Secrets Manager); API-key
  auth adds the key's header, and the connection's invocation header parameters are added too;
- the result is `{"StatusCode", "StatusText", "Headers", "ResponseBody"}` (the body parsed when
  it is JSON); a non-2xx answer fails the task with `States.Http.StatusCode.<code>`, a request
  that gets no answer with `States.Http.Socket`, so ASL `Retry`/`Catch` match as on AWS.

`endpoints` maps a URL prefix to another (the local stack points the template's webhook URL at
its own receiver, `/local/lock-webhook`). Every request is recorded in `requests`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

HTTP_SERVICE = "http"
HTTP_ERROR_PREFIX = "States.Http."
REQUEST_SECONDS = 60.0  # Step Functions' own limit for an HTTP Task's request
_SUPPORTED_PARAMETERS = {
    "ApiEndpoint",
    "Method",
    "Authentication",
    "Headers",
    "QueryParameters",
    "RequestBody",
    "Transform",
}


class HttpTaskFailed(Exception):
    """The request failed as Step Functions reports it: `error` is the ASL error name."""

    def __init__(self, error: str, cause: str) -> None:
        super().__init__(f"{error}: {cause}")
        self.error = error
        self.cause = cause


@dataclass(frozen=True)
class SentRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    status: int | None  # None: no answer


@dataclass
class HttpInvoke:
    endpoints: Mapping[str, str] = field(default_factory=dict)
    requests: list[SentRequest] = field(default_factory=list)

    @contextmanager
    def installed(self) -> Iterator[HttpInvoke]:
        from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import (
            CustomErrorName,
        )
        from moto.stepfunctions.parser.asl.component.common.error_name.error_name import ErrorName
        from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory

        original_factory = state_task_factory.state_task_service_for
        original_name = CustomErrorName.__init__
        invoker = self

        def state_task_service_for(service_name: str) -> Any:
            if service_name == HTTP_SERVICE:
                return _http_task_class()(invoker)
            return original_factory(service_name=service_name)

        def custom_error_name(name: Any, error_name: str | None) -> None:
            if error_name is not None and error_name.startswith(HTTP_ERROR_PREFIX):
                ErrorName.__init__(name, error_name=error_name)
                return
            original_name(name, error_name=error_name)

        state_task_factory.state_task_service_for = state_task_service_for
        CustomErrorName.__init__ = custom_error_name  # type: ignore[method-assign,assignment]
        try:
            yield self
        finally:
            state_task_factory.state_task_service_for = original_factory
            CustomErrorName.__init__ = original_name  # type: ignore[method-assign]

    # ------------------------------------------------------------------ the request

    def call(self, parameters: Mapping[str, Any], region: str, account: str) -> dict[str, Any]:
        """Send what the Task's parameters describe; its result (or HttpTaskFailed)."""
        import requests

        transform = parameters.get("Transform") or {}
        if transform.get("RequestBodyEncoding", "NONE") != "NONE":
            raise HttpTaskFailed(
                "States.Runtime", "the local HTTP Task sends JSON bodies only (no URL_ENCODED)"
            )
        method = str(parameters.get("Method", "GET")).upper()
        url = self._url(str(parameters["ApiEndpoint"]), parameters.get("QueryParameters"))
        headers, query = self._connection_parameters(parameters.get("Authentication"), region, account)
        if query:
            url = f"{url}{'&' if '?' in url else '?'}{urlencode(query)}"
        headers.update({str(k): str(v) for k, v in (parameters.get("Headers") or {}).items()})
        headers.setdefault("User-Agent", f"Amazon|StepFunctions|HttpInvoke|{region}")
        body = _body(parameters.get("RequestBody"), headers)
        try:
            response = requests.request(method, url, headers=headers, data=body, timeout=REQUEST_SECONDS)
        except requests.RequestException as error:
            self.requests.append(SentRequest(method, url, headers, body, None))
            raise HttpTaskFailed("States.Http.Socket", f"{type(error).__name__} calling {url}") from None
        self.requests.append(SentRequest(method, url, headers, body, response.status_code))
        result = _result(response)
        if not 200 <= response.status_code < 300:
            raise HttpTaskFailed(f"States.Http.StatusCode.{response.status_code}", json.dumps(result))
        return result

    def _url(self, endpoint: str, query: Any) -> str:
        for prefix, replacement in self.endpoints.items():
            if endpoint.startswith(prefix):
                endpoint = replacement + endpoint[len(prefix) :]
                break
        if query:
            endpoint = f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(query)}"
        return endpoint

    @staticmethod
    def _connection_parameters(
        authentication: Any, region: str, account: str
    ) -> tuple[dict[str, str], dict[str, str]]:
        """The connection's headers (its API key among them) and query parameters."""
        arn = (authentication or {}).get("ConnectionArn")
        if not arn:
            raise HttpTaskFailed("States.Runtime", "an HTTP Task needs Authentication.ConnectionArn")
        auth = connection_credentials(str(arn), region, account)
        headers: dict[str, str] = {}
        query: dict[str, str] = {}
        key = auth.get("api_key_auth_parameters") or auth
        if "api_key_name" in key:
            headers[str(key["api_key_name"])] = str(key["api_key_value"])
        invocation = auth.get("invocation_http_parameters") or {}
        for parameter in invocation.get("header_parameters") or []:
            headers[str(parameter["key"])] = str(parameter["value"])
        for parameter in invocation.get("query_string_parameters") or []:
            query[str(parameter["key"])] = str(parameter["value"])
        return headers, query


def connection_credentials(connection_arn: str, region: str, account: str) -> dict[str, Any]:
    """The auth parameters an EventBridge connection keeps in its secret (moto's Secrets Manager:
    the names in snake case, as moto stores them)."""
    from moto.events.models import events_backends
    from moto.secretsmanager.models import secretsmanager_backends

    name = connection_arn.split(":connection/", 1)[-1].split("/")[0]
    connection = events_backends[account][region].connections.get(name)
    if connection is None:
        raise HttpTaskFailed("Events.ConnectionResource.NotFound", f"no connection {connection_arn}")
    secrets: Any = secretsmanager_backends[account][region]
    secret = secrets.get_secret_value(connection.secret_arn, None, None)
    return dict(json.loads(secret["SecretString"]))


def _body(value: Any, headers: dict[str, str]) -> bytes:
    if value is None:
        return b""
    if isinstance(value, str):
        return value.encode("utf-8")
    headers.setdefault("Content-Type", "application/json")
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def _result(response: Any) -> dict[str, Any]:
    body: Any = response.text
    if "json" in response.headers.get("Content-Type", ""):
        try:
            body = response.json()
        except ValueError:
            body = response.text
    try:
        text = HTTPStatus(response.status_code).phrase
    except ValueError:
        text = response.reason or ""
    return {
        "StatusCode": response.status_code,
        "StatusText": text,
        "Headers": {name: [value] for name, value in response.headers.items()},
        "ResponseBody": body,
    }


def _http_task_class() -> type:
    """The moto Task state class for `http:invoke` (built on first use: moto's parser is imported
    only when the stack runs workflows)."""
    global _HTTP_TASK
    if _HTTP_TASK is None:
        _HTTP_TASK = _build_http_task_class()
    return _HTTP_TASK


_HTTP_TASK: type | None = None


def _build_http_task_class() -> type:
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (
        StateTaskService,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    class StateTaskServiceHttp(StateTaskService):
        def __init__(self, invoker: HttpInvoke) -> None:
            super().__init__()
            self._invoker = invoker

        def _get_supported_parameters(self) -> set[str]:
            return _SUPPORTED_PARAMETERS

        def _from_error(self, env: Any, ex: Exception) -> Any:
            if not isinstance(ex, HttpTaskFailed):
                return super()._from_error(env=env, ex=ex)
            return FailureEvent(
                env=env,
                error_name=CustomErrorName(error_name=ex.error),
                event_type=HistoryEventType.TaskFailed,
                event_details=EventDetails(  # type: ignore[typeddict-item]
                    taskFailedEventDetails=TaskFailedEventDetails(
                        error=ex.error,
                        cause=ex.cause,
                        resource=self._get_sfn_resource(),
                        resourceType=self._get_sfn_resource_type(),
                    )
                ),
            )

        def _eval_service_task(
            self,
            env: Any,
            resource_runtime_part: Any,
            normalised_parameters: dict[str, Any],
            state_credentials: Any,
        ) -> None:
            env.stack.append(
                self._invoker.call(
                    normalised_parameters, resource_runtime_part.region, resource_runtime_part.account
                )
            )

    return StateTaskServiceHttp
