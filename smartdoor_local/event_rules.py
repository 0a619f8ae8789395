"""EventBridge on moto, completed: rules start Step Functions executions, and the bus is recorded.

moto matches rules' event patterns but delivers only to a few target types (SQS, logs, other
buses), not to state machines or Lambda functions. `EventDelivery.installed()` adds what the
CDK stack relies on: a rule whose target is a state machine starts an execution with the whole
event as input, as EventBridge does (the execution name is random; the event's `time` is
ISO-8601 UTC); a rule whose target is a Lambda function invokes it asynchronously (one worker
thread, in order), as EventBridge does (S3's "Object Created" -> process_snapshot). It also
records every event accepted on the bus, in order, for the console, the executions view and
`smartdoor replay`:

    {"id": ..., "time": "2026-11-21T20:00:00Z", "source": "smartdoor", "detail-type": "...",
     "detail": {...}, "eventBusName": "smartdoor"}
"""

from __future__ import annotations

import copy
import json
import queue
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from smartdoor.observability import logger

BusListener = Callable[[dict[str, Any]], None]
FunctionInvoker = Callable[[str, dict[str, Any]], None]
"""(function name or ARN, event): runs the function; raising means the delivery failed."""


def iso_time(value: Any) -> str:
    """EventBridge's `time`: ISO-8601 UTC to the second (moto keeps epoch seconds)."""
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def _is_state_machine(arn: str) -> bool:
    parts = arn.split(":")
    return len(parts) >= 7 and parts[2] == "states" and parts[5] == "stateMachine"


def _is_function(arn: str) -> bool:
    parts = arn.split(":")
    return len(parts) >= 7 and parts[2] == "lambda" and parts[5] == "function"


class EventDelivery:
    """Delivers rule matches to state machines and keeps the bus's history. Thread-safe."""

    def __init__(self, bus_name: str, invoke_function: FunctionInvoker | None = None) -> None:
        self.bus_name = bus_name
        self._events: list[dict[str, Any]] = []
        self._listeners: list[BusListener] = []
        self._lock = threading.Lock()
        self._invoke_function = invoke_function
        self._invocations: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue()
        self._worker: threading.Thread | None = None
        self.started: list[tuple[str, str]] = []  # (state machine ARN, execution ARN)
        self.failed_deliveries: list[str] = []

    def events(self, detail_type: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self._events if detail_type is None or e["detail-type"] == detail_type]

    def subscribe(self, listener: BusListener) -> None:
        self._listeners.append(listener)

    def _record(self, entry: dict[str, Any], event_id: str) -> None:
        name = entry.get("EventBusName") or "default"
        if name.split("/")[-1] != self.bus_name:
            return
        recorded = {
            "id": event_id,
            "time": iso_time(entry.get("Time") or datetime.now(UTC).timestamp()),
            "source": entry.get("Source"),
            "detail-type": entry.get("DetailType"),
            "detail": json.loads(entry["Detail"]),
            "eventBusName": self.bus_name,
        }
        with self._lock:
            self._events.append(recorded)
        for listener in list(self._listeners):
            listener(recorded)

    def _start_execution(self, state_machine_arn: str, event: dict[str, Any]) -> None:
        from moto.stepfunctions.responses import get_backend

        parts = state_machine_arn.split(":")
        region, account = parts[3], parts[4]
        payload = {key: value for key, value in event.items() if key != "ingestion-time"}
        payload["time"] = iso_time(payload.get("time"))
        try:
            execution = get_backend(account, region).start_execution(
                state_machine_arn, name=str(uuid.uuid4()), execution_input=json.dumps(payload)
            )
        except Exception as error:  # EventBridge would retry, then dead-letter; say so loudly
            logger.error(
                "Rule target not started",
                extra={"state_machine": state_machine_arn, "error": type(error).__name__},
            )
            self.failed_deliveries.append(state_machine_arn)
            return
        self.started.append((state_machine_arn, execution.execution_arn))

    def _invoke_later(self, function_arn: str, event: dict[str, Any]) -> None:
        if self._invoke_function is None:
            self.failed_deliveries.append(function_arn)
            return
        with self._lock:
            if self._worker is None:
                self._worker = threading.Thread(
                    target=self._work, name="smartdoor-event-targets", daemon=True
                )
                self._worker.start()
        self._invocations.put((function_arn, event))

    def _work(self) -> None:
        while True:
            job = self._invocations.get()
            if job is None:
                return
            function_arn, event = job
            try:
                assert self._invoke_function is not None
                self._invoke_function(function_arn, event)
            except Exception as error:  # EventBridge would retry, then dead-letter; say so loudly
                logger.error(
                    "Rule target failed", extra={"function": function_arn, "error": type(error).__name__}
                )
                self.failed_deliveries.append(function_arn)

    def drain(self, timeout: float = 30.0) -> None:
        """Finish the queued function invocations, then stop the worker."""
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            self._invocations.put(None)
            worker.join(timeout=timeout)

    @contextmanager
    def installed(self) -> Iterator[EventDelivery]:
        from moto.events.models import EventsBackend, Rule

        delivery = self
        original_send = Rule.send_to_targets
        original_put = EventsBackend.put_events

        def send_to_targets(rule: Any, original_event: Any, transform_input: bool = True) -> None:
            machines = [t for t in rule.targets if _is_state_machine(t["Arn"])]
            functions = [t for t in rule.targets if _is_function(t["Arn"])]
            others = [t for t in rule.targets if t not in machines and t not in functions]
            if others:  # moto's own targets (it refuses the kinds it does not know)
                view = copy.copy(rule)
                view.targets = others
                original_send(view, original_event, transform_input)
            if (machines or functions) and rule.event_pattern.matches_event(original_event):
                for target in machines:
                    delivery._start_execution(target["Arn"], dict(original_event))
                for target in functions:
                    event = {k: v for k, v in dict(original_event).items() if k != "ingestion-time"}
                    event["time"] = iso_time(event.get("time"))
                    delivery._invoke_later(target["Arn"], event)

        def put_events(backend: Any, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
            entries: list[dict[str, Any]] = original_put(backend, events)
            for entry, result in zip(events, entries, strict=False):
                if "EventId" in result:
                    delivery._record(entry, result["EventId"])
            return entries

        Rule.send_to_targets = send_to_targets  # type: ignore[method-assign,assignment]
        EventsBackend.put_events = put_events  # type: ignore[method-assign,assignment]
        try:
            yield self
        finally:
            Rule.send_to_targets = original_send  # type: ignore[method-assign]
            EventsBackend.put_events = original_put  # type: ignore[method-assign]
