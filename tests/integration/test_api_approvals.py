"""GET/POST /approvals/{approvalId}: the real API handler on moto, with real Step Functions task tokens."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from botocore.stub import Stubber
from msgspec import ValidationError

from api.handler import MAX_BODY_BYTES, ApiSettings, reset_adapters
from smartdoor.adapters.task_tokens import StepFunctionsTaskTokens
from smartdoor.domain.approvals import ApprovalStatus, utc_now
from smartdoor.settings import read_settings, reset_settings_cache
from tests.e2e.api_world import APPROVALS_TABLE, DOOR_ID, SITE_ORIGIN, ApiWorld, use_world_environment


def status_of(world: ApiWorld, approval_id: str) -> ApprovalStatus:
    record = world.approvals.get(approval_id)
    assert record is not None
    return record.status


def link_lifetime(url: str) -> int:
    return int(parse_qs(urlsplit(url).query)["X-Amz-Expires"][0])


# ---------------------------------------------------------------------------- GET


def test_get_shows_a_pending_request_with_short_lived_photo_links_and_no_token(world: ApiWorld) -> None:
    # GIVEN an approval the workflow is waiting on
    approval, _ = world.waiting_approval()
    # WHEN the owner page asks for it
    answer = world.call("GET", f"/approvals/{world.owner_id(approval)}")
    # THEN it sees the photo (presigned, at most 5 minutes), when and where, expiry and status
    assert answer.status == 200
    body = answer.body
    assert body["status"] == "PENDING"
    assert body["doorId"] == DOOR_ID
    assert datetime.fromisoformat(body["seenAt"]) == approval.seen_at.replace(microsecond=0)
    assert datetime.fromisoformat(body["expiresAt"]) == approval.expires_at
    assert urlsplit(body["photoUrl"]).path.endswith(approval.photo.face_key)
    assert urlsplit(body["frameUrl"]).path.endswith(approval.photo.frame_key)
    assert 0 < link_lifetime(body["photoUrl"]) <= 300
    assert 0 < link_lifetime(body["frameUrl"]) <= 300
    # AND the task token is nowhere in the answer, and it is not cached
    assert approval.task_token and approval.task_token not in json.dumps(body)
    assert "taskToken" not in json.dumps(body)
    assert answer.header("Cache-Control") == "no-store"


def test_photo_links_never_outlive_the_request(world: ApiWorld) -> None:
    # GIVEN a request that expires in 90 seconds
    approval = world.pending_approval(timeout_seconds=90)
    # WHEN it is shown
    answer = world.call("GET", f"/approvals/{world.owner_id(approval)}")
    # THEN its photo link dies with it
    assert answer.status == 200
    assert link_lifetime(answer.body["photoUrl"]) <= 90


@pytest.mark.parametrize(
    "approval_id",
    ["A" * 32 + "." + "A" * 22, "A" * 32, "not-an-id", "x" * 200, "..%2F..%2Fetc"],
    ids=["well-formed-unknown", "no-mac", "too-short", "too-long", "traversal"],
)
def test_get_unknown_is_404(world: ApiWorld, approval_id: str) -> None:
    # WHEN the page asks for an id that does not exist
    answer = world.call("GET", f"/approvals/{approval_id}")
    # THEN not found, with nothing about approvals in the answer
    assert answer.status == 404
    assert answer.body == {"error": "not found"}


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_wrong_mac_is_answered_as_an_unknown_approval(world: ApiWorld, method: str) -> None:
    # GIVEN an approval the workflow waits on, and ids that name its ref without its MAC: the ref
    # alone (what the execution history shows), a MAC one character off, a truncated one
    approval, _ = world.waiting_approval()
    ref, _, mac = world.owner_id(approval).partition(".")
    forged = [ref, f"{ref}.{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}", f"{ref}.{mac[:-2]}"]
    unknown = world.call(method, "/approvals/" + "U" * 32 + "." + "A" * 22, {"decision": "deny"})

    for approval_id in forged:
        # WHEN the page sends it
        answer = world.call(method, f"/approvals/{approval_id}", {"decision": "deny"})
        # THEN exactly what an approval that does not exist gets, and nothing changed
        assert (answer.status, answer.body) == (unknown.status, unknown.body) == (404, {"error": "not found"})
    assert world.approvals.get(approval.approval_ref) == approval
    # AND the owner's id still opens it
    assert world.call("GET", f"/approvals/{world.owner_id(approval)}").status == 200


def test_get_expired_is_410(world: ApiWorld) -> None:
    # GIVEN a request past its expiry
    approval = world.pending_approval(timeout_seconds=60)
    # WHEN it is opened afterwards
    answer = world.call(
        "GET", f"/approvals/{world.owner_id(approval)}", now=utc_now() + timedelta(seconds=61)
    )
    # THEN gone, and why
    assert answer.status == 410
    assert answer.body["status"] == "EXPIRED"
    assert "photoUrl" not in answer.body


def test_get_decided_is_410(world: ApiWorld) -> None:
    # GIVEN a request the owner already denied
    approval, _ = world.waiting_approval()
    assert world.call("POST", f"/approvals/{world.owner_id(approval)}", {"decision": "deny"}).status == 200
    # WHEN the link is opened again
    answer = world.call("GET", f"/approvals/{world.owner_id(approval)}")
    # THEN gone: already decided
    assert answer.status == 410
    assert answer.body["status"] == "DECIDED"
    assert "photoUrl" not in answer.body


# ---------------------------------------------------------------------------- POST: decisions


def test_approve_records_the_visitor_and_moves_the_execution_on(world: ApiWorld) -> None:
    # GIVEN a waiting execution
    approval, execution = world.waiting_approval()
    # WHEN the owner approves with the visitor's name and phone
    answer = world.call(
        "POST",
        f"/approvals/{world.owner_id(approval)}",
        {"decision": "approve", "name": "  Ada Lovelace ", "phone": "+447700900123"},
    )
    # THEN the decision is recorded once, with the contact on the record only
    assert answer.status == 200
    assert answer.body["decision"] == "approve"
    assert answer.body["status"] == "APPROVED"
    record = world.approvals.get(approval.approval_ref)
    assert record is not None
    assert record.status is ApprovalStatus.APPROVED
    assert (record.visitor_name, record.visitor_phone) == ("Ada Lovelace", "+447700900123")
    # AND the execution received the decision through its task token and moved on
    assert world.wait_for_status(execution, "SUCCEEDED") == "SUCCEEDED"
    history = boto3.client("stepfunctions").get_execution_history(executionArn=execution)["events"]
    succeeded = [e for e in history if e["type"] == "TaskSucceeded"]
    assert len(succeeded) == 1
    output = json.loads(succeeded[0]["taskSucceededEventDetails"]["output"])
    assert output == {"approvalRef": approval.approval_ref, "decision": "approve"}
    # AND the visitor's phone never reached the execution history
    assert "+447700900123" not in json.dumps(history, default=str)


def test_deny_is_an_outcome_not_a_failure(world: ApiWorld) -> None:
    # GIVEN a waiting execution
    approval, execution = world.waiting_approval()
    # WHEN the owner denies (no name or phone needed)
    answer = world.call("POST", f"/approvals/{world.owner_id(approval)}", {"decision": "deny"})
    # THEN the request is denied and the workflow gets a success carrying "deny"
    assert answer.status == 200
    assert answer.body["status"] == "DENIED"
    assert status_of(world, approval.approval_ref) is ApprovalStatus.DENIED
    assert world.wait_for_status(execution, "SUCCEEDED") == "SUCCEEDED"
    types = world.history_types(execution)
    assert "TaskSucceeded" in types and "TaskFailed" not in types


def test_second_decision_is_409_and_changes_nothing(world: ApiWorld) -> None:
    # GIVEN a request the owner approved
    approval, execution = world.waiting_approval()
    first = {"decision": "approve", "name": "Ada", "phone": "+447700900123"}
    assert world.call("POST", f"/approvals/{world.owner_id(approval)}", first).status == 200
    before = world.approvals.get(approval.approval_ref)
    # WHEN a second decision arrives (another tap, another device)
    answer = world.call("POST", f"/approvals/{world.owner_id(approval)}", {"decision": "deny"})
    # THEN conflict, and the first decision stands
    assert answer.status == 409
    assert answer.body["status"] == "DECIDED"
    assert world.approvals.get(approval.approval_ref) == before
    assert world.wait_for_status(execution, "SUCCEEDED") == "SUCCEEDED"
    assert world.history_types(execution).count("TaskSucceeded") == 1


@pytest.mark.usefixtures("atomic_items")
def test_racing_decisions_have_exactly_one_winner(world: ApiWorld) -> None:
    # GIVEN one waiting request and two devices deciding at the same moment
    approval, execution = world.waiting_approval()
    barrier = threading.Barrier(2)
    answers: list[int] = []
    errors: list[BaseException] = []

    def decide(body: dict[str, Any]) -> None:
        try:
            barrier.wait(timeout=10)
            # Each caller gets its own boto3 resources, as separate Lambda environments would.
            session = boto3.session.Session()
            from smartdoor.adapters.approval_store import DynamoApprovalStore

            store = DynamoApprovalStore(
                APPROVALS_TABLE, table=session.resource("dynamodb").Table(APPROVALS_TABLE)
            )
            tokens = StepFunctionsTaskTokens(sfn_client=session.client("stepfunctions"))
            answers.append(
                world.call(
                    "POST",
                    f"/approvals/{world.owner_id(approval)}",
                    body,
                    approvals=store,
                    task_tokens=tokens,
                ).status
            )
        except BaseException as error:  # surfaced below
            errors.append(error)

    threads = [
        threading.Thread(
            target=decide, args=({"decision": "approve", "name": "Ada", "phone": "+447700900123"},)
        ),
        threading.Thread(target=decide, args=({"decision": "deny"},)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # THEN one decision wins, the other is told it came second, and the workflow heard once
    assert errors == []
    assert sorted(answers) == [200, 409]
    assert world.wait_for_status(execution, "SUCCEEDED") == "SUCCEEDED"
    assert world.history_types(execution).count("TaskSucceeded") == 1


# ---------------------------------------------------------------------------- POST: expiry


def test_decision_after_the_request_expired_is_410_and_changes_nothing(world: ApiWorld) -> None:
    # GIVEN a request whose time is up
    approval, execution = world.waiting_approval(timeout_seconds=60)
    # WHEN the owner approves too late
    answer = world.call(
        "POST",
        f"/approvals/{world.owner_id(approval)}",
        {"decision": "approve", "name": "Ada", "phone": "+447700900123"},
        now=utc_now() + timedelta(seconds=61),
    )
    # THEN gone; nothing recorded and the execution was not told anything
    assert answer.status == 410
    assert answer.body["status"] == "EXPIRED"
    record = world.approvals.get(approval.approval_ref)
    assert record is not None and record.visitor_name is None and record.decided_at is None
    assert world.execution_status(execution) == "RUNNING"


def test_decision_for_an_execution_that_already_timed_out_is_410_and_the_record_is_marked(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a workflow whose wait timed out before the record's own expiry
    world = ApiWorld.create(owner_wait_seconds=1)
    use_world_environment(world, monkeypatch)
    approval, execution = world.waiting_approval(timeout_seconds=600)
    assert world.wait_for_status(execution, "FAILED") == "FAILED"
    assert "ExecutionFailed" in world.history_types(execution)
    # WHEN the owner approves
    answer = world.call(
        "POST",
        f"/approvals/{world.owner_id(approval)}",
        {"decision": "approve", "name": "Ada", "phone": "+447700900123"},
    )
    # THEN Step Functions refuses the token: 410, and the record says EXPIRED without the contact
    assert answer.status == 410
    assert answer.body["status"] == "EXPIRED"
    record = world.approvals.get(approval.approval_ref)
    assert record is not None
    assert record.status is ApprovalStatus.EXPIRED
    assert record.visitor_name is None and record.visitor_phone is None
    # AND the link now shows "expired" and a retry is refused the same way
    assert world.call("GET", f"/approvals/{world.owner_id(approval)}").status == 410
    retry = world.call("POST", f"/approvals/{world.owner_id(approval)}", {"decision": "deny"})
    assert retry.status == 410
    reset_adapters()


def test_unreachable_step_functions_is_503_and_the_decision_is_undone(world: ApiWorld) -> None:
    # GIVEN Step Functions is failing
    approval, execution = world.waiting_approval()
    sfn = boto3.client("stepfunctions")
    stubber = Stubber(sfn)
    stubber.add_client_error(
        "send_task_success", service_error_code="ServiceUnavailable", http_status_code=503
    )
    # WHEN the owner approves
    with stubber:
        answer = world.call(
            "POST",
            f"/approvals/{world.owner_id(approval)}",
            {"decision": "approve", "name": "Ada", "phone": "+447700900123"},
            task_tokens=StepFunctionsTaskTokens(sfn_client=sfn),
        )
    # THEN "try again", and the request is PENDING again so the retry can succeed
    assert answer.status == 503
    assert answer.header("Retry-After")
    assert status_of(world, approval.approval_ref) is ApprovalStatus.PENDING
    retry = world.call("POST", f"/approvals/{world.owner_id(approval)}", {"decision": "deny"})
    assert retry.status == 200
    assert world.wait_for_status(execution, "SUCCEEDED") == "SUCCEEDED"


# ---------------------------------------------------------------------------- POST: bad input


APPROVE = {"decision": "approve", "name": "Ada Lovelace", "phone": "+447700900123"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "decision"),
        ({"decision": "maybe"}, "decision"),
        ({"decision": ["approve"]}, "decision"),
        ({"decision": "approve", "phone": "+447700900123"}, "name"),
        ({**APPROVE, "name": "   "}, "name"),
        ({**APPROVE, "name": "x" * 65}, "name"),
        ({**APPROVE, "name": "Ada\u0007"}, "name"),
        ({**APPROVE, "name": "Ada\nLovelace"}, "name"),
        ({**APPROVE, "name": 42}, "name"),
        ({"decision": "approve", "name": "Ada"}, "phone"),
        ({**APPROVE, "phone": "07700900123"}, "phone"),
        ({**APPROVE, "phone": "+0123456789"}, "phone"),
        ({**APPROVE, "phone": "+44 7700 900123"}, "phone"),
        ({**APPROVE, "phone": 447700900123}, "phone"),
        ({**APPROVE, "phone": "+447700900123\n"}, "phone"),
        ({**APPROVE, "phone": "+447700900123 "}, "phone"),
        ({**APPROVE, "phone": " +447700900123"}, "phone"),
        ({**APPROVE, "phone": "+447700900123\t"}, "phone"),
    ],
    ids=[
        "no-decision",
        "unknown-decision",
        "decision-not-a-string",
        "approve-without-name",
        "blank-name",
        "name-too-long",
        "name-with-control-character",
        "name-with-newline",
        "name-not-a-string",
        "approve-without-phone",
        "phone-not-e164",
        "phone-country-code-zero",
        "phone-with-spaces",
        "phone-not-a-string",
        "phone-with-trailing-newline",
        "phone-with-trailing-space",
        "phone-with-leading-space",
        "phone-with-trailing-tab",
    ],
)
def test_bad_fields_are_400_naming_the_field_and_change_nothing(
    world: ApiWorld, body: dict[str, Any], field: str
) -> None:
    # GIVEN a waiting request
    approval, execution = world.waiting_approval()
    # WHEN the decision is malformed
    answer = world.call("POST", f"/approvals/{world.owner_id(approval)}", body)
    # THEN 400 naming the field, without echoing what was sent
    assert answer.status == 400
    assert answer.body["field"] == field
    assert answer.body["error"].startswith(field)
    for value in body.values():
        if isinstance(value, str) and value.strip() and value not in ("approve", "deny"):
            assert value not in answer.body["error"]
    # AND the request still waits, untouched
    assert world.approvals.get(approval.approval_ref) == approval
    assert world.execution_status(execution) == "RUNNING"


def test_a_64_character_name_is_accepted(world: ApiWorld) -> None:
    approval, _ = world.waiting_approval()
    answer = world.call("POST", f"/approvals/{world.owner_id(approval)}", {**APPROVE, "name": "é" * 64})
    assert answer.status == 200


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{not json", "body is not valid JSON"),
        ('["approve"]', "body must be a JSON object"),
        ("", "body is required: send a JSON object"),
        ('"approve"', "body must be a JSON object"),
    ],
    ids=["broken-json", "array", "empty", "string"],
)
def test_bad_json_is_400_naming_the_body(world: ApiWorld, raw: str, message: str) -> None:
    approval, execution = world.waiting_approval()
    answer = world.call("POST", f"/approvals/{world.owner_id(approval)}", raw)
    assert answer.status == 400
    assert answer.body == {"error": message, "field": "body"}
    assert world.approvals.get(approval.approval_ref) == approval
    assert world.execution_status(execution) == "RUNNING"


def test_oversized_body_is_413_and_changes_nothing(world: ApiWorld) -> None:
    approval, execution = world.waiting_approval()
    body = {**APPROVE, "padding": "x" * MAX_BODY_BYTES}
    answer = world.call("POST", f"/approvals/{world.owner_id(approval)}", body)
    assert answer.status == 413
    assert world.approvals.get(approval.approval_ref) == approval
    assert world.execution_status(execution) == "RUNNING"


def test_decision_for_an_unknown_request_is_404(world: ApiWorld) -> None:
    answer = world.call("POST", f"/approvals/{'B' * 32}", {"decision": "deny"})
    assert answer.status == 404


def test_decision_before_the_owner_was_asked_is_409(world: ApiWorld) -> None:
    # GIVEN a request created but not yet waited on (no task token)
    approval = world.pending_approval()
    # WHEN a decision arrives anyway
    answer = world.call("POST", f"/approvals/{world.owner_id(approval)}", {"decision": "deny"})
    # THEN nothing can be decided yet, and nothing was
    assert answer.status == 409
    assert answer.header("Retry-After")
    assert world.approvals.get(approval.approval_ref) == approval


# ---------------------------------------------------------------------------- CORS


def test_cors_answers_only_the_site_origin(world: ApiWorld) -> None:
    approval = world.pending_approval()
    url = f"/approvals/{world.owner_id(approval)}"
    from_site = world.call("GET", url, headers={"Origin": SITE_ORIGIN})
    from_elsewhere = world.call("GET", url, headers={"Origin": "https://evil.example.net"})
    assert from_site.header("Access-Control-Allow-Origin") == SITE_ORIGIN
    assert from_elsewhere.header("Access-Control-Allow-Origin") is None


def test_cors_preflight_from_the_site(world: ApiWorld) -> None:
    approval = world.pending_approval()
    answer = world.call(
        "OPTIONS",
        f"/approvals/{world.owner_id(approval)}",
        headers={"Origin": SITE_ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    assert answer.status == 204
    assert answer.header("Access-Control-Allow-Origin") == SITE_ORIGIN
    assert "POST" in (answer.header("Access-Control-Allow-Methods") or "")
    assert world.approvals.get(approval.approval_ref) == approval


def test_without_a_site_origin_no_origin_gets_cors_headers(
    world: ApiWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SITE_ORIGIN")
    reset_settings_cache()
    approval = world.pending_approval()
    answer = world.call("GET", f"/approvals/{world.owner_id(approval)}", headers={"Origin": SITE_ORIGIN})
    assert answer.status == 200
    assert answer.header("Access-Control-Allow-Origin") is None


@pytest.mark.parametrize(
    "origin", ["https://door.example.com/", "https://door.example.com/owner", "door.example.com"]
)
def test_site_origin_must_be_scheme_and_host(origin: str) -> None:
    with pytest.raises(ValidationError, match="SITE_ORIGIN"):
        read_settings(
            ApiSettings,
            {
                "APPROVALS_TABLE": "a",
                "VISITORS_TABLE": "v",
                "PASSCODES_TABLE": "p",
                "PHOTOS_BUCKET": "b",
                "EVENT_BUS_NAME": "smartdoor",
                "ALERTS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:alerts",
                "OTP_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:otp",
                "DOOR_ID": "front-door",
                "SITE_ORIGIN": origin,
            },
        )
