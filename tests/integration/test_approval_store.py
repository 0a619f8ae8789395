"""DynamoApprovalStore on moto's DynamoDB: the item format, every conditional transition, and the
race the conditions exist for (two owners' clicks at once: exactly one decision wins)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto.dynamodb.models import DynamoDBBackend

from smartdoor.adapters.approval_store import DynamoApprovalStore
from smartdoor.domain.approvals import (
    Approval,
    ApprovalAlreadyDecided,
    ApprovalStatus,
    ConditionNotMet,
    DecisionResult,
    create_approval,
    decide,
)
from smartdoor.errors import TransientError
from smartdoor.models import VisitPhoto
from tests.fakes.link_key import StaticLinkKey

LINK_KEY = StaticLinkKey()

TABLE = "smartdoor-approvals"
BUCKET = "smartdoor-photos"
PHOTO = VisitPhoto(bucket=BUCKET, frame_key="visits/v-1/frame.jpg", face_key="visits/v-1/face.jpg")
T0 = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAA-secret-task-token-1"
VISITOR_PHONE = "+447700900123"


def create_approvals_table() -> Any:
    """The Approvals table as docs/internals.md (and the storage construct) define it."""
    dynamodb = boto3.resource("dynamodb")
    table = dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "approvalId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "approvalId", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    boto3.client("dynamodb").update_time_to_live(
        TableName=TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiresAt"}
    )
    return table


@pytest.fixture
def table(aws: None) -> Any:
    return create_approvals_table()


@pytest.fixture
def store(table: Any) -> DynamoApprovalStore:
    return DynamoApprovalStore(TABLE)


def a_pending_approval(store: DynamoApprovalStore, now: datetime = T0) -> Approval:
    return create_approval(
        visit_id="v-1",
        door_id="front-door",
        photo=PHOTO,
        seen_at=now - timedelta(seconds=20),
        timeout_seconds=600,
        photos_bucket=BUCKET,
        approvals=store,
        now=now,
    )


class RecordingTaskTokens:
    def __init__(self) -> None:
        self.successes: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def send_success(self, task_token: str, output: Mapping[str, Any]) -> None:
        with self._lock:
            self.successes.append((task_token, dict(output)))

    def send_failure(self, task_token: str, error: str, cause: str) -> None:
        raise AssertionError("not used by decide")


# ------------------------------------------------------------------------------- item format


def test_a_new_approval_is_stored_in_the_documented_item_format(
    store: DynamoApprovalStore, table: Any
) -> None:
    # WHEN an approval is created
    approval = a_pending_approval(store)

    # THEN the item has the documented attributes; expiresAt is the TTL number (epoch seconds)
    item = table.get_item(Key={"approvalId": approval.approval_ref})["Item"]
    assert item == {
        "approvalId": approval.approval_ref,
        "status": "PENDING",
        "visitId": "v-1",
        "doorId": "front-door",
        "photo": {"bucket": BUCKET, "frameKey": "visits/v-1/frame.jpg", "faceKey": "visits/v-1/face.jpg"},
        "seenAt": "2026-05-01T11:59:40Z",
        "createdAt": "2026-05-01T12:00:00Z",
        "expiresAt": int((T0 + timedelta(seconds=600)).timestamp()),
        "expiresAtIso": "2026-05-01T12:10:00Z",
    }
    # AND it reads back as the same approval
    assert store.get(approval.approval_ref) == approval


def test_get_of_an_unknown_id_is_none(store: DynamoApprovalStore) -> None:
    assert store.get("A" * 32) is None


def test_adding_an_existing_id_fails_instead_of_overwriting(store: DynamoApprovalStore) -> None:
    approval = a_pending_approval(store)

    with pytest.raises(RuntimeError, match="already exists"):
        store.add(approval)


# ------------------------------------------------------------------------------- transitions


def test_attaching_a_token_replaces_the_previous_one(store: DynamoApprovalStore) -> None:
    approval = a_pending_approval(store)

    store.attach_task_token(approval.approval_ref, "token-1", "exec-1", T0 + timedelta(seconds=1))
    updated = store.attach_task_token(approval.approval_ref, "token-2", "exec-1", T0 + timedelta(seconds=3))

    assert updated.task_token == "token-2" and updated.execution_name == "exec-1"
    assert store.get(approval.approval_ref) == updated


def test_attaching_a_token_to_an_expired_request_fails_with_the_current_record(
    store: DynamoApprovalStore,
) -> None:
    approval = a_pending_approval(store)

    with pytest.raises(ConditionNotMet) as raised:
        store.attach_task_token(approval.approval_ref, "token-1", "exec-1", approval.expires_at)

    assert raised.value.current == approval
    assert store.get(approval.approval_ref) == approval


def test_a_failed_condition_on_a_missing_item_carries_none(store: DynamoApprovalStore) -> None:
    with pytest.raises(ConditionNotMet) as raised:
        store.attach_task_token("A" * 32, "token-1", "exec-1", T0)
    assert raised.value.current is None


def test_mark_notified_keeps_the_first_time(store: DynamoApprovalStore) -> None:
    approval = a_pending_approval(store)

    store.mark_notified(approval.approval_ref, "sms", T0 + timedelta(seconds=1))
    store.mark_notified(approval.approval_ref, "sms", T0 + timedelta(seconds=9))
    store.mark_notified(approval.approval_ref, "email", T0 + timedelta(seconds=2))

    stored = store.get(approval.approval_ref)
    assert stored is not None
    assert stored.sms_sent_at == T0 + timedelta(seconds=1)
    assert stored.email_sent_at == T0 + timedelta(seconds=2)


def test_a_decision_needs_a_token_a_pending_status_and_time_left(
    store: DynamoApprovalStore, table: Any
) -> None:
    approval = a_pending_approval(store)
    decided_at = T0 + timedelta(seconds=30, microseconds=123)

    # no token yet: refused, with the record attached
    with pytest.raises(ConditionNotMet) as no_token:
        store.record_decision(
            approval.approval_ref, ApprovalStatus.APPROVED, "Ada", VISITOR_PHONE, decided_at
        )
    assert no_token.value.current == approval

    # with a token: the one write moves it to APPROVED with the contact and the decision time
    store.attach_task_token(approval.approval_ref, TOKEN, "exec-1", T0)
    decided = store.record_decision(
        approval.approval_ref, ApprovalStatus.APPROVED, "Ada", VISITOR_PHONE, decided_at
    )
    assert decided.status is ApprovalStatus.APPROVED
    assert (decided.visitor_name, decided.visitor_phone, decided.decided_at) == (
        "Ada",
        VISITOR_PHONE,
        decided_at,
    )
    assert decided.task_token == TOKEN
    item = table.get_item(Key={"approvalId": approval.approval_ref})["Item"]
    assert item["decidedAt"] == "2026-05-01T12:00:30.000123Z"

    # a second decision is refused and sees the first
    with pytest.raises(ConditionNotMet) as second:
        store.record_decision(approval.approval_ref, ApprovalStatus.DENIED, None, None, decided_at)
    assert second.value.current == decided


def test_expiring_a_decided_record_needs_the_same_decision_and_forgets_the_contact(
    store: DynamoApprovalStore, table: Any
) -> None:
    approval = a_pending_approval(store)
    store.attach_task_token(approval.approval_ref, TOKEN, "exec-1", T0)
    decided_at = T0 + timedelta(seconds=30)
    store.record_decision(approval.approval_ref, ApprovalStatus.APPROVED, "Ada", VISITOR_PHONE, decided_at)

    # another decision time (someone else's write) does not match
    with pytest.raises(ConditionNotMet):
        store.expire(approval.approval_ref, T0, ApprovalStatus.APPROVED, decided_at + timedelta(seconds=1))

    expired = store.expire(
        approval.approval_ref, T0 + timedelta(seconds=31), ApprovalStatus.APPROVED, decided_at
    )
    assert expired.status is ApprovalStatus.EXPIRED
    item = table.get_item(Key={"approvalId": approval.approval_ref})["Item"]
    assert not {"visitorName", "visitorPhone", "taskToken"} & set(item)
    assert item["expiredAt"] == "2026-05-01T12:00:31Z"


def test_deleting_an_approved_request_removes_the_contact_with_it_once(
    store: DynamoApprovalStore, table: Any
) -> None:
    # GIVEN an approved request holding the name and phone the owner typed, and another request
    approval = a_pending_approval(store)
    other = a_pending_approval(store)
    store.attach_task_token(approval.approval_ref, TOKEN, "exec-1", T0)
    store.record_decision(approval.approval_ref, ApprovalStatus.APPROVED, "Ada", VISITOR_PHONE, T0)

    # WHEN it is deleted (smartdoor visitors forget), THEN it is gone and the other stays
    assert store.delete(approval.approval_ref) is True
    assert store.get(approval.approval_ref) is None
    assert [item["approvalId"] for item in table.scan()["Items"]] == [other.approval_ref]
    # AND deleting it again says there was nothing
    assert store.delete(approval.approval_ref) is False


def test_reopening_undoes_exactly_one_decision(store: DynamoApprovalStore, table: Any) -> None:
    approval = a_pending_approval(store)
    store.attach_task_token(approval.approval_ref, TOKEN, "exec-1", T0)
    decided_at = T0 + timedelta(seconds=30)
    store.record_decision(approval.approval_ref, ApprovalStatus.APPROVED, "Ada", VISITOR_PHONE, decided_at)

    reopened = store.reopen(approval.approval_ref, ApprovalStatus.APPROVED, decided_at)

    assert reopened.status is ApprovalStatus.PENDING and reopened.task_token == TOKEN
    item = table.get_item(Key={"approvalId": approval.approval_ref})["Item"]
    assert not {"visitorName", "visitorPhone", "decidedAt"} & set(item)
    with pytest.raises(ConditionNotMet):
        store.reopen(approval.approval_ref, ApprovalStatus.APPROVED, decided_at)


def test_the_workflows_own_expiry_write_is_read_as_expired(store: DynamoApprovalStore, table: Any) -> None:
    # GIVEN the ASL's "Mark approval expired" state (a direct UpdateItem that sets only status)
    approval = a_pending_approval(store)
    table.update_item(
        Key={"approvalId": approval.approval_ref},
        UpdateExpression="SET #status = :expired",
        ConditionExpression="#status = :pending",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":expired": "EXPIRED", ":pending": "PENDING"},
    )

    # THEN the store reads it as EXPIRED
    stored = store.get(approval.approval_ref)
    assert stored is not None and stored.status is ApprovalStatus.EXPIRED


def test_throttling_is_a_transient_error(table: Any) -> None:
    # GIVEN DynamoDB answers with throttling
    throttled = boto3.resource("dynamodb").Table(TABLE)
    with Stubber(throttled.meta.client) as stubber:
        stubber.add_client_error(
            "get_item", service_error_code="ProvisionedThroughputExceededException", http_status_code=400
        )

        # WHEN / THEN the store reports a transient failure (the workflow's Retry matches it)
        with pytest.raises(TransientError):
            DynamoApprovalStore(TABLE, table=throttled).get("A" * 32)


# ------------------------------------------------------------------------------- the race


@pytest.fixture
def dynamodb_serialises_writes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """DynamoDB applies conditional writes to one item one at a time; moto's in-memory backend
    has no such lock, so give it one (the code under test is unchanged)."""
    lock = threading.Lock()
    real_update = DynamoDBBackend.update_item

    def serialised(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return real_update(self, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "update_item", serialised)
    yield


def test_two_concurrent_decisions_exactly_one_wins(
    store: DynamoApprovalStore, dynamodb_serialises_writes: None
) -> None:
    # GIVEN an approval the workflow waits on, and two owners (phone and laptop) deciding at once
    approval = a_pending_approval(store)
    store.attach_task_token(approval.approval_ref, TOKEN, "exec-1", T0)
    tokens = RecordingTaskTokens()
    # Both deciders are held just before their UpdateItem until both got there: whatever each
    # read before that point, neither has seen the other's write.
    at_the_write = threading.Barrier(2, timeout=10)
    outcomes: dict[str, DecisionResult | Exception] = {}

    def owner(decision: str) -> None:
        table = boto3.resource("dynamodb").Table(TABLE)

        def hold(**_: Any) -> None:
            at_the_write.wait()  # returns None: botocore goes on with the real call

        table.meta.client.meta.events.register("before-call.dynamodb.UpdateItem", hold)
        try:
            outcomes[decision] = decide(
                LINK_KEY.owner_id(approval.approval_ref),
                decision,
                name="Ada" if decision == "approve" else None,
                phone=VISITOR_PHONE if decision == "approve" else None,
                now=T0 + timedelta(seconds=30),
                approvals=DynamoApprovalStore(TABLE, table=table),
                task_tokens=tokens,
                link_key=LINK_KEY,
            )
        except Exception as error:
            outcomes[decision] = error

    # WHEN both decide at the same moment
    threads = [threading.Thread(target=owner, args=(d,)) for d in ("approve", "deny")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    # THEN exactly one decision won, the other was told it was already decided,
    # the record holds the winner's decision and the workflow heard exactly one
    winners = [d for d, outcome in outcomes.items() if isinstance(outcome, DecisionResult)]
    losers = [d for d, outcome in outcomes.items() if isinstance(outcome, ApprovalAlreadyDecided)]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    stored = store.get(approval.approval_ref)
    assert stored is not None
    assert stored.status is (ApprovalStatus.APPROVED if winners == ["approve"] else ApprovalStatus.DENIED)
    assert tokens.successes == [(TOKEN, {"approvalRef": approval.approval_ref, "decision": winners[0]})]
