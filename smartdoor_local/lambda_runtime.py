"""An in-process Lambda runtime for moto: invoking a function calls its real handler.

moto runs Step Functions executions for real (`execute_state_machine`), but without Docker its
Lambda backend only echoes the payload. `LambdaRuntime.installed()` swaps the backend's
`invoke` for one that looks the function up in a registry and calls the handler in this process:

- with that function's environment variables applied (and the settings cache cleared, as a
  fresh Lambda process would read them), one invocation at a time;
- with a Lambda-like context object and the registered adapter overrides as keyword
  arguments (`handler(event, context, engine=fake)`);
- returning the JSON result, or, when the handler raises, Lambda's unhandled-error payload
  `{"errorType": <exception class name>, "errorMessage": ...}` with the `X-Amz-Function-Error`
  header, so ASL `Retry`/`Catch` match the class name exactly as on AWS.

The function must exist in moto (`create_functions` makes it with a placeholder package), so an
ASL that names a function nobody deployed fails with Lambda.ResourceNotFoundException as on AWS.
"""

from __future__ import annotations

import importlib
import io
import json
import threading
import time
import traceback
import uuid
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from smartdoor_local import ensure_functions_importable
from smartdoor_local.environment import patched_environ

Handler = Callable[..., Any]

DEFAULT_TIMEOUT_SECONDS = 30
DEFAULT_MEMORY_MB = 256
PLACEHOLDER_RUNTIME = "python3.13"


@dataclass(frozen=True)
class LocalFunction:
    """One Lambda function served in-process.

    `handler` is a dotted path as in the Lambda configuration (`"extract_frame.handler.handler"`,
    resolved against `functions/`) or the callable itself. `overrides` are passed to the handler as
    keyword arguments (the adapters it would otherwise build: fakes, or clients on moto).
    """

    name: str
    handler: str | Handler
    environment: Mapping[str, str] = field(default_factory=dict)
    overrides: Mapping[str, Any] = field(default_factory=dict)
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS
    memory_mb: int = DEFAULT_MEMORY_MB

    @property
    def handler_path(self) -> str:
        if isinstance(self.handler, str):
            return self.handler
        return f"{self.handler.__module__}.{getattr(self.handler, '__qualname__', 'handler')}"


@dataclass(frozen=True)
class Invocation:
    """What one invocation received and how it ended (for tests and local debugging)."""

    function_name: str
    event: Any
    result: Any = None
    error_type: str | None = None
    error_message: str | None = None

    @property
    def failed(self) -> bool:
        return self.error_type is not None


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object that handlers and Powertools read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_seconds: int
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = "local"
    _started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        elapsed = time.monotonic() - self._started
        return max(0, int((self.timeout_seconds - elapsed) * 1000))


class FunctionNotRegistered(LookupError):
    """moto knows the function, but no handler was registered for it in this runtime."""


def function_name_of(name_or_arn: str) -> str:
    """`my-fn`, `arn:aws:lambda:<region>:<account>:function:my-fn[:qualifier]` → `my-fn`."""
    if name_or_arn.startswith("arn:"):
        parts = name_or_arn.split(":")
        if len(parts) >= 7 and parts[5] == "function":
            return parts[6]
        raise ValueError(f"not a Lambda function ARN: {name_or_arn!r}")
    return name_or_arn.split(":")[0]


def placeholder_package() -> bytes:
    """A zip that satisfies CreateFunction; its code never runs (the registry's handler does)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("placeholder.py", "# served in-process by smartdoor_local.lambda_runtime\n")
    return buffer.getvalue()


class LambdaRuntime:
    """A registry of functions and the moto patch that serves them."""

    def __init__(self, functions: Iterable[LocalFunction] = ()) -> None:
        self._functions: dict[str, LocalFunction] = {}
        self._handlers: dict[str, Handler] = {}
        self._lock = threading.RLock()
        self.invocations: list[Invocation] = []
        for function in functions:
            self.register(function)

    # ------------------------------------------------------------------ registry

    def register(self, function: LocalFunction) -> None:
        """Add or replace a function (replacing lets a test swap one adapter override)."""
        with self._lock:
            self._functions[function.name] = function
            self._handlers.pop(function.name, None)

    def function(self, name_or_arn: str) -> LocalFunction:
        name = function_name_of(name_or_arn)
        try:
            return self._functions[name]
        except KeyError:
            known = ", ".join(sorted(self._functions)) or "none"
            raise FunctionNotRegistered(f"no handler registered for {name!r} (registered: {known})") from None

    @property
    def names(self) -> list[str]:
        return sorted(self._functions)

    def invocations_of(self, name: str) -> list[Invocation]:
        return [call for call in self.invocations if call.function_name == name]

    def create_functions(self, lambda_client: Any, role_arn: str) -> dict[str, str]:
        """Create every registered function in moto (placeholder code); returns name → ARN."""
        arns = {}
        for function in self._functions.values():
            response = lambda_client.create_function(
                FunctionName=function.name,
                Runtime=PLACEHOLDER_RUNTIME,
                Role=role_arn,
                Handler=function.handler_path,
                Code={"ZipFile": placeholder_package()},
                Timeout=function.timeout_seconds,
                MemorySize=function.memory_mb,
                Environment={"Variables": dict(function.environment)},
            )
            arns[function.name] = response["FunctionArn"]
        return arns

    # ------------------------------------------------------------------ invoking

    def _resolve(self, function: LocalFunction) -> Handler:
        if not isinstance(function.handler, str):
            return function.handler
        cached = self._handlers.get(function.name)
        if cached is None:
            ensure_functions_importable()
            module_name, _, attribute = function.handler.rpartition(".")
            if not module_name:
                raise ValueError(f"handler {function.handler!r} must be '<module>.<function>'")
            cached = getattr(importlib.import_module(module_name), attribute)
            self._handlers[function.name] = cached
        return cached

    def invoke(self, name_or_arn: str, event: Any, invoked_arn: str | None = None) -> tuple[Any, bool]:
        """Run the handler; returns (result, failed). A failure's result is Lambda's error payload."""
        function = self.function(name_or_arn)
        context = LambdaContext(
            function_name=function.name,
            invoked_function_arn=invoked_arn or name_or_arn,
            memory_limit_in_mb=function.memory_mb,
            timeout_seconds=function.timeout_seconds,
        )
        with self._lock, _environment(function.environment, self._foreign_variables(function)):
            try:
                handler = self._resolve(function)
                result = handler(event, context, **function.overrides)
            except Exception as error:
                payload = {
                    "errorType": type(error).__name__,
                    "errorMessage": str(error),
                    "requestId": context.aws_request_id,
                    "stackTrace": traceback.format_tb(error.__traceback__),
                }
                failure = Invocation(
                    function.name, event, error_type=type(error).__name__, error_message=str(error)
                )
                self.invocations.append(failure)
                return payload, True
            self.invocations.append(Invocation(function.name, event, result=result))
            return result, False

    def _foreign_variables(self, function: LocalFunction) -> set[str]:
        """Other registered functions' variables that this one does not have: unset while it runs
        (a nested invocation, stream_match under process_snapshot's writer, must not see its
        caller's environment; on AWS it has a process of its own)."""
        others = {name for other in self._functions.values() for name in other.environment}
        return others - set(function.environment)

    @contextmanager
    def installed(self) -> Iterator[LambdaRuntime]:
        """Serve moto's Lambda Invoke (no-Docker backend) from this runtime until the block ends."""
        from moto.awslambda_simple.models import LambdaSimpleBackend

        runtime = self
        original = LambdaSimpleBackend.invoke

        def invoke(
            backend: Any,
            function_name: str,
            qualifier: str | None,
            body: Any,
            headers: Any,
            response_headers: Any,
        ) -> bytes:
            # Unknown to moto → moto's own ResourceNotFoundException, as on AWS.
            deployed = backend.get_function(function_name, qualifier)
            event = json.loads(body) if body else {}
            try:
                result, failed = runtime.invoke(function_name, event, invoked_arn=deployed.function_arn)
            except FunctionNotRegistered as error:
                result, failed = {"errorType": "Runtime.HandlerNotFound", "errorMessage": str(error)}, True
            if failed:
                response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps(result).encode("utf-8")

        LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign,assignment]
        try:
            yield self
        finally:
            LambdaSimpleBackend.invoke = original  # type: ignore[method-assign]


@contextmanager
def _environment(variables: Mapping[str, str], foreign: Iterable[str] = ()) -> Iterator[None]:
    """Apply a function's environment (and unset `foreign` names) for one invocation, then put
    the process's back.

    On AWS every function has its own process; here they share one, so what a process would
    start without is reset around each call: cached settings and the logger's appended keys.
    """
    with patched_environ(variables, removed=foreign):
        _reset_process_state()
        try:
            yield
        finally:
            _reset_process_state()


def _reset_process_state() -> None:
    ensure_functions_importable()
    from smartdoor.observability import logger
    from smartdoor.settings import reset_settings_cache

    reset_settings_cache()
    logger.clear_state()
