"""Deciding an approval against Step Functions' real API model (botocore Stubber) and moto's DynamoDB.

The Stubber validates every request against the stepfunctions service model and lets us answer
with the error codes Step Functions uses when nothing waits for a token any more.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from smartdoor.adapters.approval_store import DynamoApprovalStore
from smartdoor.adapters.task_tokens import StepFunctionsTaskTokens
from smartdoor.domain.approvals import (
    Approval,
    ApprovalExpired,
    ApprovalStatus,
    TaskTokenRejected,
    create_approval,
    decide,
)
from smartdoor.errors import TransientError
from smartdoor.models import VisitPhoto
from tests.fakes.link_key import StaticLinkKey
from tests.integration.test_approval_store import create_approvals_table

LINK_KEY = StaticLinkKey()

TABLE = "smartdoor-approvals"
BUCKET = "smartdoor-photos"
PHOTO = VisitPhoto(bucket=BUCKET, frame_key="visits/v-1/frame.jpg", face_key="visits/v-1/face.jpg")
T0 = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAA-secret-task-token-1"
VISITOR_PHONE = "+447700900123"


@pytest.fixture
def sfn() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("stepfunctions", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def store(aws: None) -> DynamoApprovalStore:
    create_approvals_table()
    return DynamoApprovalStore(TABLE)


def an_asked_approval(store: DynamoApprovalStore) -> Approval:
    approval = create_approval(
        visit_id="v-1",
        door_id="front-door",
        photo=PHOTO,
        seen_at=T0,
        timeout_seconds=600,
        photos_bucket=BUCKET,
        approvals=store,
        now=T0,
    )
    return store.attach_task_token(approval.approval_ref, TOKEN, "exec-1", T0)


def task_output(approval_ref: str, decision: str) -> str:
    return json.dumps({"approvalRef": approval_ref, "decision": decision})


# ------------------------------------------------------------------------------- the adapter


def test_send_success_sends_the_token_and_the_json_output(sfn: tuple[Any, Stubber]) -> None:
    client, stubber = sfn
    stubber.add_response(
        "send_task_success", {}, {"taskToken": TOKEN, "output": '{"approvalRef": "abc", "decision": "deny"}'}
    )

    StepFunctionsTaskTokens(client).send_success(TOKEN, {"approvalRef": "abc", "decision": "deny"})


def test_send_failure_keeps_error_and_cause_within_the_api_limits(sfn: tuple[Any, Stubber]) -> None:
    client, stubber = sfn
    stubber.add_response(
        "send_task_failure", {}, {"taskToken": TOKEN, "error": "E" * 256, "cause": "c" * 32768}
    )

    StepFunctionsTaskTokens(client).send_failure(TOKEN, "E" * 300, "c" * 40000)


@pytest.mark.parametrize("code", ["TaskTimedOut", "InvalidToken", "TaskDoesNotExist"])
def test_a_token_nothing_waits_for_is_rejected(sfn: tuple[Any, Stubber], code: str) -> None:
    client, stubber = sfn
    stubber.add_client_error("send_task_success", service_error_code=code, http_status_code=400)

    with pytest.raises(TaskTokenRejected) as raised:
        StepFunctionsTaskTokens(client).send_success(TOKEN, {"approvalRef": "abc", "decision": "approve"})

    assert code in str(raised.value)
    assert TOKEN not in str(raised.value)


def test_throttling_is_transient(sfn: tuple[Any, Stubber]) -> None:
    client, stubber = sfn
    stubber.add_client_error(
        "send_task_success", service_error_code="ThrottlingException", http_status_code=400
    )

    with pytest.raises(TransientError):
        StepFunctionsTaskTokens(client).send_success(TOKEN, {"approvalRef": "abc", "decision": "approve"})


def test_other_errors_are_not_disguised(sfn: tuple[Any, Stubber]) -> None:
    client, stubber = sfn
    stubber.add_client_error("send_task_success", service_error_code="InvalidOutput", http_status_code=400)

    with pytest.raises(Exception) as raised:
        StepFunctionsTaskTokens(client).send_success(TOKEN, {"approvalRef": "abc", "decision": "approve"})

    assert not isinstance(raised.value, TaskTokenRejected | TransientError)


# ------------------------------------------------------------------------------- decide end to end


def test_approving_resumes_the_workflow_with_only_the_id_and_the_decision(
    store: DynamoApprovalStore, sfn: tuple[Any, Stubber]
) -> None:
    # GIVEN the workflow waits on TOKEN
    approval = an_asked_approval(store)
    client, stubber = sfn
    # THEN (checked by the Stubber) SendTaskSuccess carries the token and only {approvalRef, decision}
    stubber.add_response(
        "send_task_success", {}, {"taskToken": TOKEN, "output": task_output(approval.approval_ref, "approve")}
    )

    # WHEN the owner approves
    result = decide(
        LINK_KEY.owner_id(approval.approval_ref),
        "approve",
        name="Ada Lovelace",
        phone=VISITOR_PHONE,
        now=T0 + timedelta(seconds=60),
        approvals=store,
        task_tokens=StepFunctionsTaskTokens(client),
        link_key=LINK_KEY,
    )

    # AND the record is APPROVED with the contact, for save_visitor
    assert result.status is ApprovalStatus.APPROVED
    stored = store.get(approval.approval_ref)
    assert stored is not None
    assert (stored.status, stored.visitor_name, stored.visitor_phone) == (
        ApprovalStatus.APPROVED,
        "Ada Lovelace",
        VISITOR_PHONE,
    )


@pytest.mark.parametrize("code", ["TaskTimedOut", "InvalidToken"])
def test_a_timed_out_task_turns_the_decision_into_an_expiry(
    store: DynamoApprovalStore, sfn: tuple[Any, Stubber], code: str
) -> None:
    # GIVEN the workflow's wait already timed out, although the record was not marked yet
    approval = an_asked_approval(store)
    client, stubber = sfn
    stubber.add_client_error(
        "send_task_success",
        service_error_code=code,
        http_status_code=400,
        expected_params={"taskToken": TOKEN, "output": task_output(approval.approval_ref, "approve")},
    )

    # WHEN the owner approves
    with pytest.raises(TaskTokenRejected) as raised:
        decide(
            LINK_KEY.owner_id(approval.approval_ref),
            "approve",
            name="Ada Lovelace",
            phone=VISITOR_PHONE,
            now=T0 + timedelta(seconds=60),
            approvals=store,
            task_tokens=StepFunctionsTaskTokens(client),
            link_key=LINK_KEY,
        )

    # THEN the API can answer 410 (it is an ApprovalExpired) and the record is EXPIRED without contact
    assert isinstance(raised.value, ApprovalExpired)
    stored = store.get(approval.approval_ref)
    assert stored is not None
    assert stored.status is ApprovalStatus.EXPIRED
    assert stored.visitor_name is None and stored.visitor_phone is None and stored.task_token is None


def test_a_throttled_step_functions_leaves_the_request_pending_for_a_retry(
    store: DynamoApprovalStore, sfn: tuple[Any, Stubber]
) -> None:
    approval = an_asked_approval(store)
    client, stubber = sfn
    stubber.add_client_error(
        "send_task_success", service_error_code="ThrottlingException", http_status_code=400
    )
    stubber.add_response(
        "send_task_success", {}, {"taskToken": TOKEN, "output": task_output(approval.approval_ref, "deny")}
    )
    tokens = StepFunctionsTaskTokens(client)

    with pytest.raises(TransientError):
        decide(
            LINK_KEY.owner_id(approval.approval_ref),
            "deny",
            now=T0 + timedelta(seconds=60),
            approvals=store,
            task_tokens=tokens,
            link_key=LINK_KEY,
        )
    stored = store.get(approval.approval_ref)
    assert stored is not None and stored.status is ApprovalStatus.PENDING and stored.decided_at is None

    decide(
        LINK_KEY.owner_id(approval.approval_ref),
        "deny",
        now=T0 + timedelta(seconds=62),
        approvals=store,
        task_tokens=tokens,
        link_key=LINK_KEY,
    )
    stored = store.get(approval.approval_ref)
    assert stored is not None and stored.status is ApprovalStatus.DENIED
