"""POST /doors/{doorId}/unlock: the real API handler on moto (DynamoDB, Secrets Manager, EventBridge, SNS)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from api.handler import MAX_BODY_BYTES
from smartdoor.adapters.event_bus import RecordingEventBus
from smartdoor.adapters.passcode_store import failures_key
from smartdoor.errors import TransientError
from smartdoor.settings import reset_settings_cache
from tests.e2e.api_world import DOOR_ID, PASSCODES_TABLE, ApiWorld

UNLOCK = f"/doors/{DOOR_ID}/unlock"
STRANGER = "198.51.100.66"
ADA_VISIT = f"{DOOR_ID}-1800000000000"


@pytest.fixture
def ada_code(world: ApiWorld) -> str:
    world.add_visitor("visitor-ada", "Ada Lovelace")
    return world.issue_code("visitor-ada", visit_id=ADA_VISIT)


def wrong_code(right: str) -> str:
    return f"{(int(right) + 1) % 1_000_000:06d}"


def failures_item(world: ApiWorld) -> dict[str, Any] | None:
    table = world.aws.table(PASSCODES_TABLE)
    item: dict[str, Any] | None = table.get_item(Key=failures_key(DOOR_ID), ConsistentRead=True).get("Item")
    return item


# ---------------------------------------------------------------------------- the door opens


def test_right_code_opens_the_door_and_tells_the_lock(world: ApiWorld, ada_code: str) -> None:
    # WHEN the visitor types the code from the SMS
    answer = world.call("POST", UNLOCK, {"otp": ada_code})
    # THEN the door opens with a welcome by name
    assert answer.status == 200
    command_id = answer.body["commandId"]
    assert answer.body == {
        "granted": True,
        "visitor": "Ada Lovelace",
        "commandId": command_id,
        "lock": "none",  # this deployment has no lock: the page says "Door open" at once
        "expiresAt": answer.body["expiresAt"],
    }
    assert uuid.UUID(command_id).version == 4
    # AND exactly one DoorUnlocked event went on the bus, without the code
    events = world.bus_events()
    assert [e["detail-type"] for e in events] == ["DoorUnlocked"]
    detail = events[0]["detail"]
    assert events[0]["source"] == "smartdoor"
    assert detail["doorId"] == DOOR_ID
    assert detail["visitorId"] == "visitor-ada"
    assert detail["visitId"] == ADA_VISIT  # the visit whose code opened the door
    assert detail["version"] == "1"
    assert set(detail) == {
        "version",
        "visitId",
        "doorId",
        "visitorId",
        "unlockedAt",
        "commandId",
        "expiresAt",
    }
    unlocked_at = datetime.fromisoformat(detail["unlockedAt"])
    assert abs(unlocked_at - datetime.now(UTC)) < timedelta(minutes=1)
    # AND the lock's command names the answer's id and is valid lockCommandSeconds (30 by default)
    assert detail["commandId"] == command_id
    assert datetime.fromisoformat(detail["expiresAt"]) - unlocked_at == timedelta(seconds=30)
    assert detail["expiresAt"] == answer.body["expiresAt"]
    assert ada_code not in json.dumps(events)


def test_with_a_lock_the_answer_says_the_lock_is_pending(
    world: ApiWorld, ada_code: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a deployment whose lock is an IoT relay that gets 10 s to answer
    monkeypatch.setenv("LOCK_KIND", "iot")
    monkeypatch.setenv("LOCK_COMMAND_SECONDS", "10")
    monkeypatch.setenv("LOCK_STATES_TABLE", LOCK_STATES)
    reset_settings_cache()
    table = lock_states_table()
    # WHEN the right code is typed
    answer = world.call("POST", UNLOCK, {"otp": ada_code})
    # THEN the door page is told to wait for the lock, and the command lives 10 s
    assert answer.status == 200
    assert answer.body["lock"] == "pending"
    (event,) = world.bus_events()
    detail = event["detail"]
    assert detail["commandId"] == answer.body["commandId"]
    delta = datetime.fromisoformat(detail["expiresAt"]) - datetime.fromisoformat(detail["unlockedAt"])
    assert delta == timedelta(seconds=10)
    # AND the command was recorded pending before the event went out, kept a day
    item = table.get_item(Key={"commandId": detail["commandId"]})["Item"]
    assert {k: item[k] for k in ("doorId", "visitId", "via", "state", "updatedAt")} == {
        "doorId": DOOR_ID,
        "visitId": ADA_VISIT,
        "via": "iot",
        "state": "pending",
        "updatedAt": detail["unlockedAt"],
    }
    unlocked_epoch = datetime.fromisoformat(detail["unlockedAt"]).timestamp()
    assert int(item["expiresAt"]) == int(unlocked_epoch) + 86_400


def test_a_lock_command_that_cannot_be_recorded_keeps_the_door_shut_and_the_code_alive(
    world: ApiWorld, ada_code: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a lock whose states table does not answer (throttled on every try)
    monkeypatch.setenv("LOCK_KIND", "webhook")
    monkeypatch.setenv("LOCK_STATES_TABLE", LOCK_STATES)
    reset_settings_cache()

    class Throttled:
        def record_pending(self, **_: Any) -> None:
            raise TransientError("throttled")

        def get(self, command_id: str) -> None:
            return None

    # WHEN the right code is typed
    answer = world.call("POST", UNLOCK, {"otp": ada_code}, lock_states=Throttled())
    # THEN nobody is welcomed to a shut door, the lock hears nothing, and the code still works
    assert answer.status == 503
    assert world.bus_events() == []
    lock_states_table()
    assert world.call("POST", UNLOCK, {"otp": ada_code}).status == 200


LOCK_STATES = "SmartDoor-LockStates"


def lock_states_table() -> Any:
    dynamodb = boto3.resource("dynamodb", region_name="us-east-1")
    return dynamodb.create_table(
        TableName=LOCK_STATES,
        KeySchema=[{"AttributeName": "commandId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "commandId", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def test_a_code_works_once(world: ApiWorld, ada_code: str) -> None:
    assert world.call("POST", UNLOCK, {"otp": ada_code}).status == 200
    world.bus_events()
    # WHEN the same code is typed again at once (a double tap)
    again = world.call("POST", UNLOCK, {"otp": ada_code})
    # THEN "already open": not a wrong try, and the lock hears nothing more
    assert again.status == 409
    assert again.body == {
        "granted": False,
        "alreadyOpen": True,
        "error": "this code opened the door moments ago",
    }
    assert world.bus_events() == []


@pytest.mark.usefixtures("atomic_items")
def test_twenty_taps_of_one_right_code_open_once_and_lock_nothing(world: ApiWorld, ada_code: str) -> None:
    # GIVEN 20 submissions of the same right code at the same moment (a double tap, retries after a
    # timeout), each in its own "Lambda environment"
    callers = 20
    services = [world.passcode_service() for _ in range(callers)]
    barrier = threading.Barrier(callers)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def attempt(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            statuses.append(world.call("POST", UNLOCK, {"otp": ada_code}, passcodes=services[index]).status)
        except BaseException as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # THEN one opens the door, every other hears "already open", the lock hears once, the owner nothing
    assert errors == []
    assert sorted(statuses) == [200] + [409] * (callers - 1)
    assert [e["detail-type"] for e in world.bus_events()] == ["DoorUnlocked"]
    assert world.emails() == []
    # AND no try was counted: the keypad is not locked for anyone
    other = world.issue_code("visitor-ada")
    assert world.call("POST", UNLOCK, {"otp": other}).status == 200


def test_a_visitor_record_that_is_gone_still_opens_without_a_name(world: ApiWorld) -> None:
    # GIVEN a code whose visitor record was deleted after it was issued
    world.add_visitor("visitor-gone", "Gone")
    code = world.issue_code("visitor-gone")
    world.visitors.delete("visitor-gone")
    # WHEN it is typed
    answer = world.call("POST", UNLOCK, {"otp": code})
    # THEN the code is still valid: the door opens, without a name
    assert answer.status == 200
    assert answer.body["granted"] is True
    assert answer.body["visitor"] is None


# ---------------------------------------------------------------------------- refusals


def test_wrong_code_is_403_and_opens_nothing(world: ApiWorld, ada_code: str) -> None:
    answer = world.call("POST", UNLOCK, {"otp": wrong_code(ada_code)})
    assert answer.status == 403
    assert answer.body["granted"] is False
    assert world.bus_events() == []
    # AND the visitor's real code still works
    assert world.call("POST", UNLOCK, {"otp": ada_code}).status == 200


def test_expired_code_is_403(world: ApiWorld) -> None:
    # GIVEN a code issued 301 seconds ago (lifetime 300)
    world.add_visitor("visitor-late", "Late")
    code = world.issue_code("visitor-late", clock=lambda: time.time() - 301)
    # WHEN typed now
    answer = world.call("POST", UNLOCK, {"otp": code})
    # THEN refused like any wrong code
    assert answer.status == 403
    assert answer.body["granted"] is False
    assert world.bus_events() == []


def test_code_for_an_unknown_door_is_404_and_counts_nothing(world: ApiWorld, ada_code: str) -> None:
    answer = world.call("POST", "/doors/back-door/unlock", {"otp": ada_code})
    assert answer.status == 404
    assert failures_item(world) is None
    assert world.call("POST", UNLOCK, {"otp": ada_code}).status == 200


@pytest.mark.parametrize(
    "body",
    [
        {"otp": "12345"},
        {"otp": "1234567"},
        {"otp": "12a456"},
        {"otp": " 123456"},
        {"otp": "١٢٣٤٥٦"},  # Arabic-Indic digits are digits, but not ASCII
        {"otp": 123456},
        {"otp": None},
        {},
        {"code": "123456"},
    ],
    ids=["short", "long", "letter", "space", "non-ascii-digits", "number", "null", "empty", "wrong-key"],
)
def test_malformed_code_is_400_and_counts_no_failure(
    world: ApiWorld, ada_code: str, body: dict[str, Any]
) -> None:
    # WHEN a malformed code arrives, many times
    for _ in range(6):
        answer = world.call("POST", UNLOCK, body)
        # THEN 400 naming the field, and the door's failure count is untouched
        assert answer.status == 400
        assert answer.body["field"] == "otp"
        assert answer.body["granted"] is False
    assert failures_item(world) is None
    # AND the real code still opens the door (no lockout happened)
    assert world.call("POST", UNLOCK, {"otp": ada_code}).status == 200


@pytest.mark.parametrize(
    ("raw", "message"),
    [("{otp: 123456}", "body is not valid JSON"), ('["123456"]', "body must be a JSON object"), ("", None)],
    ids=["broken-json", "array", "empty"],
)
def test_bad_json_is_400(world: ApiWorld, ada_code: str, raw: str, message: str | None) -> None:
    answer = world.call("POST", UNLOCK, raw)
    assert answer.status == 400
    assert answer.body["field"] == "body"
    if message:
        assert answer.body["error"] == message
    assert failures_item(world) is None


def test_oversized_body_is_413_and_changes_nothing(world: ApiWorld, ada_code: str) -> None:
    answer = world.call("POST", UNLOCK, {"otp": ada_code, "padding": "x" * MAX_BODY_BYTES})
    assert answer.status == 413
    # The code was not consumed
    assert world.call("POST", UNLOCK, {"otp": ada_code}).status == 200


def test_base64_body_is_read_like_api_gateway_sends_it(world: ApiWorld, ada_code: str) -> None:
    # API Gateway base64-encodes bodies of binary media types; the handler reads both forms.
    import base64

    from api.handler import handler
    from smartdoor_local.http_server import LocalRequest, build_proxy_event
    from tests.fakes import FakeLambdaContext

    request = LocalRequest("POST", UNLOCK, UNLOCK, {}, [], b"", "203.0.113.7", "api.example.com")
    event = build_proxy_event(request, resource="/doors/{doorId}/unlock", path_parameters={"doorId": DOOR_ID})
    event["body"] = base64.b64encode(json.dumps({"otp": ada_code}).encode()).decode()
    event["isBase64Encoded"] = True
    assert handler(event, FakeLambdaContext())["statusCode"] == 200


# ---------------------------------------------------------------------------- lockout


def test_fifth_wrong_code_from_one_address_refuses_that_address_only(world: ApiWorld, ada_code: str) -> None:
    wrong = wrong_code(ada_code)
    # WHEN four wrong codes come from one address
    for _ in range(4):
        assert world.call("POST", UNLOCK, {"otp": wrong}, client_ip=STRANGER).status == 403
    # AND a fifth
    before = datetime.now(UTC)
    fifth = world.call("POST", UNLOCK, {"otp": wrong}, client_ip=STRANGER)
    # THEN that address is refused: 429 with when to retry (15 minutes)
    assert fifth.status == 429
    assert fifth.body["granted"] is False
    assert fifth.body["error"] == "too many wrong codes from this address"
    retry_at = datetime.fromisoformat(fifth.body["retryAt"])
    assert before + timedelta(seconds=899) <= retry_at <= datetime.now(UTC) + timedelta(seconds=901)
    assert 890 <= int(fifth.header("Retry-After") or 0) <= 901  # rounded up
    assert fifth.body["retryAfterSeconds"] == int(fifth.header("Retry-After") or 0)
    # AND even the right code from that address is refused, and not spent
    assert world.call("POST", UNLOCK, {"otp": ada_code}, client_ip=STRANGER).status == 429
    assert world.bus_events() == []
    # AND the owner is not bothered for one address; the visitor, elsewhere, gets in
    assert world.emails() == []
    assert world.call("POST", UNLOCK, {"otp": ada_code}).status == 200


def test_tenth_wrong_code_at_the_door_locks_typed_codes_and_emails_the_owner_once(
    world: ApiWorld, ada_code: str
) -> None:
    wrong = wrong_code(ada_code)
    # WHEN ten addresses type one wrong code each
    answers = [world.call("POST", UNLOCK, {"otp": wrong}, client_ip=f"198.51.100.{n}") for n in range(10)]
    # THEN the tenth locks typed codes at the door for 5 minutes (no longer than a code lives)
    assert [a.status for a in answers] == [403] * 9 + [429]
    assert answers[-1].body["error"] == "too many wrong codes at this door"
    assert 290 <= answers[-1].body["retryAfterSeconds"] <= 301  # rounded up
    # AND the owner gets one email saying so, without the codes
    emails = world.emails()
    assert len(emails) == 1
    assert "locked" in emails[0]["Subject"]
    assert DOOR_ID in emails[0]["Message"]
    assert wrong not in emails[0]["Message"]
    # AND a typed right code is refused with the same retry time, unspent
    locked = world.call("POST", UNLOCK, {"otp": ada_code})
    assert locked.status == 429
    assert locked.body["retryAt"] == answers[-1].body["retryAt"]
    assert world.emails() == []
    assert world.bus_events() == []


def test_wrong_codes_spread_over_more_than_15_minutes_do_not_lock(world: ApiWorld, ada_code: str) -> None:
    wrong = wrong_code(ada_code)
    start = time.time()
    for minute in (0, 4, 8, 12, 16, 20):
        service = world.passcode_service(clock=lambda m=minute: start + m * 60)
        answer = world.call("POST", UNLOCK, {"otp": wrong}, passcodes=service)
        assert answer.status == 403, f"try at minute {minute}"
    assert world.emails() == []


def test_lockout_still_answers_429_when_the_owner_email_fails(world: ApiWorld, ada_code: str) -> None:
    class BrokenEmail:
        def send_email(self, subject: str, body: str) -> str:
            raise RuntimeError("SNS is down")

    wrong = wrong_code(ada_code)
    answers = [world.call("POST", UNLOCK, {"otp": wrong}, owner=BrokenEmail()).status for _ in range(5)]
    assert answers == [403, 403, 403, 403, 429]


# ---------------------------------------------------------------------------- the lock must hear it


def test_a_rejected_door_unlocked_event_is_503_not_a_false_welcome(world: ApiWorld, ada_code: str) -> None:
    # GIVEN EventBridge rejects the DoorUnlocked entry on every attempt
    bus = RecordingEventBus()
    bus.reject_next(10)
    # WHEN the right code is typed
    answer = world.call("POST", UNLOCK, {"otp": ada_code}, bus=bus)
    # THEN the page is told to try again rather than "door open"
    assert answer.status == 503
    assert answer.header("Retry-After")
    assert bus.published == []


def test_cors_on_unlock_answers_only_the_site_origin(world: ApiWorld, ada_code: str) -> None:
    site = world.env["SITE_ORIGIN"]
    answer = world.call("POST", UNLOCK, {"otp": wrong_code(ada_code)}, headers={"Origin": site})
    assert answer.header("Access-Control-Allow-Origin") == site
    other = world.call(
        "POST", UNLOCK, {"otp": wrong_code(ada_code)}, headers={"Origin": "https://evil.example"}
    )
    assert other.header("Access-Control-Allow-Origin") is None


def test_a_thousand_wrong_codes_from_fifty_addresses_then_the_visitor_taps_the_link_and_gets_in(
    world: ApiWorld,
) -> None:
    world.add_visitor("visitor-bo", "Bo")
    issued = world.issue_passcode("visitor-bo", visit_id=ADA_VISIT)
    wrong = wrong_code(issued.code)
    statuses = Counter(
        world.call("POST", UNLOCK, {"otp": wrong}, client_ip=f"192.0.2.{n % 50}").status for n in range(1000)
    )
    # THEN nothing opened, and after ten counted tries the keypad refused typed codes
    assert statuses[200] == 0 and statuses[403] == 9 and statuses[429] == 991
    assert len(world.emails()) == 1  # the owner heard once
    # WHEN the visitor types the code: refused for now
    assert world.call("POST", UNLOCK, {"otp": issued.code}).status == 429
    # BUT the SMS's link (the code with its key) opens the door
    tapped = world.call("POST", UNLOCK, {"otp": issued.code, "key": issued.link_key})
    assert tapped.status == 200 and (tapped.body["granted"], tapped.body["visitor"]) == (True, "Bo")
    assert [e["detail-type"] for e in world.bus_events()] == ["DoorUnlocked"]


def test_a_malformed_link_key_is_400_and_counts_nothing(world: ApiWorld, ada_code: str) -> None:
    answer = world.call("POST", UNLOCK, {"otp": ada_code, "key": "short"})
    assert answer.status == 400 and answer.body == {"error": "key is not valid", "field": "key"}
    assert world.call("POST", UNLOCK, {"otp": ada_code}).status == 200


def test_owner_email_on_lockout_goes_to_the_alerts_topic(world: ApiWorld, ada_code: str) -> None:
    # The email is an SNS message on ALERTS_TOPIC_ARN (the owner's subscription), not a direct address.
    for n in range(10):
        world.call("POST", UNLOCK, {"otp": wrong_code(ada_code)}, client_ip=f"198.51.100.{n}")
    (email,) = world.emails()
    assert email["TopicArn"] == world.env["ALERTS_TOPIC_ARN"]
    sns = boto3.client("sns")
    assert sns.list_subscriptions_by_topic(TopicArn=world.env["ALERTS_TOPIC_ARN"])["Subscriptions"]


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data"]
)
def test_a_body_not_sent_as_json_is_415_and_counts_nothing(
    world: ApiWorld, ada_code: str, content_type: str
) -> None:
    # WHEN the right code arrives labelled as another media type (API Gateway would not apply its model)
    answer = world.call("POST", UNLOCK, json.dumps({"otp": ada_code}), headers={"Content-Type": content_type})
    # THEN 415, nothing opened, nothing counted; the same body as JSON (with a charset) opens
    assert answer.status == 415
    assert answer.body == {"error": "send the body as Content-Type: application/json"}
    assert world.bus_events() == []
    labelled = {"Content-Type": "Application/JSON; charset=utf-8"}
    assert world.call("POST", UNLOCK, json.dumps({"otp": ada_code}), headers=labelled).status == 200
