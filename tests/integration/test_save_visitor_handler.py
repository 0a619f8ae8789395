"""save_visitor's Lambda handler on moto's DynamoDB: the visitor is written from the APPROVED
approval record; the workflow's state never supplies (or receives) the phone number."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from msgspec import ValidationError

from save_visitor.handler import handler
from smartdoor.adapters.approval_store import DynamoApprovalStore
from smartdoor.domain.approvals import (
    Approval,
    ApprovalNotApproved,
    ApprovalNotFound,
    ApprovalStatus,
    create_approval,
)
from smartdoor.models import VisitPhoto
from tests.fakes.lambda_context import FakeLambdaContext
from tests.integration.test_approval_store import BUCKET, TABLE, create_approvals_table

VISITORS_TABLE = "smartdoor-visitors"
PHOTO = VisitPhoto(bucket=BUCKET, frame_key="visits/v-1/frame.jpg", face_key="visits/v-1/face.jpg")
VISITOR_PHONE = "+447700900123"
T0 = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
VISITOR_ID = "vis-0123456789abcdef"


@pytest.fixture
def visitors(aws: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("APPROVALS_TABLE", TABLE)
    monkeypatch.setenv("VISITORS_TABLE", VISITORS_TABLE)
    create_approvals_table()
    return boto3.resource("dynamodb").create_table(
        TableName=VISITORS_TABLE,
        KeySchema=[{"AttributeName": "visitorId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "visitorId", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def an_approval(decision: ApprovalStatus | None) -> Approval:
    """Created now, the owner asked; then approved (with a contact), denied, or left pending."""
    store = DynamoApprovalStore(TABLE)
    now = datetime.now(UTC)
    approval = create_approval(
        visit_id="v-1",
        door_id="front-door",
        photo=PHOTO,
        seen_at=now,
        timeout_seconds=600,
        photos_bucket=BUCKET,
        approvals=store,
        now=now,
    )
    store.attach_task_token(approval.approval_ref, "task-token", "exec-1", now)
    if decision is ApprovalStatus.APPROVED:
        store.record_decision(approval.approval_ref, decision, "Ada Lovelace", VISITOR_PHONE, now)
    elif decision is ApprovalStatus.DENIED:
        store.record_decision(approval.approval_ref, decision, None, None, now)
    return approval


def workflow_input(approval_ref: str, **changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "approvalRef": approval_ref,
        "visitorId": VISITOR_ID,
        "faceIds": ["face-1", "face-2"],
        "photo": PHOTO.to_wire(),
        "doorId": "front-door",
    }
    event.update(changes)
    return event


def test_saves_the_approved_visitor_and_returns_only_id_and_name(visitors: Any) -> None:
    # GIVEN the owner approved "Ada Lovelace" with her phone number
    approval = an_approval(ApprovalStatus.APPROVED)

    # WHEN the workflow saves the visitor it enrolled
    output = handler(workflow_input(approval.approval_ref), FakeLambdaContext(), now=T0)

    # THEN the state gets the id and the name, never the phone
    assert output == {"visitorId": VISITOR_ID, "name": "Ada Lovelace"}
    # AND the Visitors table holds the full record, contact from the approval
    item = visitors.get_item(Key={"visitorId": VISITOR_ID})["Item"]
    assert item == {
        "visitorId": VISITOR_ID,
        "name": "Ada Lovelace",
        "phone": VISITOR_PHONE,
        "faceIds": ["face-1", "face-2"],
        "photoKeys": ["visits/v-1/frame.jpg", "visits/v-1/face.jpg"],
        "createdAt": "2026-05-01T12:00:00Z",
        "approvalId": approval.approval_ref,
        "doorId": "front-door",
    }


def test_a_name_or_phone_in_the_state_is_ignored(visitors: Any) -> None:
    # GIVEN an approved request, and a state that (wrongly) carries other contact details
    approval = an_approval(ApprovalStatus.APPROVED)
    event = workflow_input(approval.approval_ref, name="Mallory", phone="+15550166666")

    output = handler(event, FakeLambdaContext(), now=T0)

    item = visitors.get_item(Key={"visitorId": VISITOR_ID})["Item"]
    assert (output["name"], item["name"], item["phone"]) == ("Ada Lovelace", "Ada Lovelace", VISITOR_PHONE)


def test_a_retried_save_writes_the_same_visitor(visitors: Any) -> None:
    approval = an_approval(ApprovalStatus.APPROVED)
    first = handler(workflow_input(approval.approval_ref), FakeLambdaContext(), now=T0)

    second = handler(
        workflow_input(approval.approval_ref), FakeLambdaContext(), now=T0 + timedelta(seconds=4)
    )

    assert second == first
    [item] = visitors.scan()["Items"]
    assert item["createdAt"] == "2026-05-01T12:00:00Z"


@pytest.mark.parametrize("decision", [None, ApprovalStatus.DENIED])
def test_a_request_that_was_not_approved_saves_nobody(visitors: Any, decision: ApprovalStatus | None) -> None:
    approval = an_approval(decision)

    with pytest.raises(ApprovalNotApproved):
        handler(workflow_input(approval.approval_ref), FakeLambdaContext(), now=T0)

    assert visitors.scan()["Items"] == []


def test_an_unknown_approval_saves_nobody(visitors: Any) -> None:
    with pytest.raises(ApprovalNotFound):
        handler(workflow_input("Z" * 32), FakeLambdaContext(), now=T0)

    assert visitors.scan()["Items"] == []


@pytest.mark.parametrize(
    "changes", [{"faceIds": []}, {"visitorId": "has spaces"}, {"photo": {"bucket": BUCKET}}, {"doorId": None}]
)
def test_a_malformed_input_saves_nobody(visitors: Any, changes: dict[str, Any]) -> None:
    approval = an_approval(ApprovalStatus.APPROVED)

    with pytest.raises(ValidationError):
        handler(workflow_input(approval.approval_ref, **changes), FakeLambdaContext(), now=T0)

    assert visitors.scan()["Items"] == []
