"""A request that can no longer be decided says how it ended, when, and (approved) for whom."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from api.handler import reset_adapters
from smartdoor.domain.approvals import utc_now
from tests.e2e.api_world import ApiWorld, use_world_environment

APPROVE = {"decision": "approve", "name": "Sam Visitor", "phone": "+447700900123"}


def test_an_approved_request_shows_who_was_let_in_and_when(world: ApiWorld) -> None:
    # GIVEN the owner approved Sam
    approval, _ = world.waiting_approval()
    url = f"/approvals/{world.owner_id(approval)}"
    decided = world.call("POST", url, APPROVE)
    assert decided.status == 200
    # WHEN the link is opened again, and a second decision is sent
    shown = world.call("GET", url)
    again = world.call("POST", url, {"decision": "deny"})
    # THEN both say it was approved, when, and the visitor's name, never the phone
    for answer, status in ((shown, 410), (again, 409)):
        assert answer.status == status
        assert answer.body["status"] == "DECIDED"
        assert answer.body["outcome"] == "approved"
        assert answer.body["decidedAt"] == decided.body["decidedAt"]
        assert answer.body["visitor"] == "Sam Visitor"
        assert "+447700900123" not in json.dumps(answer.body)


def test_a_denied_request_says_denied_and_when_and_names_nobody(world: ApiWorld) -> None:
    approval, _ = world.waiting_approval()
    url = f"/approvals/{world.owner_id(approval)}"
    decided_at = utc_now().replace(microsecond=0) + timedelta(seconds=30)
    assert world.call("POST", url, {"decision": "deny"}, now=decided_at).status == 200

    answer = world.call("GET", url)

    assert answer.status == 410
    assert answer.body["outcome"] == "denied"
    assert datetime.fromisoformat(answer.body["decidedAt"]) == decided_at
    assert "visitor" not in answer.body


def test_a_request_nobody_decided_says_when_it_expired(world: ApiWorld) -> None:
    approval = world.pending_approval(timeout_seconds=60)

    answer = world.call(
        "GET", f"/approvals/{world.owner_id(approval)}", now=utc_now() + timedelta(seconds=90)
    )

    assert answer.status == 410
    assert answer.body["status"] == "EXPIRED"
    assert answer.body["outcome"] == "expired"
    assert datetime.fromisoformat(answer.body["expiredAt"]) == approval.expires_at
    assert "visitor" not in answer.body and "decidedAt" not in answer.body


def test_a_request_whose_workflow_timed_out_first_expired_when_that_was_found(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a workflow that stopped waiting long before the record's own expiry
    world = ApiWorld.create(owner_wait_seconds=1)
    use_world_environment(world, monkeypatch)
    approval, execution = world.waiting_approval(timeout_seconds=600)
    assert world.wait_for_status(execution, "FAILED") == "FAILED"
    # WHEN the owner approves, then opens the link again
    tried_at = utc_now().replace(microsecond=0)
    refused = world.call("POST", f"/approvals/{world.owner_id(approval)}", APPROVE, now=tried_at)
    shown = world.call("GET", f"/approvals/{world.owner_id(approval)}")
    # THEN both say it expired at the moment the decision found the workflow gone
    assert refused.status == shown.status == 410
    for answer in (refused, shown):
        assert answer.body["outcome"] == "expired"
        assert datetime.fromisoformat(answer.body["expiredAt"]) == tried_at
        assert "visitor" not in answer.body
    reset_adapters()
