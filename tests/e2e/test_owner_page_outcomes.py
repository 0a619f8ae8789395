"""The owner page of a request that was already decided says how, when and (approved) who."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Site, screenshot
from tests.e2e.test_owner_page import script_errors
from tests.workflows.conftest import SHORT_APPROVAL_TIMEOUT_SECONDS

VISITOR_NAME = "Sam Example"
VISITOR_PHONE = "+15550123488"


def clock_pattern(around: datetime) -> str:
    """The page's "10:02 AM" (en-US, UTC, as the phones are set up) for a moment within a minute."""
    moments = (around - timedelta(minutes=1), around, around + timedelta(minutes=1))
    return "(" + "|".join(re.escape(m.astimezone(UTC).strftime("%I:%M %p")) for m in moments) + ")"


def test_a_second_phone_is_told_who_was_let_in_and_when(site: Site, open_phone: Any) -> None:
    door = site.door
    execution = door.start_unknown()
    approval_id = door.wait_for_owner(execution)
    # GIVEN the request open on two phones
    first, second = open_phone(), open_phone()
    for phone in (first, second):
        phone.goto(site.owner_link(approval_id))
        expect(phone.get_by_role("heading", name="Someone is at your door")).to_be_visible()
    # WHEN the second approves Sam
    second.get_by_label("Visitor's name").fill(VISITOR_NAME)
    second.get_by_label("Visitor's mobile number").fill(VISITOR_PHONE)
    second.get_by_role("button", name="Approve").click()
    expect(second.get_by_role("heading", name="Approved")).to_be_visible()
    approved_at = datetime.now(UTC)
    # AND the first, still showing the form, taps Deny
    first.get_by_role("button", name="Deny").click()
    # THEN the first is told it was already approved, when, and who was let in
    said = re.compile(rf"^Already approved at {clock_pattern(approved_at)} — {VISITOR_NAME} was let in\.$")
    expect(first.get_by_role("heading", name="Already decided")).to_be_visible()
    expect(first.locator("#decided-how")).to_have_text(said)
    screenshot(first, "owner-outcome-1-already-approved")
    # AND the link opened later says the same, and the approval stands
    later = open_phone()
    later.goto(site.owner_link(approval_id))
    expect(later.get_by_role("heading", name="Already decided")).to_be_visible()
    expect(later.locator("#decided-how")).to_have_text(said)
    expect(later.locator("form")).to_be_hidden()
    assert door.finish(execution).states[-1] == "AccessCodeSent"
    assert script_errors(site) == []


def test_a_denied_request_says_when_it_was_denied(site: Site, open_phone: Any) -> None:
    door = site.door
    execution = door.start_unknown()
    approval_id = door.wait_for_owner(execution)
    owner = open_phone()
    owner.goto(site.owner_link(approval_id))
    owner.get_by_role("button", name="Deny").click()
    expect(owner.get_by_role("heading", name="Denied")).to_be_visible()
    denied_at = datetime.now(UTC)

    again = open_phone()
    again.goto(site.owner_link(approval_id))

    expect(again.get_by_role("heading", name="Already decided")).to_be_visible()
    expect(again.locator("#decided-how")).to_have_text(
        re.compile(rf"^Denied at {clock_pattern(denied_at)}: the visitor was not let in\.$")
    )
    screenshot(again, "owner-outcome-2-denied")
    assert script_errors(site) == []


@pytest.mark.parametrize("approval_timeout_seconds", [SHORT_APPROVAL_TIMEOUT_SECONDS])
def test_an_expired_request_says_when_it_expired(site: Site, open_phone: Any) -> None:
    door = site.door
    execution = door.start_unknown()
    approval_id = door.wait_for_owner(execution)
    # GIVEN nobody decided in time
    finished = door.finish(execution, timeout=SHORT_APPROVAL_TIMEOUT_SECONDS + 30)
    assert finished.states[-1] == "Expired"
    expired_by = datetime.now(UTC)
    # WHEN the link is opened afterwards
    owner = open_phone()
    owner.goto(site.owner_link(approval_id))
    # THEN it says the request expired, and when
    expect(owner.get_by_role("heading", name="This request has expired")).to_be_visible()
    expect(owner.locator("#expired-at")).to_have_text(
        re.compile(rf"^Expired at {clock_pattern(expired_by)}\.$")
    )
    screenshot(owner, "owner-outcome-3-expired")
    assert script_errors(site) == []
