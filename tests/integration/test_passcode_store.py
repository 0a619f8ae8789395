"""The Passcodes table adapter on moto DynamoDB, driven through the real PasscodeService."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from smartdoor.adapters.passcode_store import (
    DynamoPasscodeStore,
    code_key,
    failures_key,
    pointer_key,
)
from smartdoor.domain.otp import (
    AlreadyOpen,
    CodeCollision,
    ConcurrentIssue,
    Denied,
    FailureRecord,
    Granted,
    LockedOut,
    OtpPolicy,
    PasscodeService,
    StoredCode,
    code_hash,
)
from smartdoor.errors import TransientError

TABLE = "Passcodes"
KEY = b"integration-test-key-0123456789abcdef"
START = 1_800_000_000.0
DOOR = "front-door"
VISIT = "front-door-1800000000000"


class FakeClock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FixedKey:
    def hmac_key(self) -> bytes:
        return KEY


class ScriptedCodes:
    def __init__(self, *codes: str) -> None:
        self._codes = list(codes)

    def __call__(self) -> str:
        return self._codes.pop(0) if len(self._codes) > 1 else self._codes[0]


def create_passcodes_table() -> Any:
    dynamodb = boto3.resource("dynamodb")
    table = dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    table.meta.client.update_time_to_live(
        TableName=TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiresAt"}
    )
    return table


@pytest.fixture
def table(aws: None) -> Any:
    return create_passcodes_table()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(table: Any) -> DynamoPasscodeStore:
    return DynamoPasscodeStore(TABLE)


def make_service(
    clock: FakeClock,
    store: DynamoPasscodeStore | None = None,
    policy: OtpPolicy | None = None,
    generate: Callable[[], str] | None = None,
) -> PasscodeService:
    extra: dict[str, Any] = {"generate": generate} if generate else {}
    return PasscodeService(
        store=store or DynamoPasscodeStore(TABLE), keys=FixedKey(), clock=clock, policy=policy, **extra
    )


def all_items(table: Any) -> list[dict[str, Any]]:
    return list(table.scan(ConsistentRead=True)["Items"])


def code_items(table: Any) -> list[dict[str, Any]]:
    return [item for item in all_items(table) if item["sk"] == "CODE"]


# --- what is stored --------------------------------------------------------------------------


def test_issue_stores_the_hmac_item_and_the_visitor_pointer_never_the_code(
    store: DynamoPasscodeStore, table: Any, clock: FakeClock
) -> None:
    # WHEN a code is issued
    issued = make_service(clock, store).issue(DOOR, "v1", visit_id=VISIT)
    # THEN the table holds the code's door-bound HMAC and a pointer to it, both expiring with it
    digest = code_hash(KEY, DOOR, issued.code)
    code_item = table.get_item(Key=code_key(DOOR, digest))["Item"]
    pointer = table.get_item(Key=pointer_key(DOOR, "v1"))["Item"]
    assert code_item["pk"] == f"CODE#{DOOR}#{digest}"
    assert code_item["visitorId"] == "v1" and code_item["doorId"] == DOOR and code_item["visitId"] == VISIT
    assert code_item["expiresAt"] == int(START) + 300 and code_item["issuedAt"] == int(START)
    assert pointer["codeHash"] == digest and pointer["expiresAt"] == int(START) + 300
    # AND the code appears in no attribute of any item
    assert issued.code not in repr(all_items(table))


def test_a_new_code_deletes_the_old_one_in_the_same_write(
    store: DynamoPasscodeStore, table: Any, clock: FakeClock
) -> None:
    service = make_service(clock, store)
    first = service.issue(DOOR, "v1", visit_id="front-door-1")
    second = service.issue(DOOR, "v1", visit_id="front-door-2")
    # THEN one code item is left, the pointer names it, and only the new code opens the door, for its visit
    (remaining,) = code_items(table)
    assert remaining["pk"] == f"CODE#{DOOR}#{code_hash(KEY, DOOR, second.code)}"
    assert remaining["visitId"] == "front-door-2"
    assert store.current_code_hash(DOOR, "v1") == code_hash(KEY, DOOR, second.code)
    assert isinstance(service.verify(DOOR, first.code), Denied)
    assert service.verify(DOOR, second.code) == Granted("v1", DOOR, "front-door-2")


def test_codes_are_single_use_on_dynamodb(store: DynamoPasscodeStore, table: Any, clock: FakeClock) -> None:
    service = make_service(clock, store)
    issued = service.issue(DOOR, "v1", visit_id=VISIT)
    assert service.verify(DOOR, issued.code) == Granted("v1", DOOR, VISIT)
    # the used code stays, marked, so a repeat moments later is "already open", not a wrong try
    assert service.verify(DOOR, issued.code) == AlreadyOpen("v1", DOOR)
    [item] = code_items(table)
    assert item["usedAt"] == START
    clock.now += 61
    assert service.verify(DOOR, issued.code) == Denied(failures_in_window=1)


def test_an_expired_code_still_in_the_table_is_denied(
    store: DynamoPasscodeStore, table: Any, clock: FakeClock
) -> None:
    # GIVEN a code past its expiry that TTL has not deleted (moto, like DynamoDB, deletes lazily)
    service = make_service(clock, store)
    issued = service.issue(DOOR, "v1", visit_id=VISIT)
    clock.now = issued.expires_at + 1
    assert len(code_items(table)) == 1
    # WHEN it is typed
    outcome = service.verify(DOOR, issued.code)
    # THEN it is refused and counted as a failure
    assert outcome == Denied(failures_in_window=1)


def test_a_code_for_one_door_is_refused_at_another(store: DynamoPasscodeStore, clock: FakeClock) -> None:
    service = make_service(clock, store)
    issued = service.issue("front", "v1", visit_id=VISIT)
    assert service.verify("back", issued.code) == Denied(failures_in_window=1)
    assert service.verify("front", issued.code) == Granted("v1", "front", VISIT)


def test_taking_a_code_returns_the_visit_it_was_issued_for(store: DynamoPasscodeStore) -> None:
    # GIVEN a stored code issued for a visit
    store.replace_code(StoredCode("c" * 64, DOOR, "v1", "front-door-7", 10, 310), previous_hash=None)
    # WHEN it is taken
    # THEN the store hands back exactly what was stored, visit included
    assert store.take_code(DOOR, "c" * 64, START) == StoredCode("c" * 64, DOOR, "v1", "front-door-7", 10, 310)
    # AND taking it again returns it marked used, at the first take's time
    assert store.take_code(DOOR, "c" * 64, START + 1) == StoredCode(
        "c" * 64, DOOR, "v1", "front-door-7", 10, 310, used_at=START
    )


# --- atomicity -------------------------------------------------------------------------------


@pytest.mark.usefixtures("atomic_items")
def test_forget_visitor_deletes_their_codes_used_or_not_at_every_door_and_nothing_else(
    store: DynamoPasscodeStore, table: Any, clock: FakeClock
) -> None:
    # GIVEN v1's code used at the front door, v1's live code at the back door, v2's live code and
    # the front door's failed tries
    service = make_service(clock, store)
    used = service.issue(DOOR, "v1", visit_id=VISIT)
    assert service.verify(DOOR, used.code) == Granted("v1", DOOR, VISIT)
    live = service.issue("back-door", "v1", visit_id="back-door-1")
    other = service.issue(DOOR, "v2", visit_id=VISIT)
    assert isinstance(service.verify(DOOR, "000000" if other.code != "000000" else "111111"), Denied)

    # WHEN v1 is forgotten
    deleted = store.forget_visitor("v1")

    # THEN their two codes and two pointers are gone: nothing names them, their live code is refused
    assert deleted == 4
    assert [item for item in all_items(table) if item.get("visitorId") == "v1"] == []
    # AND v2 and the door's failure record are untouched; a second forget finds nothing
    assert {item["pk"] for item in all_items(table)} == {
        f"CODE#{DOOR}#{code_hash(KEY, DOOR, other.code)}",
        f"VISITOR#{DOOR}#v2",
        f"DOOR#{DOOR}",
        f"DOOR#{DOOR}#address#unknown",
    }
    assert isinstance(service.verify("back-door", live.code), Denied)
    assert store.forget_visitor("v1") == 0
    assert service.verify(DOOR, other.code) == Granted("v2", DOOR, VISIT)


@pytest.mark.usefixtures("atomic_items")  # moto's conditional writes are not atomic under threads
def test_eight_concurrent_verifies_of_one_code_grant_exactly_once(table: Any, clock: FakeClock) -> None:
    # GIVEN a live code and 8 callers, each with its own boto3 session (resources are not thread-safe)
    policy = OtpPolicy(max_failures=100)
    issued = make_service(clock, policy=policy).issue(DOOR, "v1", visit_id=VISIT)
    barrier = threading.Barrier(8)
    outcomes: list[object] = []
    errors: list[BaseException] = []

    def attempt() -> None:
        own_table = boto3.session.Session().resource("dynamodb").Table(TABLE)
        service = make_service(clock, DynamoPasscodeStore(TABLE, table=own_table), policy=policy)
        barrier.wait()
        try:
            outcomes.append(service.verify(DOOR, issued.code))
        except BaseException as error:  # surfaced below
            errors.append(error)

    # WHEN all 8 type the code at once
    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # THEN exactly one is granted and the 7 others hear "already open": no failure counted
    assert errors == []
    assert sum(isinstance(o, Granted) for o in outcomes) == 1
    assert sum(isinstance(o, AlreadyOpen) for o in outcomes) == 7
    assert DynamoPasscodeStore(TABLE).load_failures(DOOR).failures == ()


@pytest.mark.usefixtures("atomic_items")
def test_concurrent_failures_lock_the_door_exactly_once(table: Any, clock: FakeClock) -> None:
    # GIVEN 8 callers typing wrong codes at once at a door that locks after 5
    barrier = threading.Barrier(8)
    outcomes: list[object] = []

    def attempt() -> None:
        own_table = boto3.session.Session().resource("dynamodb").Table(TABLE)
        service = make_service(clock, DynamoPasscodeStore(TABLE, table=own_table))
        barrier.wait()
        outcomes.append(service.verify(DOOR, "000000"))

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # THEN one caller learns it locked the door; nobody got more than 5 guesses counted
    assert len(outcomes) == 8
    just_locked = [o for o in outcomes if isinstance(o, LockedOut) and o.just_locked]
    assert just_locked == [LockedOut(retry_at=START + 900, just_locked=True, door_wide=False)]
    assert sum(isinstance(o, Denied) for o in outcomes) == 4
    assert DynamoPasscodeStore(TABLE).load_failures(f"{DOOR}#address#unknown").locked_until == START + 900


def test_replacing_with_a_stale_pointer_is_refused(store: DynamoPasscodeStore, clock: FakeClock) -> None:
    # GIVEN a visitor whose pointer moved on after we read it
    service = make_service(clock, store)
    service.issue(DOOR, "v1", visit_id=VISIT)
    stale = store.current_code_hash(DOOR, "v1")
    service.issue(DOOR, "v1", visit_id=VISIT)
    fresh = StoredCode("f" * 64, DOOR, "v1", VISIT, int(START), int(START) + 300)
    # WHEN we try to replace using what we read
    # THEN the store refuses and writes nothing
    with pytest.raises(ConcurrentIssue):
        store.replace_code(fresh, previous_hash=stale)
    assert store.take_code(DOOR, "f" * 64, START) is None
    # AND a first code for a visitor who meanwhile got one is refused too
    with pytest.raises(ConcurrentIssue):
        store.replace_code(fresh, previous_hash=None)


def test_a_hash_already_live_at_the_door_is_a_collision(store: DynamoPasscodeStore, clock: FakeClock) -> None:
    theirs = make_service(clock, store).issue(DOOR, "v2", visit_id=VISIT)
    clash = StoredCode(code_hash(KEY, DOOR, theirs.code), DOOR, "v1", VISIT, int(START), int(START) + 300)
    with pytest.raises(CodeCollision):
        store.replace_code(clash, previous_hash=None)
    assert store.current_code_hash(DOOR, "v1") is None


def test_issue_regenerates_on_a_collision_on_dynamodb(store: DynamoPasscodeStore, clock: FakeClock) -> None:
    make_service(clock, store, generate=ScriptedCodes("111111")).issue(DOOR, "v2", visit_id=VISIT)
    mine = make_service(clock, store, generate=ScriptedCodes("111111", "222222")).issue(
        DOOR, "v1", visit_id=VISIT
    )
    service = make_service(clock, store)
    assert mine.code == "222222"
    assert service.verify(DOOR, "111111") == Granted("v2", DOOR, VISIT)
    assert service.verify(DOOR, "222222") == Granted("v1", DOOR, VISIT)


def test_reissuing_never_deletes_another_visitors_code_that_reused_the_old_hash(
    store: DynamoPasscodeStore, clock: FakeClock
) -> None:
    # GIVEN v1's code 111111 was used, then v2 happened to get 111111 (same door, same hash)
    make_service(clock, store, generate=ScriptedCodes("111111")).issue(DOOR, "v1", visit_id=VISIT)
    service = make_service(clock, store)
    assert service.verify(DOOR, "111111") == Granted("v1", DOOR, VISIT)
    store_table = boto3.resource("dynamodb").Table(TABLE)
    store_table.delete_item(Key=code_key(DOOR, code_hash(KEY, DOOR, "111111")))  # its TTL ran out
    make_service(clock, store, generate=ScriptedCodes("111111")).issue(DOOR, "v2", visit_id=VISIT)
    # WHEN v1 gets a new code (v1's pointer still names the old hash)
    mine = make_service(clock, store, generate=ScriptedCodes("333333")).issue(DOOR, "v1", visit_id=VISIT)
    # THEN v2's code survives and both codes work for their own visitor
    assert service.verify(DOOR, "111111") == Granted("v2", DOOR, VISIT)
    assert service.verify(DOOR, mine.code) == Granted("v1", DOOR, VISIT)


def test_failure_record_round_trips_and_refuses_stale_versions(
    store: DynamoPasscodeStore, table: Any
) -> None:
    record = FailureRecord(failures=(START, START + 1.5), locked_until=None, version=1)
    assert store.save_failures(DOOR, record, expected_version=0, ttl=int(START) + 901)
    assert store.load_failures(DOOR) == record
    assert not store.save_failures(DOOR, FailureRecord(version=1), expected_version=0, ttl=1)
    locked = FailureRecord(failures=(), locked_until=START + 900.25, version=2)
    assert store.save_failures(DOOR, locked, expected_version=1, ttl=int(START) + 902)
    assert not store.save_failures(DOOR, FailureRecord(version=2), expected_version=1, ttl=1)
    assert store.load_failures(DOOR) == locked
    assert table.get_item(Key=failures_key(DOOR))["Item"]["expiresAt"] == int(START) + 902


def test_a_lockout_on_dynamodb_refuses_a_correct_code_without_consuming_it(
    store: DynamoPasscodeStore, table: Any, clock: FakeClock
) -> None:
    service = make_service(clock, store, policy=OtpPolicy(ttl_seconds=3600))
    issued = service.issue(DOOR, "v1", visit_id=VISIT)
    outcomes = [service.verify(DOOR, "999999" if issued.code != "999999" else "888888") for _ in range(5)]
    assert outcomes[-1] == LockedOut(retry_at=START + 900, just_locked=True, door_wide=False)
    assert service.verify(DOOR, issued.code) == LockedOut(retry_at=START + 900, door_wide=False)
    assert len(code_items(table)) == 1
    clock.now = START + 900
    assert service.verify(DOOR, issued.code) == Granted("v1", DOOR, VISIT)


# --- transient failures ------------------------------------------------------------------------


def stubbed_store() -> tuple[DynamoPasscodeStore, Stubber]:
    offline_table = boto3.session.Session().resource("dynamodb").Table(TABLE)
    return DynamoPasscodeStore(TABLE, table=offline_table), Stubber(offline_table.meta.client)


def test_throttled_reads_surface_as_transient_errors() -> None:
    store, stubber = stubbed_store()
    stubber.add_client_error("get_item", "ProvisionedThroughputExceededException", http_status_code=400)
    stubber.add_client_error("update_item", "InternalServerError", http_status_code=500)
    with stubber, pytest.raises(TransientError):
        store.load_failures(DOOR)
    with stubber, pytest.raises(TransientError):
        store.take_code(DOOR, "a" * 64, START)


def test_a_throttled_transaction_surfaces_as_a_transient_error() -> None:
    store, stubber = stubbed_store()
    stubber.add_client_error(
        "transact_write_items",
        "TransactionCanceledException",
        http_status_code=400,
        modeled_fields={"CancellationReasons": [{"Code": "ThrottlingError"}, {"Code": "None"}]},
    )
    with stubber, pytest.raises(TransientError):
        store.replace_code(StoredCode("a" * 64, DOOR, "v1", VISIT, 1, 2), previous_hash=None)


def test_a_conflicting_transaction_makes_issue_retry() -> None:
    store, stubber = stubbed_store()
    stubber.add_client_error(
        "transact_write_items",
        "TransactionCanceledException",
        http_status_code=400,
        modeled_fields={"CancellationReasons": [{"Code": "TransactionConflict"}, {"Code": "None"}]},
    )
    with stubber, pytest.raises(ConcurrentIssue):
        store.replace_code(StoredCode("a" * 64, DOOR, "v1", VISIT, 1, 2), previous_hash=None)
