"""create_approval's Lambda handler on moto's DynamoDB: the workflow's input in, `{approvalRef,
expiresAt, timeoutSeconds, visitorId}` out, one PENDING record stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from msgspec import ValidationError

from create_approval.handler import handler
from smartdoor.domain.approvals import InvalidApprovalInput
from smartdoor.domain.face_matching import visitor_id_for
from smartdoor.settings import reset_settings_cache
from tests.fakes.lambda_context import FakeLambdaContext
from tests.integration.test_approval_store import BUCKET, TABLE, create_approvals_table

T0 = datetime(2026, 5, 1, 12, 0, 0, 400_000, tzinfo=UTC)


@pytest.fixture
def table(aws: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("APPROVALS_TABLE", TABLE)
    monkeypatch.setenv("PHOTOS_BUCKET", BUCKET)
    monkeypatch.setenv("APPROVAL_TIMEOUT_SECONDS", "600")
    return create_approvals_table()


def workflow_input(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "visitId": "v-1",
        "doorId": "front-door",
        "photo": {"bucket": BUCKET, "frameKey": "visits/v-1/frame.jpg", "faceKey": "visits/v-1/face.jpg"},
        "detectedAt": "2026-05-01T11:59:40.500Z",
    }
    event.update(changes)
    return event


def all_items(table: Any) -> list[dict[str, Any]]:
    return list(table.scan()["Items"])


def test_creates_a_pending_request_and_returns_what_the_wait_state_needs(table: Any) -> None:
    # WHEN the workflow creates an approval at T0
    output = handler(workflow_input(), FakeLambdaContext(), now=T0)

    # THEN it gets the id, the expiry and the timeout its wait state uses (TimeoutSecondsPath), and
    # the visitor an approval creates (recorded as decided in the visit before enrolment)
    assert set(output) == {"approvalRef", "expiresAt", "timeoutSeconds", "visitorId"}
    assert output["visitorId"] == visitor_id_for(output["approvalRef"])
    assert output["expiresAt"] == "2026-05-01T12:10:00Z"
    assert output["timeoutSeconds"] == 600
    assert len(output["approvalRef"]) == 22  # 128 random bits
    # AND exactly one PENDING record exists, with the photo and the detection time
    [item] = all_items(table)
    assert item["approvalId"] == output["approvalRef"]
    assert item["status"] == "PENDING"
    assert item["seenAt"] == "2026-05-01T11:59:40.500000Z"
    assert item["photo"]["frameKey"] == "visits/v-1/frame.jpg"
    assert item["expiresAt"] == int(datetime(2026, 5, 1, 12, 10, tzinfo=UTC).timestamp())


def test_the_request_expires_no_later_than_the_timeout_from_now(table: Any) -> None:
    before = datetime.now(UTC)

    output = handler(workflow_input(), FakeLambdaContext())

    expires_at = datetime.fromisoformat(output["expiresAt"])
    assert before + timedelta(seconds=599) <= expires_at <= datetime.now(UTC) + timedelta(seconds=600)


@pytest.mark.parametrize(
    "changes",
    [
        {"photo": None},
        {"photo": {"bucket": BUCKET, "frameKey": "visits/v-1/frame.jpg"}},
        {"detectedAt": "2026-05-01T11:59:40"},  # no timezone
        {"detectedAt": "yesterday"},
        {"visitId": ""},
        {"doorId": "front door/../x"},
    ],
)
def test_a_malformed_input_fails_the_task_and_stores_nothing(table: Any, changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        handler(workflow_input(**changes), FakeLambdaContext(), now=T0)

    assert all_items(table) == []


def test_a_photo_outside_the_photos_bucket_is_refused(table: Any) -> None:
    photo = {"bucket": "elsewhere", "frameKey": "a.jpg", "faceKey": "b.jpg"}

    with pytest.raises(InvalidApprovalInput) as raised:
        handler(workflow_input(photo=photo), FakeLambdaContext(), now=T0)

    assert raised.value.field == "photo.bucket"
    assert all_items(table) == []


def test_a_deployment_without_a_timeout_fails_loudly(table: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APPROVAL_TIMEOUT_SECONDS")
    reset_settings_cache()

    with pytest.raises(ValidationError, match="APPROVAL_TIMEOUT_SECONDS"):
        handler(workflow_input(), FakeLambdaContext(), now=T0)

    assert all_items(table) == []
