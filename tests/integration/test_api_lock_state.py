"""GET /doors/{doorId}/lock/{commandId}: the door page asks what the lock answered (real API
handler on moto; the command recorded by a real unlock, the answer by the real lock-states adapter)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from smartdoor.adapters.lock_store import DynamoLockStates
from smartdoor.settings import reset_settings_cache
from tests.e2e.api_world import DOOR_ID, ApiWorld
from tests.integration.test_api_unlock import LOCK_STATES, lock_states_table

UNLOCK = f"/doors/{DOOR_ID}/unlock"


def lock_path(command_id: str, door: str = DOOR_ID) -> str:
    return f"/doors/{door}/lock/{command_id}"


@pytest.fixture
def with_lock(world: ApiWorld, monkeypatch: pytest.MonkeyPatch) -> DynamoLockStates:
    monkeypatch.setenv("LOCK_KIND", "iot")
    monkeypatch.setenv("LOCK_STATES_TABLE", LOCK_STATES)
    reset_settings_cache()
    lock_states_table()
    return DynamoLockStates(LOCK_STATES)


def open_door(world: ApiWorld) -> str:
    world.add_visitor("visitor-ada", "Ada Lovelace")
    answer = world.call("POST", UNLOCK, {"otp": world.issue_code("visitor-ada")})
    assert answer.status == 200 and answer.body["lock"] == "pending"
    return str(answer.body["commandId"])


def test_the_page_sees_pending_then_what_the_lock_reported(
    world: ApiWorld, with_lock: DynamoLockStates
) -> None:
    # GIVEN a right code typed at a door with a lock
    command_id = open_door(world)
    # WHEN the page asks at once THEN the lock has not answered yet
    first = world.call("GET", lock_path(command_id))
    assert first.status == 200
    assert first.body["state"] == "pending"
    # WHEN the device reports it opened for this command THEN the page sees unlocked
    assert with_lock.record_report(
        command_id=command_id, door_id=DOOR_ID, state="unlocked", at="2026-12-04T18:00:02Z"
    )
    assert world.call("GET", lock_path(command_id)).body == {
        "state": "unlocked",
        "updatedAt": "2026-12-04T18:00:02Z",
    }


@pytest.mark.parametrize(
    "path",
    [
        lock_path(str(uuid.uuid4())),  # a well-formed id that is no command
        lock_path("not-a-uuid"),
        lock_path("00000000-0000-1000-8000-000000000000"),  # a uuid1, never ours
    ],
)
def test_an_unknown_command_is_404(world: ApiWorld, with_lock: DynamoLockStates, path: str) -> None:
    answer = world.call("GET", path)
    assert (answer.status, answer.body) == (404, {"error": "not found"})


def test_another_doors_path_does_not_show_this_doors_command(
    world: ApiWorld, with_lock: DynamoLockStates
) -> None:
    command_id = open_door(world)
    assert world.call("GET", lock_path(command_id, door="garage")).status == 404
    with_lock.record_pending(
        command_id=(other := str(uuid.uuid4())),
        door_id="garage",
        visit_id="garage-1",
        via="iot",
        now=datetime.now(UTC),
    )
    assert world.call("GET", lock_path(other)).status == 404


def test_without_a_lock_there_is_no_command_to_show(world: ApiWorld) -> None:
    world.add_visitor("visitor-ada", "Ada Lovelace")
    answer = world.call("POST", UNLOCK, {"otp": world.issue_code("visitor-ada")})
    assert answer.body["lock"] == "none"
    assert world.call("GET", lock_path(str(answer.body["commandId"]))).status == 404
