"""The owner page on a phone, opened from the approval SMS, against the real unknown-visitor workflow."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Site, screenshot
from tests.workflows.conftest import DOOR_ID, SHORT_APPROVAL_TIMEOUT_SECONDS, face_event_detail

VISITOR_NAME = "Anna Example"
VISITOR_PHONE = "+15550123499"


def script_errors(site: Site) -> list[str]:
    """Console errors other than the browser's note about an HTTP error status (4xx answers are states)."""
    return [e for e in site.console_errors if not e.startswith("Failed to load resource")]


def why_not_succeeded(finished: Any) -> str:
    """The failed attempts in an execution's history, for an assertion message."""
    failures = []
    for event in finished.history:
        for key, details in event.items():
            if key.endswith("FailedEventDetails") or key.endswith("TimedOutEventDetails"):
                failures.append(f"{event['type']}: {details.get('error')}: {str(details.get('cause'))[:300]}")
    return f"states {finished.states}; failures {failures}"


def image_loaded(page: Any, selector: str, timeout: float = 5.0) -> bool:
    """Polls from Python: the pages' CSP (no 'unsafe-eval') rules out wait_for_function."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if page.eval_on_selector(selector, "img => img.complete && img.naturalWidth > 0"):
            return True
        page.wait_for_timeout(50)
    return False


def test_owner_approves_from_the_sms_link_and_the_visitor_opens_the_door(site: Site, open_phone: Any) -> None:
    door = site.door
    # GIVEN an unknown visitor at the door and the owner's SMS with the approval link
    detail = face_event_detail()
    execution = door.start_unknown(detail)
    approval_id = door.wait_for_owner(execution)

    # WHEN the owner opens the link on a phone
    owner = open_phone()
    owner.goto(site.owner_link(approval_id))

    # THEN the page shows the photo, when and where, a countdown, and the decision form
    expect(owner.get_by_role("heading", name="Someone is at your door")).to_be_visible()
    expect(owner.locator("#photo")).to_be_visible()
    assert image_loaded(owner, "#photo")
    assert len(site.photo_requests) == 1 and "face.jpg" in site.photo_requests[0]
    expect(owner.locator("figcaption")).to_contain_text(DOOR_ID)
    expect(owner.locator("#seen-at")).to_have_attribute("datetime", re.compile(r"^\d{4}-\d\d-\d\dT"))
    expect(owner.locator("#time-left")).to_have_text(re.compile(r"^[1-5]:\d\d$"))
    screenshot(owner, "owner-1-request")
    # AND the whole frame is one tap away (fetched only then)
    owner.get_by_text("Show the whole picture").click()
    assert image_loaded(owner, "#frame")
    assert len(site.photo_requests) == 2 and "frame.jpg" in site.photo_requests[1]
    owner.get_by_text("Show the whole picture").click()
    # AND opening the link decided nothing: the workflow still waits
    assert door.sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"

    # WHEN the owner types the visitor's name and phone and approves
    owner.get_by_label("Visitor's name").fill(VISITOR_NAME)
    owner.get_by_label("Visitor's mobile number").fill(VISITOR_PHONE)
    screenshot(owner, "owner-2-filled")
    owner.get_by_role("button", name="Approve").click()

    # THEN the page confirms, and the approval execution moves on to enrol and text the visitor
    expect(owner.get_by_role("heading", name="Approved")).to_be_visible()
    expect(owner.locator("#approved-name")).to_have_text(VISITOR_NAME)
    screenshot(owner, "owner-3-approved")
    finished = door.finish(execution)
    assert finished.status == "SUCCEEDED", why_not_succeeded(finished)
    assert finished.states[-9:] == [
        "Owner's decision",
        "Record visitor as decided in this visit",
        "Enrol face",
        "Save visitor",
        "Issue passcode",
        "Code texted?",
        "Email owner: code sent",
        "Let later strangers be announced",
        "AccessCodeSent",
    ]
    (code,) = door.passcodes_sent_to(VISITOR_PHONE)

    # WHEN the visitor taps the code from their SMS into the door's keypad
    visitor = open_phone()
    visitor.goto(site.door_page())
    expect(visitor.get_by_role("heading", name="Enter your passcode")).to_be_visible()
    screenshot(visitor, "door-1-keypad")
    for digit in code:
        visitor.get_by_role("button", name=digit, exact=True).tap()
    expect(visitor.locator("#code-display")).to_have_attribute("aria-label", "6 of 6 digits entered")
    screenshot(visitor, "door-2-code-typed")
    visitor.get_by_role("button", name="Open").tap()

    # THEN the door opens with a welcome by name, and the lock hears DoorUnlocked
    expect(visitor.get_by_role("heading", name="Door open")).to_be_visible()
    expect(visitor.locator("#result")).to_contain_text(f"Welcome, {VISITOR_NAME}!")
    screenshot(visitor, "door-3-open")
    unlocked = door.bus_events("DoorUnlocked")
    assert [e["detail"]["doorId"] for e in unlocked] == [DOOR_ID]
    # AND the event names the visit whose approval produced the code
    assert [e["detail"]["visitId"] for e in unlocked] == [detail["visitId"]]
    assert site.blocked_requests == []
    assert script_errors(site) == []


def test_owner_denies_and_a_second_visit_to_the_link_says_already_decided(
    site: Site, open_phone: Any
) -> None:
    door = site.door
    execution = door.start_unknown()
    approval_id = door.wait_for_owner(execution)
    owner = open_phone()
    owner.goto(site.owner_link(approval_id))
    expect(owner.get_by_role("heading", name="Someone is at your door")).to_be_visible()

    # WHEN the owner taps Approve without filling the form
    owner.get_by_role("button", name="Approve").click()
    # THEN each field says what is missing, and nothing was sent
    expect(owner.locator("#name-error")).to_have_text("Enter the visitor's name.")
    expect(owner.locator("#phone-error")).to_have_text("Enter the visitor's mobile number.")
    expect(owner.get_by_label("Visitor's name")).to_have_attribute("aria-invalid", "true")
    expect(owner.get_by_label("Visitor's name")).to_be_focused()
    owner.get_by_label("Visitor's mobile number").fill("0123")
    owner.get_by_role("button", name="Approve").click()
    expect(owner.locator("#phone-error")).to_contain_text("+15551234567")
    screenshot(owner, "owner-4-validation")
    assert door.sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"

    # WHEN the owner denies instead
    owner.get_by_role("button", name="Deny").click()
    # THEN the page confirms and the workflow records the denial
    expect(owner.get_by_role("heading", name="Denied")).to_be_visible()
    screenshot(owner, "owner-5-denied")
    finished = door.finish(execution)
    assert finished.status == "SUCCEEDED", why_not_succeeded(finished)
    assert finished.states[-4:] == ["Owner's decision", "Record denial", "Announce access denied", "Denied"]

    # WHEN the link is opened again (the email, another phone)
    again = open_phone()
    again.goto(site.owner_link(approval_id))
    # THEN it only says the request was already decided
    expect(again.get_by_role("heading", name="Already decided")).to_be_visible()
    expect(again.locator("form")).to_be_hidden()
    screenshot(again, "owner-6-already-decided")
    assert script_errors(site) == []


def test_an_unknown_link_says_not_found(site: Site, open_phone: Any) -> None:
    owner = open_phone()
    owner.goto(site.owner_link("A" * 32 + "." + "A" * 22))
    expect(owner.get_by_role("heading", name="Request not found")).to_be_visible()
    screenshot(owner, "owner-7-not-found")
    # A link that cannot be an approval id (no MAC, or garbage) is refused without asking the API
    for cut_short in ("A" * 32, "nope"):
        owner.goto(site.owner_link(cut_short))
        expect(owner.get_by_role("heading", name="Request not found")).to_be_visible()
    assert script_errors(site) == []


def test_a_link_with_a_forged_mac_says_not_found_and_the_real_one_still_works(
    site: Site, open_phone: Any
) -> None:
    # GIVEN an owner who has been asked, and the same link with its MAC changed by one character
    door = site.door
    execution = door.start_unknown()
    approval_id = door.wait_for_owner(execution)
    forged = approval_id[:-1] + ("A" if approval_id[-1] != "A" else "B")

    # WHEN the forged link is opened THEN the page says what it says for any unknown request
    owner = open_phone()
    owner.goto(site.owner_link(forged))
    expect(owner.get_by_role("heading", name="Request not found")).to_be_visible()
    expect(owner.locator("form")).to_be_hidden()

    # AND the owner's own link still shows the request
    owner.goto(site.owner_link(approval_id))
    expect(owner.get_by_role("button", name="Deny")).to_be_visible()
    door.decide(approval_id, "deny")
    assert door.finish(execution).status == "SUCCEEDED"
    assert script_errors(site) == []


def test_a_network_error_is_shown_and_retry_recovers(site: Site, open_phone: Any) -> None:
    door = site.door
    execution = door.start_unknown()
    approval_id = door.wait_for_owner(execution)
    # GIVEN the phone cannot reach the API
    site.api_down = True
    owner = open_phone()
    owner.goto(site.owner_link(approval_id))
    # THEN the page says so and offers to retry
    expect(owner.get_by_role("heading", name="Can't reach Smart Door")).to_be_visible()
    screenshot(owner, "owner-8-network-error")
    # WHEN the connection is back and the owner retries
    site.api_down = False
    owner.get_by_role("button", name="Try again").click()
    expect(owner.get_by_role("heading", name="Someone is at your door")).to_be_visible()

    # AND a decision that cannot be sent says it may not have arrived, and changes nothing
    site.api_down = True
    owner.get_by_role("button", name="Deny").click()
    expect(owner.locator("#error-detail")).to_contain_text("may not have arrived")
    assert door.sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"
    site.api_down = False


@pytest.mark.parametrize("approval_timeout_seconds", [SHORT_APPROVAL_TIMEOUT_SECONDS])
def test_the_countdown_ends_in_expired(site: Site, open_phone: Any) -> None:
    door = site.door
    # GIVEN a request that expires in a few seconds, open on the owner's phone
    execution = door.start_unknown()
    approval_id = door.wait_for_owner(execution)
    owner = open_phone()
    owner.goto(site.owner_link(approval_id))
    expect(owner.get_by_role("heading", name="Someone is at your door")).to_be_visible()
    expect(owner.locator("#time-left")).to_have_text(re.compile(r"^0:(0\d|10)$"))
    # WHEN the owner waits too long
    # THEN the page turns to "expired" on its own
    expect(owner.get_by_role("heading", name="This request has expired")).to_be_visible(
        timeout=(SHORT_APPROVAL_TIMEOUT_SECONDS + 5) * 1000
    )
    screenshot(owner, "owner-9-expired")
    # AND the API agrees when the page is reloaded
    finished = door.finish(execution, timeout=SHORT_APPROVAL_TIMEOUT_SECONDS + 30)
    assert finished.states[-1] == "Expired"
    owner.reload()
    expect(owner.get_by_role("heading", name="This request has expired")).to_be_visible()
    assert script_errors(site) == []
