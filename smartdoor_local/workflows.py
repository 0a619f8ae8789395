"""State machines without AWS: render the ASL files and follow executions on moto.

`render_definition` does what CloudFormation does with a state machine's
DefinitionSubstitutions: every `${Name}` in the file is replaced by its value, and a name with
no value is an error (CloudFormation would leave it in and the deployment would fail later).

Executions run on moto's own threads, so the helpers poll: `wait_for_execution` until it is no
longer RUNNING, `wait_for_state` until a given state has been entered (the approval step).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from smartdoor_local import WORKFLOWS_DIR

PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
DEFAULT_WAIT_SECONDS = 30.0
_POLL_SECONDS = 0.05


class UnresolvedPlaceholder(KeyError):
    """The definition names a `${Placeholder}` that has no substitution."""


class ExecutionStillRunning(TimeoutError):
    """An execution did not reach the awaited point within the wait."""


class ExecutionEndedEarly(RuntimeError):
    """An execution stopped before reaching the awaited state or event."""


def workflow_path(name: str) -> Path:
    """`unknown_visitor` → workflows/unknown_visitor.asl.json."""
    return WORKFLOWS_DIR / f"{name}.asl.json"


def placeholders(definition: str) -> set[str]:
    return set(PLACEHOLDER.findall(definition))


def render_definition(template: str | Path, substitutions: Mapping[str, str]) -> str:
    """The definition with every `${Name}` replaced; the result is checked to be JSON."""
    text = template.read_text(encoding="utf-8") if isinstance(template, Path) else template
    missing = placeholders(text) - set(substitutions)
    if missing:
        raise UnresolvedPlaceholder(f"no value for {', '.join(sorted(missing))}")
    rendered = PLACEHOLDER.sub(lambda match: str(substitutions[match.group(1)]), text)
    json.loads(rendered)
    return rendered


# ---------------------------------------------------------------------- executions


def wait_for_execution(sfn: Any, execution_arn: str, timeout: float = DEFAULT_WAIT_SECONDS) -> dict[str, Any]:
    """DescribeExecution once the execution has stopped (SUCCEEDED, FAILED, TIMED_OUT, ABORTED)."""
    deadline = time.monotonic() + timeout
    while True:
        description: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if description["status"] != "RUNNING":
            return description
        if time.monotonic() >= deadline:
            raise ExecutionStillRunning(f"{execution_arn} still RUNNING after {timeout:.0f}s")
        time.sleep(_POLL_SECONDS)


def execution_history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def states_entered(history: list[dict[str, Any]]) -> list[str]:
    """The names of the states the execution entered, in order (a retried task appears once)."""
    return [
        event["stateEnteredEventDetails"]["name"] for event in history if "stateEnteredEventDetails" in event
    ]


def wait_for_state(
    sfn: Any, execution_arn: str, state_name: str, timeout: float = DEFAULT_WAIT_SECONDS
) -> list[dict[str, Any]]:
    """Block until `state_name` has been entered; returns the history so far.

    For a callback task, wait for its TaskSubmitted too (the Lambda has run and the token is
    stored) with `wait_for_event`.
    """
    deadline = time.monotonic() + timeout
    while True:
        history = execution_history(sfn, execution_arn)
        if state_name in states_entered(history):
            return history
        _stop_waiting_if_done(sfn, execution_arn, f"entering {state_name!r}", history, deadline, timeout)


def wait_for_event(
    sfn: Any,
    execution_arn: str,
    event_type: str,
    after_state: str | None = None,
    timeout: float = DEFAULT_WAIT_SECONDS,
) -> dict[str, Any]:
    """Block until a history event of `event_type` (e.g. "TaskSubmitted") appears, optionally
    only counting those after `after_state` was entered; returns that event."""
    deadline = time.monotonic() + timeout
    while True:
        history = execution_history(sfn, execution_arn)
        started = after_state is None
        for event in history:
            details = event.get("stateEnteredEventDetails")
            if details and details["name"] == after_state:
                started = True
            elif started and event["type"] == event_type:
                return event
        _stop_waiting_if_done(sfn, execution_arn, f"a {event_type} event", history, deadline, timeout)


def _stop_waiting_if_done(
    sfn: Any, execution_arn: str, awaited: str, history: list[dict[str, Any]], deadline: float, timeout: float
) -> None:
    status = sfn.describe_execution(executionArn=execution_arn)["status"]
    if status != "RUNNING":
        visited = states_entered(history)
        raise ExecutionEndedEarly(f"{execution_arn} ended {status} before {awaited}; states: {visited}")
    if time.monotonic() >= deadline:
        raise ExecutionStillRunning(f"{execution_arn} not at {awaited} after {timeout:.0f}s")
    time.sleep(_POLL_SECONDS)
