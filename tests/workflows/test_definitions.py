"""The ASL files themselves: valid JSON with exactly the documented placeholders, rendered the
way CloudFormation renders them, and the rules every state machine follows (every Task retries
transient errors and catches the rest, nothing waits forever, every state is reachable)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from smartdoor_local.workflows import (
    UnresolvedPlaceholder,
    placeholders,
    render_definition,
    workflow_path,
)

WORKFLOWS = ("unknown_visitor", "known_visitor")
# docs/internals.md, "Workflows": the substitutions the CDK construct passes.
DOCUMENTED_PLACEHOLDERS = {
    "VisitsTableName",
    "VisitorsTableName",
    "ApprovalsTableName",
    "AlertsTopicArn",
    "EventBusName",
    "ExtractFrameFunctionArn",
    "CheckCollectionFunctionArn",
    "CreateApprovalFunctionArn",
    "AskOwnerFunctionArn",
    "EnrolFaceFunctionArn",
    "SaveVisitorFunctionArn",
    "IssuePasscodeFunctionArn",
}
LAMBDA_TRANSIENT = {
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "TransientError",
}
NEVER_RETRIED = {"States.ALL", "States.Timeout", "States.HeartbeatTimeout", "States.TaskFailed"}
FAILURE_ALERT = "Alert owner: workflow failed"


def definition(workflow: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(workflow_path(workflow).read_text(encoding="utf-8"))
    return loaded


def tasks(workflow: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in definition(workflow)["States"].items():
        if state["Type"] == "Task":
            yield name, state


def all_tasks() -> list[tuple[str, str, dict[str, Any]]]:
    return [(workflow, name, state) for workflow in WORKFLOWS for name, state in tasks(workflow)]


def task_id(value: Any) -> str:
    return value if isinstance(value, str) else ""


def successors(state: dict[str, Any]) -> set[str]:
    nexts = {state["Next"]} if "Next" in state else set()
    nexts |= {choice["Next"] for choice in state.get("Choices", [])}
    nexts |= {state["Default"]} if "Default" in state else set()
    nexts |= {catcher["Next"] for catcher in state.get("Catch", [])}
    return nexts


def assert_every_state_is_reachable(workflow: str, asl: dict[str, Any]) -> None:
    """Every transition names a state, and every state is reached from StartAt."""
    states = asl["States"]
    reached: set[str] = set()
    frontier = [asl["StartAt"]]
    while frontier:
        name = frontier.pop()
        assert name in states, f"{workflow}: transition to a missing state {name!r}"
        if name not in reached:
            reached.add(name)
            frontier.extend(successors(states[name]))
    assert reached == set(states)


@pytest.mark.parametrize("workflow", WORKFLOWS)
def test_the_file_is_json_with_only_documented_placeholders(workflow: str) -> None:
    text = workflow_path(workflow).read_text(encoding="utf-8")
    json.loads(text)
    assert placeholders(text) <= DOCUMENTED_PLACEHOLDERS
    assert placeholders(text), "a workflow always names its tables and functions through substitutions"


def test_together_the_workflows_use_every_documented_placeholder() -> None:
    used = set().union(*(placeholders(workflow_path(w).read_text(encoding="utf-8")) for w in WORKFLOWS))
    assert used == DOCUMENTED_PLACEHOLDERS


def test_rendering_replaces_every_placeholder_and_refuses_a_missing_one() -> None:
    values = {name: f"value-of-{name}" for name in DOCUMENTED_PLACEHOLDERS}
    rendered = render_definition(workflow_path("unknown_visitor"), values)
    assert "${" not in rendered
    assert (
        json.loads(rendered)["States"]["Claim visit"]["Parameters"]["TableName"] == "value-of-VisitsTableName"
    )
    without_visits = {name: value for name, value in values.items() if name != "VisitsTableName"}
    with pytest.raises(UnresolvedPlaceholder, match="VisitsTableName"):
        render_definition(workflow_path("unknown_visitor"), without_visits)


@pytest.mark.parametrize(("workflow", "name", "state"), all_tasks(), ids=lambda v: task_id(v))
def test_every_task_retries_transient_errors_only(workflow: str, name: str, state: dict[str, Any]) -> None:
    retriers = state.get("Retry", [])
    assert retriers, f"{workflow}: {name!r} has no Retry"
    retried = {error for retrier in retriers for error in retrier["ErrorEquals"]}
    assert not retried & NEVER_RETRIED, f"{name!r} retries {retried & NEVER_RETRIED}"
    if state["Resource"].startswith("arn:aws:states:::lambda:invoke"):
        assert retried >= LAMBDA_TRANSIENT, f"{name!r} misses {LAMBDA_TRANSIENT - retried}"
    for retrier in retriers:
        assert retrier.get("BackoffRate", 1) > 1 and retrier["MaxAttempts"] >= 3


@pytest.mark.parametrize(("workflow", "name", "state"), all_tasks(), ids=lambda v: task_id(v))
def test_every_task_catches_everything_else(workflow: str, name: str, state: dict[str, Any]) -> None:
    catchers = state.get("Catch", [])
    assert catchers and catchers[-1]["ErrorEquals"] == ["States.ALL"], f"{name!r} lets errors escape"
    states = definition(workflow)["States"]
    final = catchers[-1]["Next"]
    if name == FAILURE_ALERT or name.startswith("Alert owner"):
        assert states[final]["Type"] == "Fail"
    else:
        assert final == FAILURE_ALERT
        assert states[FAILURE_ALERT]["Next"] == "Workflow failed"
        assert "$$.Execution.Name" in states[FAILURE_ALERT]["Parameters"]["Message.$"]


@pytest.mark.parametrize("workflow", WORKFLOWS)
def test_nothing_waits_forever(workflow: str) -> None:
    asl = definition(workflow)
    assert 0 < asl["TimeoutSeconds"] <= 25 * 3600  # the longest approval is 24 h (cdk_app/config.py)
    for name, state in tasks(workflow):
        if state["Resource"].endswith(".waitForTaskToken"):
            assert "TimeoutSecondsPath" in state or "TimeoutSeconds" in state, name
            caught = {error for catcher in state["Catch"] for error in catcher["ErrorEquals"]}
            assert {"States.Timeout", "States.HeartbeatTimeout"} <= caught
        elif state["Resource"].startswith("arn:aws:states:::lambda:"):
            assert state["TimeoutSeconds"] <= 300, name


@pytest.mark.parametrize("workflow", WORKFLOWS)
def test_every_state_is_reachable_and_every_target_exists(workflow: str) -> None:
    assert_every_state_is_reachable(workflow, definition(workflow))


def test_the_unknown_visitor_workflow_ends_in_the_named_outcomes() -> None:
    states = definition("unknown_visitor")["States"]
    succeeds = {name for name, state in states.items() if state["Type"] == "Succeed"}
    assert succeeds == {
        "AccessCodeSent",
        "Denied",
        "Expired",
        "Duplicate delivery ignored",
        "Recognised on second look",
        "No clear face captured",
        "No usable face to enrol",
    }


def test_the_known_visitor_workflow_never_loads_the_phone() -> None:
    load = definition("known_visitor")["States"]["Load visitor"]["Parameters"]
    assert load["ProjectionExpression"] == "visitorId, #n"
    assert load["ExpressionAttributeNames"] == {"#n": "name"}


def test_the_owner_is_resumed_only_by_task_token_never_with_the_token_in_a_message() -> None:
    states = definition("unknown_visitor")["States"]
    wait = states["Wait for owner's decision"]
    assert wait["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    assert wait["Parameters"]["Payload"]["taskToken.$"] == "$$.Task.Token"
    assert wait["TimeoutSecondsPath"] == "$.approval.timeoutSeconds"
    for name, state in states.items():
        if state.get("Resource") == "arn:aws:states:::sns:publish":
            assert "Token" not in json.dumps(state["Parameters"]), name
