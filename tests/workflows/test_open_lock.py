"""The lock's workflows on moto's Step Functions with the real handlers (docs/door.md).

open_lock_iot runs whole: the real lock_command publishes through moto's IoT data plane, the
device's report goes through the real lock_state (as the topic rule delivers it), the Wait
lasts until the command's expiresAt. moto cannot run an HTTP Task, so open_lock_webhook runs
with that one state standing in for the lock's answer (2xx, or the error a refusal raises);
its Parameters are checked against the documented shape in test_task_parameters.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto.iotdata.models import iotdata_backends

from smartdoor.adapters.lock_store import DynamoLockStates
from smartdoor_local.emulation.deploy import Deployer
from smartdoor_local.emulation.resources import local_deployment, stem
from tests.workflows.conftest import (
    ACCOUNT,
    DOOR_ID,
    REGION,
    VIDEO_STREAM_ARN,
    SmartDoorOnMoto,
    door_on_moto,
    eventbridge_event,
    world_context,
)

VISIT = f"{DOOR_ID}-1800000000000"
WEBHOOK_CONTEXT = {
    "lockWebhookUrl": "https://home.example.com/api/webhook/smartdoor",
    "lockWebhookSecretName": "smartdoor/lock-webhook-key",
}
TELL_THE_LOCK = "Ask the lock to open"


def deployer(**lock: str) -> Deployer:
    model, refs = local_deployment(
        {**world_context(), **lock}, REGION, ACCOUNT, video_stream_arn=VIDEO_STREAM_ARN
    )
    return Deployer(model, refs)


@pytest.fixture
def iot_door() -> Iterator[SmartDoorOnMoto]:
    with door_on_moto(deployer(lockIot="true")) as deployment:
        yield deployment


@pytest.fixture
def webhook_door() -> Iterator[SmartDoorOnMoto]:
    with door_on_moto(deployer(**WEBHOOK_CONTEXT)) as deployment:
        yield deployment


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def lock_states_table_name(door: SmartDoorOnMoto) -> str:
    (logical_id,) = [t.logical_id for t in door.model.tables() if stem(t.logical_id) == "StorageLockStates"]
    return door.deployer.refs.refs[logical_id]


def lock_states(door: SmartDoorOnMoto) -> DynamoLockStates:
    return DynamoLockStates(lock_states_table_name(door))


# Long enough for the test's device to answer while the workflow waits, on a busy machine.
ANSWER_WINDOW_SECONDS = 8


def unlocked(
    door: SmartDoorOnMoto, *, valid_seconds: int = ANSWER_WINDOW_SECONDS, via: str = "iot"
) -> dict[str, Any]:
    """What the unlock API does on a right code: the command recorded pending, DoorUnlocked's event."""
    now = datetime.now(UTC)
    command_id = str(uuid.uuid4())
    lock_states(door).record_pending(command_id=command_id, door_id=DOOR_ID, visit_id=VISIT, via=via, now=now)
    detail = {
        "version": "1",
        "visitId": VISIT,
        "doorId": DOOR_ID,
        "visitorId": "visitor-ada",
        "unlockedAt": iso(now),
        "commandId": command_id,
        "expiresAt": iso(now + timedelta(seconds=valid_seconds)),
    }
    return eventbridge_event("DoorUnlocked", detail)


def published() -> list[tuple[str, dict[str, Any]]]:
    backend = iotdata_backends[ACCOUNT][REGION]
    return [(topic, json.loads(payload)) for topic, payload in backend.published_payloads]


def device_reports(door: SmartDoorOnMoto, report: dict[str, Any]) -> Any:
    """What the state topic rule does with the device's report: invoke lock_state with it."""
    name = door.deployer.refs.refs[door.model.function("lock_state").logical_id]
    result, failed = door.runtime.invoke(name, report)
    assert not failed, result
    return result


def wait_until_published(door: SmartDoorOnMoto, execution: str) -> dict[str, Any]:
    from smartdoor_local.workflows import wait_for_event

    wait_for_event(door.sfn, execution, "WaitStateEntered")
    ((topic, command),) = published()
    assert topic == f"smartdoor/{DOOR_ID}/commands"
    return command


# ---------------------------------------------------------------------------- IoT


def test_the_relay_opens_and_reports_it_so_the_workflow_succeeds(iot_door: SmartDoorOnMoto) -> None:
    # GIVEN a right code at a door with an IoT relay
    event = unlocked(iot_door)
    detail = event["detail"]
    # WHEN DoorUnlocked starts the lock's workflow and the device answers the command it got
    execution = iot_door.start("open_lock_iot", event)
    command = wait_until_published(iot_door, execution)
    assert command == {
        "commandId": detail["commandId"],
        "action": "unlock",
        "doorId": DOOR_ID,
        "visitId": VISIT,
        "unlockSeconds": 5,
        "issuedAt": detail["unlockedAt"],
        "expiresAt": detail["expiresAt"],
    }
    report = {
        "doorId": DOOR_ID,
        "state": "unlocked",
        "commandId": command["commandId"],
        "at": iso(datetime.now(UTC)),
    }
    assert device_reports(iot_door, report) == {"recorded": True}
    finished = iot_door.finish(execution)
    # THEN the door opened: the page reads unlocked, nobody was emailed
    assert finished.status == "SUCCEEDED", finished.states
    assert finished.states[-1] == "The door opened"
    assert lock_states(iot_door).get(detail["commandId"])["state"] == "unlocked"  # type: ignore[index]
    assert iot_door.emails() == []


def test_a_relay_that_never_answers_tells_the_owner_and_fails(iot_door: SmartDoorOnMoto) -> None:
    # GIVEN a right code, and a door agent that is offline
    event = unlocked(iot_door, valid_seconds=2)
    command_id = event["detail"]["commandId"]
    # WHEN the command's life ends without a report
    finished = iot_door.finish(iot_door.start("open_lock_iot", event))
    # THEN the execution fails (the alarm's signal), the page reads no-answer, the owner is emailed
    assert finished.status == "FAILED"
    assert finished.description.get("error") == "LockDidNotAnswer"
    assert finished.states[-3:] == [
        "Mark the command unanswered",
        "Tell the owner the door did not open",
        "The door did not open",
    ]
    assert lock_states(iot_door).get(command_id)["state"] == "no-answer"  # type: ignore[index]
    (email,) = iot_door.emails()
    assert email.subject == "Smart Door: the door did not open"
    assert DOOR_ID in email.body and command_id in email.body


def test_a_report_already_relocked_for_this_command_still_counts_as_opened(iot_door: SmartDoorOnMoto) -> None:
    event = unlocked(iot_door)
    execution = iot_door.start("open_lock_iot", event)
    command = wait_until_published(iot_door, execution)
    for state in ("unlocked", "locked"):  # opened for unlockSeconds, relocked before the wait ended
        device_reports(iot_door, {"doorId": DOOR_ID, "state": state, "commandId": command["commandId"]})
    assert iot_door.finish(execution).status == "SUCCEEDED"
    assert iot_door.emails() == []


def test_a_second_delivery_of_door_unlocked_sends_nothing_again(iot_door: SmartDoorOnMoto) -> None:
    # GIVEN EventBridge delivered the same DoorUnlocked twice
    event = unlocked(iot_door, valid_seconds=2)
    first = iot_door.start("open_lock_iot", event)
    wait_until_published(iot_door, first)
    second = iot_door.finish(iot_door.start("open_lock_iot", event))
    # THEN the second execution ends at once and the lock got one command
    assert second.status == "SUCCEEDED"
    assert second.states == ["Claim the command", "Duplicate delivery ignored"]
    assert len(published()) == 1
    iot_door.finish(first)


def test_a_command_already_expired_is_not_sent_and_the_owner_is_told(iot_door: SmartDoorOnMoto) -> None:
    # GIVEN a DoorUnlocked delivered after its command expired (EventBridge retries, a backlog)
    event = unlocked(iot_door, valid_seconds=-1)
    finished = iot_door.finish(iot_door.start("open_lock_iot", event))
    assert finished.status == "FAILED"
    assert finished.failures_of("Tell the lock to open") == ["CommandExpired"]
    assert published() == []
    assert lock_states(iot_door).get(event["detail"]["commandId"])["state"] == "no-answer"  # type: ignore[index]
    assert len(iot_door.emails()) == 1


def test_only_this_doors_unlocks_start_the_lock_workflow(iot_door: SmartDoorOnMoto) -> None:
    event = unlocked(iot_door)
    assert iot_door.rule_starts("open_lock_iot", event)
    other = {**event, "detail": {**event["detail"], "doorId": "garage"}}
    assert not iot_door.rule_starts("open_lock_iot", other)


# ---------------------------------------------------------------------------- webhook


def start_with_lock_answer(door: SmartDoorOnMoto, event: dict[str, Any], answer: dict[str, Any]) -> str:
    """The webhook workflow as deployed, but for its HTTP Task: `answer` stands in for it (a Pass
    with the lock's response, or a Fail with the error the HTTP Task raises)."""
    machine = door.deployer.state_machine("open_lock_webhook")
    definition = json.loads(machine.rendered(door.deployer.intrinsics))
    http = definition["States"][TELL_THE_LOCK]
    assert http["Resource"] == "arn:aws:states:::http:invoke"
    if "error" in answer:
        definition["States"][TELL_THE_LOCK] = {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "no-such-function"},
            "Catch": http["Catch"],
            "Next": http["Next"],
        }
    else:
        definition["States"][TELL_THE_LOCK] = {
            "Type": "Pass",
            "Result": answer,
            "ResultSelector": http["ResultSelector"],
            "ResultPath": http["ResultPath"],
            "Next": http["Next"],
        }
    arn = door.sfn.create_state_machine(
        name=f"webhook-{uuid.uuid4().hex[:8]}",
        definition=json.dumps(definition),
        roleArn=door.deployer.role_arn() if hasattr(door.deployer, "role_arn") else door._role_arn,
        type="STANDARD",
    )["stateMachineArn"]
    door.state_machines[arn] = arn
    assert door.rule_starts("open_lock_webhook", event)
    execution = door.sfn.start_execution(
        stateMachineArn=arn, name=f"open-lock-{uuid.uuid4().hex[:12]}", input=json.dumps(event)
    )
    return str(execution["executionArn"])


def dead_letters(door: SmartDoorOnMoto) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name=REGION)
    (logical_id,) = [
        logical_id
        for logical_id in door.model.of_type("AWS::SQS::Queue")
        if stem(logical_id) == "LockWebhookDeadLetters"
    ]
    url = sqs.get_queue_url(QueueName=door.deployer.refs.refs[f"{logical_id}.QueueName"])["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def test_a_webhook_that_answers_2xx_marks_the_command_unlocked(webhook_door: SmartDoorOnMoto) -> None:
    event = unlocked(webhook_door, via="webhook")
    execution = start_with_lock_answer(webhook_door, event, {"StatusCode": 200, "ResponseBody": {}})
    finished = webhook_door.finish(execution)
    assert finished.status == "SUCCEEDED", [
        str(e.get("taskFailedEventDetails")) for e in finished.history if "Failed" in e["type"]
    ]
    assert lock_states(webhook_door).get(event["detail"]["commandId"])["state"] == "unlocked"  # type: ignore[index]
    assert webhook_door.emails() == []
    assert dead_letters(webhook_door) == []


def test_a_webhook_that_never_answers_2xx_is_kept_and_the_owner_told(webhook_door: SmartDoorOnMoto) -> None:
    event = unlocked(webhook_door, via="webhook")
    execution = start_with_lock_answer(webhook_door, event, {"error": "States.Http.StatusCode.503"})
    finished = webhook_door.finish(execution)
    assert finished.status == "FAILED"
    assert finished.description.get("error") == "LockDidNotAnswer"
    assert lock_states(webhook_door).get(event["detail"]["commandId"])["state"] == "no-answer"  # type: ignore[index]
    (kept,) = dead_letters(webhook_door)
    assert kept["detail"] == event["detail"]  # the body the lock never took, no secret in it
    (email,) = webhook_door.emails()
    assert email.subject == "Smart Door: the door did not open"
