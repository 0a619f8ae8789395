"""The lock's ASL files themselves (workflows/open_lock_*.asl.json): exactly the placeholders the
Lock construct substitutes, every Task retries transient errors and catches the rest into the
"did not open" ending, every state reachable, and the webhook's retries fit a command's life."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cdk_app.config import SmartDoorConfig
from smartdoor_local.workflows import placeholders, workflow_path
from tests.workflows.test_definitions import LAMBDA_TRANSIENT, NEVER_RETRIED, assert_every_state_is_reachable

PLACEHOLDERS = {
    "open_lock_iot": {"LockStatesTableName", "LockCommandFunctionArn", "AlertsTopicArn"},
    "open_lock_webhook": {
        "LockStatesTableName",
        "AlertsTopicArn",
        "LockWebhookUrl",
        "LockConnectionArn",
        "LockDeadLettersQueueUrl",
    },
}
DID_NOT_OPEN = "The door did not open"


def definition(workflow: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(workflow_path(workflow).read_text(encoding="utf-8"))
    return loaded


def tasks() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (workflow, name, state)
        for workflow in PLACEHOLDERS
        for name, state in definition(workflow)["States"].items()
        if state["Type"] == "Task"
    ]


@pytest.mark.parametrize("workflow", sorted(PLACEHOLDERS))
def test_the_file_names_exactly_what_the_lock_construct_substitutes(workflow: str) -> None:
    assert placeholders(workflow_path(workflow).read_text(encoding="utf-8")) == PLACEHOLDERS[workflow]


@pytest.mark.parametrize(
    ("workflow", "name", "state"), tasks(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_every_task_retries_transient_errors_and_catches_the_rest(
    workflow: str, name: str, state: dict[str, Any]
) -> None:
    retriers = state.get("Retry", [])
    assert retriers, f"{workflow}: {name!r} has no Retry"
    retried = {error for retrier in retriers for error in retrier["ErrorEquals"]}
    assert not retried & (NEVER_RETRIED - {"States.Timeout"}), name
    if state["Resource"].startswith("arn:aws:states:::lambda:invoke"):
        assert retried >= LAMBDA_TRANSIENT
        assert state["TimeoutSeconds"] <= 60
    for retrier in retriers:
        assert retrier["BackoffRate"] > 1 and retrier["MaxAttempts"] >= 3
    catchers = state.get("Catch", [])
    assert catchers and catchers[-1]["ErrorEquals"] == ["States.ALL"], f"{name!r} lets errors escape"


@pytest.mark.parametrize("workflow", sorted(PLACEHOLDERS))
def test_every_failure_ends_in_the_owners_email_and_the_failed_execution(workflow: str) -> None:
    asl = definition(workflow)
    states = asl["States"]
    assert 0 < asl["TimeoutSeconds"] <= 900
    assert states[DID_NOT_OPEN]["Type"] == "Fail"
    assert states["Tell the owner the door did not open"]["Next"] == DID_NOT_OPEN
    assert_every_state_is_reachable(workflow, asl)
    # From any caught failure, the path to the end passes the owner's email.
    for name, state in states.items():
        for catcher in state.get("Catch", []):
            path, current = [], catcher["Next"]
            while "Next" in states[current]:
                path.append(current)
                current = states[current]["Next"]
            assert current in {DID_NOT_OPEN, "The door opened", "Duplicate delivery ignored"}, name
            if current == DID_NOT_OPEN:
                assert (
                    "Tell the owner the door did not open" in path
                    or name == "Tell the owner the door did not open"
                )


def test_the_webhooks_attempts_fit_in_the_shortest_command_life() -> None:
    # GIVEN the HTTP Task's timeout and retries, at their longest (full jitter never waits more)
    http = definition("open_lock_webhook")["States"]["Ask the lock to open"]
    (retrier,) = http["Retry"]
    attempts = 1 + retrier["MaxAttempts"]
    waits = sum(
        min(retrier["IntervalSeconds"] * retrier["BackoffRate"] ** n, retrier["MaxDelaySeconds"])
        for n in range(retrier["MaxAttempts"])
    )
    longest = attempts * http["TimeoutSeconds"] + waits
    # THEN the last attempt starts before the shortest lockCommandSeconds the config allows ends
    shortest = SmartDoorConfig.model_fields["lock_command_seconds"].metadata
    minimum = next(m.ge for m in shortest if hasattr(m, "ge"))
    assert longest - http["TimeoutSeconds"] < minimum, (longest, minimum)


def test_the_webhook_body_is_the_documented_one_and_carries_no_secret() -> None:
    http = definition("open_lock_webhook")["States"]["Ask the lock to open"]
    parameters = http["Parameters"]
    assert http["Resource"] == "arn:aws:states:::http:invoke"
    assert (parameters["Method"], parameters["ApiEndpoint"]) == ("POST", "${LockWebhookUrl}")
    # docs/door.md, "A webhook": exactly these fields, each from DoorUnlocked's detail
    assert parameters["RequestBody"] == {
        f"{name}.$": f"$.detail.{name}"
        for name in ("doorId", "visitId", "visitorId", "unlockedAt", "expiresAt", "commandId")
    }
    # the key travels only through the connection (its secret), never in the definition
    assert parameters["Authentication"] == {"ConnectionArn": "${LockConnectionArn}"}
    assert parameters["Headers"] == {"Content-Type": "application/json"}


def test_the_iot_command_is_built_from_door_unlocked_and_waits_until_it_expires() -> None:
    states = definition("open_lock_iot")["States"]
    payload = states["Tell the lock to open"]["Parameters"]["Payload"]
    assert payload == {
        "commandId.$": "$.detail.commandId",
        "doorId.$": "$.detail.doorId",
        "visitId.$": "$.detail.visitId",
        "issuedAt.$": "$.detail.unlockedAt",
        "expiresAt.$": "$.detail.expiresAt",
    }
    assert states["Wait for the lock's answer"] == {
        **states["Wait for the lock's answer"],
        "Type": "Wait",
        "TimestampPath": "$.detail.expiresAt",
    }
