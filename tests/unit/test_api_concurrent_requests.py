"""Two requests resolved at the same moment in one process (the local stack's threads) each see
their own event: the router keeps no per-request state (the method decides 409 against 410)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api.handler import handler
from smartdoor.domain.approvals import Approval, ApprovalStatus
from smartdoor.models import VisitPhoto
from smartdoor.settings import reset_settings_cache
from smartdoor_local.http_server import LocalRequest, build_proxy_event
from tests.fakes import FakeLambdaContext
from tests.fakes.link_key import StaticLinkKey

NOW = datetime(2026, 11, 21, 19, 45, tzinfo=UTC)
SETTINGS = {
    "APPROVALS_TABLE": "Approvals",
    "VISITORS_TABLE": "Visitors",
    "PASSCODES_TABLE": "Passcodes",
    "PHOTOS_BUCKET": "photos",
    "EVENT_BUS_NAME": "smartdoor",
    "ALERTS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:alerts",
    "OTP_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:otp",
    "DOOR_ID": "front-door",
}


def denied(approval_ref: str) -> Approval:
    return Approval(
        approval_ref=approval_ref,
        status=ApprovalStatus.DENIED,
        visit_id="visit-1",
        door_id="front-door",
        photo=VisitPhoto.for_visit("photos", "visit-1"),
        seen_at=NOW - timedelta(minutes=2),
        created_at=NOW - timedelta(minutes=2),
        expires_at=NOW + timedelta(minutes=8),
        decided_at=NOW - timedelta(minutes=1),
    )


class SlowApprovals:
    """Holds the first reader until the other request has been answered completely."""

    def __init__(self, other_answered: threading.Event) -> None:
        self.reading = threading.Event()
        self.other_answered = other_answered

    def get(self, approval_ref: str) -> Approval:
        self.reading.set()
        assert self.other_answered.wait(timeout=10)
        return denied(approval_ref)

    def record_decision(self, approval_ref: str, *args: Any) -> Approval:
        from smartdoor.domain.approvals import ConditionNotMet

        raise ConditionNotMet(denied(approval_ref))


def event(method: str, approval_id: str, body: bytes = b"") -> dict[str, Any]:
    path = f"/approvals/{approval_id}"
    request = LocalRequest(method, path, path, {}, [], body, "203.0.113.7", "api.example.com")
    return build_proxy_event(
        request, resource="/approvals/{approvalId}", path_parameters={"approvalId": approval_id}
    )


def test_a_request_answered_meanwhile_does_not_change_another_requests_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in SETTINGS.items():
        monkeypatch.setenv(name, value)
    reset_settings_cache()
    other_answered = threading.Event()
    slow = SlowApprovals(other_answered)
    answers: dict[str, dict[str, Any]] = {}
    # GIVEN a GET of a decided request that is still being looked up
    key = StaticLinkKey()
    shown_id, decided_id = key.owner_id("S" * 32), key.owner_id("D" * 32)
    showing = threading.Thread(
        target=lambda: answers.__setitem__(
            "show",
            handler(event("GET", shown_id), FakeLambdaContext(), approvals=slow, link_key=key, now=NOW),
        )
    )
    showing.start()
    assert slow.reading.wait(timeout=10)
    # WHEN a POST for another request is answered in the meantime
    answers["decide"] = handler(
        event("POST", decided_id, json.dumps({"decision": "deny"}).encode()),
        FakeLambdaContext(),
        approvals=slow,
        link_key=key,
        now=NOW,
    )
    other_answered.set()
    showing.join(timeout=10)
    reset_settings_cache()
    # THEN each got the answer for its own method: 409 to the POST, 410 to the GET
    assert answers["decide"]["statusCode"] == 409
    assert answers["show"]["statusCode"] == 410
