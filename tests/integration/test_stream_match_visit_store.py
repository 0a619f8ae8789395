"""The VisitStore contract, checked on DynamoDB (moto) and on the in-memory twin alike."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from smartdoor.adapters.visit_store import (
    ApprovedStranger,
    ClaimOutcome,
    DynamoVisitStore,
    InMemoryVisitStore,
    VersionConflict,
    VisitStore,
)
from smartdoor.domain.records import parse_record
from smartdoor.domain.visits import MatchRules, VisitState, observe
from smartdoor.errors import TransientError
from tests.fixtures.face_search import DOOR_ID, STREAM_ARN, VISIT_START, known_face, record, unknown_face

TABLE = "smartdoor-visits"
TTL_SECONDS = 3 * 24 * 3600


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def create_visits_table() -> Any:
    dynamodb = boto3.resource("dynamodb")
    return dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["dynamodb", "memory"])
def store(request: pytest.FixtureRequest, aws: None, clock: Clock) -> Iterator[VisitStore]:
    if request.param == "dynamodb":
        create_visits_table()
        yield DynamoVisitStore(TABLE, ttl_seconds=TTL_SECONDS, lease_seconds=60, clock=clock)
    else:
        yield InMemoryVisitStore(lease_seconds=60, clock=clock)


def visit_state(
    *times: float, faces: Callable[[], list[dict[str, Any]]] = lambda: [unknown_face()]
) -> VisitState:
    state: VisitState | None = None
    for t in times:
        frame = parse_record(json.dumps(record(VISIT_START + t, faces())), {STREAM_ARN: DOOR_ID})
        state = observe(state, frame, MatchRules(min_frames_for_decision=5)).state
    assert state is not None
    return state


def test_a_door_without_a_visit_loads_none(store: VisitStore) -> None:
    assert store.load(DOOR_ID) is None


def test_saved_state_loads_back_equal_with_its_version(store: VisitStore) -> None:
    state = visit_state(0, 0.5, faces=lambda: [known_face(left=0.1), unknown_face(left=0.6)])

    version = store.save(state, expected_version=None)

    loaded = store.load(DOOR_ID)
    assert version == 1
    assert loaded is not None and loaded.version == 1
    assert loaded.state == state


def test_each_save_must_name_the_version_it_read(store: VisitStore) -> None:
    # GIVEN a stored visit at version 1
    store.save(visit_state(0), expected_version=None)

    # WHEN a writer that read no item, or an old version, saves THEN it is refused
    with pytest.raises(VersionConflict):
        store.save(visit_state(0, 0.5), expected_version=None)
    assert store.save(visit_state(0, 0.5), expected_version=1) == 2
    with pytest.raises(VersionConflict):
        store.save(visit_state(0, 0.5, 1.0), expected_version=1)

    # AND the refused writes changed nothing
    loaded = store.load(DOOR_ID)
    assert loaded is not None and loaded.version == 2 and loaded.state == visit_state(0, 0.5)


def test_claim_lifecycle_claimed_then_emitted_is_a_duplicate_forever(store: VisitStore, clock: Clock) -> None:
    assert store.claim("v-1", "unknown", "token-a") is ClaimOutcome.CLAIMED
    assert store.claim("v-1", "unknown", "token-b") is ClaimOutcome.HELD_ELSEWHERE
    assert store.mark_emitted("v-1", "unknown", "token-a", "event-1") is True

    clock.now += 10_000  # long after any lease
    assert store.claim("v-1", "unknown", "token-c") is ClaimOutcome.ALREADY_EMITTED
    # AND claims are per visit and per person
    assert store.claim("v-2", "unknown", "token-c") is ClaimOutcome.CLAIMED
    assert store.claim("v-1", "visitor#alice", "token-c") is ClaimOutcome.CLAIMED


def test_released_claim_can_be_claimed_again(store: VisitStore) -> None:
    store.claim("v-1", "unknown", "token-a")
    store.release("v-1", "unknown", "token-a")
    assert store.claim("v-1", "unknown", "token-b") is ClaimOutcome.CLAIMED


def test_only_the_holder_can_release_or_mark_a_claim(store: VisitStore) -> None:
    store.claim("v-1", "unknown", "token-a")

    store.release("v-1", "unknown", "token-other")
    assert store.mark_emitted("v-1", "unknown", "token-other", "event-x") is False

    assert store.claim("v-1", "unknown", "token-b") is ClaimOutcome.HELD_ELSEWHERE


def test_an_emitted_claim_cannot_be_released(store: VisitStore) -> None:
    store.claim("v-1", "unknown", "token-a")
    store.mark_emitted("v-1", "unknown", "token-a", "event-1")
    store.release("v-1", "unknown", "token-a")
    assert store.claim("v-1", "unknown", "token-b") is ClaimOutcome.ALREADY_EMITTED


def test_a_stale_claim_is_taken_over_after_its_lease(store: VisitStore, clock: Clock) -> None:
    # GIVEN a holder that claimed and died
    store.claim("v-1", "unknown", "dead-holder")
    clock.now += 59
    assert store.claim("v-1", "unknown", "token-b") is ClaimOutcome.HELD_ELSEWHERE

    # WHEN its lease ran out THEN another invocation takes it over; the dead holder's token no longer counts
    clock.now += 2
    assert store.claim("v-1", "unknown", "token-b") is ClaimOutcome.CLAIMED
    assert store.mark_emitted("v-1", "unknown", "dead-holder", "late") is False
    assert store.mark_emitted("v-1", "unknown", "token-b", "event-1") is True


# --- DynamoDB specifics --------------------------------------------------------------------


def test_dynamodb_items_follow_the_documented_keys_and_carry_ttl(aws: None, clock: Clock) -> None:
    table = create_visits_table()
    store = DynamoVisitStore(TABLE, ttl_seconds=TTL_SECONDS, lease_seconds=60, clock=clock)
    state = visit_state(0)

    store.save(state, expected_version=None)
    store.claim(state.visit_id, "unknown", "token-a")
    store.mark_emitted(state.visit_id, "unknown", "token-a", "event-1")

    current = table.get_item(Key={"pk": f"DOOR#{DOOR_ID}", "sk": "CURRENT"})["Item"]
    assert current["visitId"] == state.visit_id
    assert current["version"] == 1
    assert current["expiresAt"] == int(clock.now) + TTL_SECONDS
    assert current["startedAt"] == "2023-11-14T22:13:20.000Z"
    claim = table.get_item(Key={"pk": f"VISIT#{state.visit_id}", "sk": "EVENT#unknown"})["Item"]
    assert (claim["status"], claim["eventId"]) == ("EMITTED", "event-1")
    assert "leaseUntil" not in claim
    assert claim["expiresAt"] == int(clock.now) + TTL_SECONDS


class ThrottledTable:
    """A moto table whose chosen operation is throttled, as DynamoDB does under load."""

    def __init__(self, table: Any, operation: str) -> None:
        self._table = table
        self._operation = operation

    def __getattr__(self, name: str) -> Any:
        if name == self._operation:

            def throttled(**_: Any) -> Any:
                raise ClientError(
                    {
                        "Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"},
                        "ResponseMetadata": {"HTTPStatusCode": 400},
                    },
                    name,
                )

            return throttled
        return getattr(self._table, name)


@pytest.mark.parametrize("operation", ["get_item", "put_item"])
def test_dynamodb_throttling_surfaces_as_transient_error(aws: None, operation: str) -> None:
    store = DynamoVisitStore(TABLE, table=ThrottledTable(create_visits_table(), operation))
    with pytest.raises(TransientError):
        store.load(DOOR_ID) if operation == "get_item" else store.save(visit_state(0), None)


def test_dynamodb_missing_table_is_not_mistaken_for_a_conflict(aws: None) -> None:
    store = DynamoVisitStore("no-such-table")
    with pytest.raises(ClientError) as raised:
        store.save(visit_state(0), None)
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_dynamodb_store_reads_the_workflow_claims_and_carries_decided_people(aws: None, clock: Clock) -> None:
    # GIVEN the items the unknown-visitor workflow writes on approval (workflows/unknown_visitor.asl.json)
    table = create_visits_table()
    store = DynamoVisitStore(TABLE, ttl_seconds=TTL_SECONDS, clock=clock)
    assert not store.known_visitor_handled("visit-1", "vis-anna")
    assert store.approved_visitor("visit-1") is None
    table.put_item(Item={"pk": "VISIT#visit-1", "sk": "WORKFLOW#known#vis-anna", "decidedBy": "approval"})
    table.put_item(Item={"pk": "VISIT#visit-1", "sk": "WORKFLOW#unknown", "executionName": "unknown-1"})
    assert store.known_visitor_handled("visit-1", "vis-anna")
    assert store.approved_visitor("visit-1") is None  # pending or denied
    table.update_item(
        Key={"pk": "VISIT#visit-1", "sk": "WORKFLOW#unknown"},
        UpdateExpression="SET approvedVisitorId = :v",
        ExpressionAttributeValues={":v": "vis-anna"},
    )
    assert store.approved_visitor("visit-1") == ApprovedStranger("vis-anna")
    # AND with the time the workflow records ($$.State.EnteredTime, ISO 8601 with Z on AWS)
    table.update_item(
        Key={"pk": "VISIT#visit-1", "sk": "WORKFLOW#unknown"},
        UpdateExpression="SET approvedAt = :at",
        ExpressionAttributeValues={":at": "2023-11-14T22:13:20.500Z"},
    )
    assert store.approved_visitor("visit-1") == ApprovedStranger("vis-anna", 1_700_000_000.5)

    # WHEN people are carried into a new visit, one of whom already has a claim there
    table.put_item(Item={"pk": "VISIT#visit-2", "sk": "WORKFLOW#known#vis-bob", "executionName": "known-7"})
    store.carry_decided("visit-2", DOOR_ID, ["vis-anna", "vis-bob"])

    # THEN both count as handled there, the existing claim is untouched, and the new one expires
    assert store.known_visitor_handled("visit-2", "vis-anna") and store.known_visitor_handled(
        "visit-2", "vis-bob"
    )
    bob = table.get_item(Key={"pk": "VISIT#visit-2", "sk": "WORKFLOW#known#vis-bob"})["Item"]
    assert bob == {"pk": "VISIT#visit-2", "sk": "WORKFLOW#known#vis-bob", "executionName": "known-7"}
    anna = table.get_item(Key={"pk": "VISIT#visit-2", "sk": "WORKFLOW#known#vis-anna"})["Item"]
    assert anna["doorId"] == DOOR_ID and int(anna["expiresAt"]) == int(clock.now) + TTL_SECONDS


def test_dynamodb_forget_visitor_erases_their_claims_and_their_place_in_the_current_visit(
    aws: None, clock: Clock
) -> None:
    # GIVEN anna and bob both decided in the door's current visit, with the claims the match
    # function and the workflows write, and anna approved as the stranger of an earlier visit
    table = create_visits_table()
    store = DynamoVisitStore(TABLE, ttl_seconds=TTL_SECONDS, clock=clock)
    both = visit_state(*range(5), faces=lambda: [known_face("vis-anna"), known_face("vis-bob", "face-bob")])
    assert {"visitor#vis-anna", "visitor#vis-bob"} <= both.decided
    store.save(both, expected_version=None)
    for who in ("vis-anna", "vis-bob"):
        assert store.claim(both.visit_id, f"visitor#{who}", "token") is ClaimOutcome.CLAIMED
        table.put_item(Item={"pk": f"VISIT#{both.visit_id}", "sk": f"WORKFLOW#known#{who}"})
    stranger = {"pk": "VISIT#earlier", "sk": "WORKFLOW#unknown", "executionName": "unknown-1"}
    table.put_item(Item={**stranger, "approvedVisitorId": "vis-anna", "approvedAt": "2023-11-14T22:13:20Z"})
    table.put_item(Item={"pk": "BUDGET#2023-11-14", "sk": "FRAMES", "frames": 3})

    # WHEN anna is forgotten (over several scan pages: the store must follow them)
    erased = DynamoVisitStore(TABLE, table=PagedScans(table, limit=2)).forget_visitor("vis-anna")

    # THEN nothing names her: her claims are gone, the stranger's claim stays without her, and the
    # current visit keeps bob (his tally, his decision) at the next version
    assert erased == 4
    items = table.scan()["Items"]
    assert not [item for item in items if "vis-anna" in json.dumps(item, default=str)]
    assert {(item["pk"], item["sk"]) for item in items} == {
        (f"DOOR#{DOOR_ID}", "CURRENT"),
        (f"VISIT#{both.visit_id}", "EVENT#visitor#vis-bob"),
        (f"VISIT#{both.visit_id}", "WORKFLOW#known#vis-bob"),
        ("VISIT#earlier", "WORKFLOW#unknown"),
        ("BUDGET#2023-11-14", "FRAMES"),
    }
    assert table.get_item(Key={"pk": "VISIT#earlier", "sk": "WORKFLOW#unknown"})["Item"] == stranger
    current = store.load(DOOR_ID)
    assert current is not None and current.version == 2
    assert current.state.decided == both.decided - {"visitor#vis-anna"}
    assert set(current.state.tallies) == set(both.tallies) - {"visitor#vis-anna"}
    # AND forgetting her again finds nothing more
    assert store.forget_visitor("vis-anna") == 0
    assert store.load(DOOR_ID) == current


class PagedScans:
    """A moto table whose scans return at most `limit` items a page, as a large table's do."""

    def __init__(self, table: Any, limit: int) -> None:
        self._table = table
        self._limit = limit

    def scan(self, **request: Any) -> Any:
        return self._table.scan(Limit=self._limit, **request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)
