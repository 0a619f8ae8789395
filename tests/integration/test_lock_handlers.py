"""The lock's Lambdas: lock_command's iot-data Publish checked by botocore's Stubber (the real
IoT data-plane model), and lock_state recording the device's reports in the lock-states table
on moto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from msgspec import ValidationError

from lock_command.handler import WrongDoor
from lock_command.handler import handler as lock_command
from lock_state.handler import handler as lock_state
from smartdoor.adapters.lock_publisher import IotCommandPublisher
from smartdoor.adapters.lock_store import DynamoLockStates
from smartdoor.domain.lock import CommandExpired
from smartdoor.errors import TransientError
from smartdoor.settings import reset_settings_cache
from tests.fakes.lambda_context import FakeLambdaContext

DOOR = "front-door"
COMMAND = "3b0c8d5e-8a4f-4a41-9d1e-5b8f0c6f2a10"
VISIT = "front-door-1800000000000"
NOW = datetime(2026, 11, 21, 20, 0, 0, tzinfo=UTC)
TABLE = "SmartDoor-LockStates"


def command_event(expires_in: int = 30) -> dict[str, Any]:
    return {
        "commandId": COMMAND,
        "doorId": DOOR,
        "visitId": VISIT,
        "issuedAt": "2026-11-21T20:00:00Z",
        "expiresAt": (NOW + timedelta(seconds=expires_in)).isoformat().replace("+00:00", "Z"),
    }


@pytest.fixture
def command_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("DOOR_ID", DOOR)
    monkeypatch.setenv("UNLOCK_SECONDS", "5")
    monkeypatch.setenv("IOT_DATA_ENDPOINT_URL", "https://data-ats.iot.us-east-1.amazonaws.com")
    reset_settings_cache()
    yield
    reset_settings_cache()


@pytest.fixture
def iot_data() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "iot-data", region_name="us-east-1", endpoint_url="https://data-ats.iot.us-east-1.amazonaws.com"
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def send(event: dict[str, Any], client: Any) -> dict[str, Any]:
    """lock_command at NOW, publishing through the stubbed iot-data `client`."""
    publisher = IotCommandPublisher("unused", iot_data_client=client)
    return lock_command(event, FakeLambdaContext(), publisher=publisher, now=NOW)


# ---------------------------------------------------------------------------- lock_command


@pytest.mark.usefixtures("command_env")
def test_the_command_is_published_qos1_on_the_doors_topic_as_the_mqtt_contract_says(
    iot_data: tuple[Any, Stubber],
) -> None:
    client, stubber = iot_data
    sent: dict[str, Any] = {}

    def capture(params: dict[str, Any], **_: Any) -> None:
        sent.update(params)

    client.meta.events.register("provide-client-params.iot-data.Publish", capture)
    stubber.add_response(
        "publish",
        {},
        {
            "topic": "smartdoor/front-door/commands",
            "qos": 1,
            "payload": ANY,
            "contentType": "application/json",
            "messageExpiry": 30,
        },
    )
    # WHEN the workflow asks to tell the lock
    result = send(command_event(), client)
    # THEN one QoS 1 message with the contract's payload (docs/door.md) went to the door's topic
    assert result == {"commandId": COMMAND, "topic": "smartdoor/front-door/commands"}
    assert json.loads(sent["payload"]) == {
        "commandId": COMMAND,
        "action": "unlock",
        "doorId": DOOR,
        "visitId": VISIT,
        "unlockSeconds": 5,
        "issuedAt": "2026-11-21T20:00:00Z",
        "expiresAt": "2026-11-21T20:00:30Z",
    }


@pytest.mark.usefixtures("command_env")
def test_an_expired_command_is_not_sent(iot_data: tuple[Any, Stubber]) -> None:
    client, _ = iot_data  # no response queued: any publish would fail the stubber
    with pytest.raises(CommandExpired):
        send(command_event(expires_in=0), client)


@pytest.mark.usefixtures("command_env")
def test_a_command_for_another_door_is_not_sent(iot_data: tuple[Any, Stubber]) -> None:
    client, _ = iot_data
    with pytest.raises(WrongDoor):
        send({**command_event(), "doorId": "garage"}, client)


@pytest.mark.usefixtures("command_env")
def test_iot_throttling_is_a_transient_error_the_workflow_retries(iot_data: tuple[Any, Stubber]) -> None:
    client, stubber = iot_data
    stubber.add_client_error("publish", service_error_code="ThrottlingException", http_status_code=429)
    with pytest.raises(TransientError):
        send(command_event(), client)


@pytest.mark.usefixtures("command_env")
def test_a_malformed_command_is_refused_before_anything_is_sent(iot_data: tuple[Any, Stubber]) -> None:
    client, _ = iot_data
    with pytest.raises(ValidationError):
        send({**command_event(), "commandId": "no spaces allowed"}, client)


# ---------------------------------------------------------------------------- lock_state


@pytest.fixture
def states(aws: None, monkeypatch: pytest.MonkeyPatch) -> DynamoLockStates:
    monkeypatch.setenv("DOOR_ID", DOOR)
    monkeypatch.setenv("LOCK_STATES_TABLE", TABLE)
    reset_settings_cache()
    boto3.client("dynamodb", region_name="us-east-1").create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "commandId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "commandId", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    store = DynamoLockStates(TABLE)
    store.record_pending(command_id=COMMAND, door_id=DOOR, visit_id=VISIT, via="iot", now=NOW)
    return store


def report(state: str, command_id: str | None = COMMAND, door: str = DOOR) -> dict[str, Any]:
    return {"doorId": door, "state": state, "commandId": command_id, "at": "2026-11-21T20:00:02Z"}


def test_the_devices_unlocked_report_sets_its_commands_state(states: DynamoLockStates) -> None:
    assert states.get(COMMAND) == {"state": "pending", "updatedAt": "2026-11-21T20:00:00Z", "doorId": DOOR}
    assert lock_state(report("unlocked"), FakeLambdaContext()) == {"recorded": True}
    assert states.get(COMMAND) == {"state": "unlocked", "updatedAt": "2026-11-21T20:00:02Z", "doorId": DOOR}
    # AND the relock that follows is recorded too
    assert lock_state({**report("locked"), "at": "2026-11-21T20:00:07Z"}, FakeLambdaContext()) == {
        "recorded": True
    }
    assert states.get(COMMAND) == {"state": "locked", "updatedAt": "2026-11-21T20:00:07Z", "doorId": DOOR}


@pytest.mark.parametrize(
    "event",
    [
        report("locked", command_id=None),  # on connect, or the last will
        report("unlocked", command_id="4c1d9e6f-0000-4000-8000-000000000000"),  # not a command of ours
        report("unlocked", door="garage"),  # another door's report
    ],
)
def test_a_report_naming_no_command_of_this_door_changes_nothing(
    states: DynamoLockStates, event: dict[str, Any]
) -> None:
    assert lock_state(event, FakeLambdaContext()) == {"recorded": False}
    assert states.get(COMMAND) == {"state": "pending", "updatedAt": "2026-11-21T20:00:00Z", "doorId": DOOR}
    assert states.get("4c1d9e6f-0000-4000-8000-000000000000") is None


def test_a_report_with_a_state_the_contract_does_not_have_is_refused(states: DynamoLockStates) -> None:
    with pytest.raises(ValidationError):
        lock_state(report("no-answer"), FakeLambdaContext())
    assert states.get(COMMAND)["state"] == "pending"  # type: ignore[index]
