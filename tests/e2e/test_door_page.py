"""The door keypad on a phone-sized screen: wrong codes, the lockout, keyboard use, touch targets."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.sync_api import expect

from smartdoor.adapters.visitor_store import DynamoVisitorStore, Visitor
from tests.e2e.conftest import Site, screenshot
from tests.e2e.test_owner_page import script_errors
from tests.workflows.conftest import DOOR_ID, SITE_URL

VISITOR_PHONE = "+15550123488"
MIN_TOUCH_TARGET_PX = 64
GRACE_VISIT = f"{DOOR_ID}-1763700000500"  # the visit Grace's code was issued for


def known_visitor_with_code(site: Site, name: str = "Grace Hopper") -> str:
    """A saved visitor and the code the real issue_passcode Lambda texted them."""
    door = site.door
    DynamoVisitorStore(door.names["visitors"]).put(
        Visitor(visitor_id="visitor-grace", name=name, phone=VISITOR_PHONE, created_at="2026-01-01T00:00:00Z")
    )
    _, failed = door.runtime.invoke(
        "issue_passcode", {"visitorId": "visitor-grace", "doorId": DOOR_ID, "visitId": GRACE_VISIT}
    )
    assert not failed
    (code,) = door.passcodes_sent_to(VISITOR_PHONE)
    return code


def open_keypad(visitor: Any, url: str) -> None:
    """Open the door page and wait until its script knows the door (the keys are enabled then)."""
    visitor.goto(url)
    expect(visitor.get_by_role("heading", name="Enter your passcode")).to_be_visible()
    expect(visitor.get_by_role("button", name="1", exact=True)).to_be_enabled()


def wrong(code: str) -> str:
    return f"{(int(code) + 500_000) % 1_000_000:06d}"


def test_a_wrong_code_shows_its_state_then_the_right_code_opens(site: Site, open_phone: Any) -> None:
    code = known_visitor_with_code(site)
    visitor = open_phone()
    open_keypad(visitor, site.door_page())

    # WHEN a wrong code is typed on a keyboard and Enter pressed
    visitor.keyboard.type(wrong(code)[:5])
    expect(visitor.get_by_role("button", name="Open")).to_be_disabled()
    visitor.keyboard.type(wrong(code)[5])
    expect(visitor.get_by_role("button", name="Open")).to_be_enabled()
    visitor.keyboard.press("Enter")

    # THEN the page says "wrong code", clears the display and lets the visitor try again
    expect(visitor.get_by_role("heading", name="Wrong code")).to_be_visible()
    # AND tells a visitor whose code expired how to get a new one (one code per visit)
    expect(visitor.get_by_text("come back for a new one")).to_be_visible()
    expect(visitor.locator("#code-display")).to_have_attribute("aria-label", "0 of 6 digits entered")
    screenshot(visitor, "door-4-wrong-code")
    assert site.door.bus_events("DoorUnlocked") == []

    # WHEN the right code is tapped, with one slip corrected by Delete
    visitor.get_by_role("button", name="9", exact=True).tap()
    visitor.get_by_role("button", name="Delete last digit").tap()
    expect(visitor.get_by_role("heading", name="Enter your passcode")).to_be_visible()
    for digit in code:
        visitor.get_by_role("button", name=digit, exact=True).tap()
    visitor.get_by_role("button", name="Open").tap()

    # THEN the door opens for that visitor
    expect(visitor.get_by_role("heading", name="Door open")).to_be_visible()
    expect(visitor.locator("#visitor-name")).to_have_text("Grace Hopper")
    unlocked = [e["detail"] for e in site.door.bus_events("DoorUnlocked")]
    assert [(d["visitorId"], d["visitId"]) for d in unlocked] == [("visitor-grace", GRACE_VISIT)]
    assert_open_and_deaf(visitor)

    # AND after a reload the keypad is back; the same code sent again at once (a second phone, a
    # retry) is "already open", not a wrong try, and the lock hears nothing more
    visitor.reload()
    expect(visitor.get_by_role("heading", name="Enter your passcode")).to_be_visible()
    expect(visitor.get_by_role("button", name="1", exact=True)).to_be_enabled()
    visitor.keyboard.type(code)
    visitor.keyboard.press("Enter")
    expect(visitor.get_by_role("heading", name="Already open")).to_be_visible()
    expect(visitor.locator("#keypad")).to_be_hidden()
    screenshot(visitor, "door-4b-already-open")
    assert len(site.door.bus_events("DoorUnlocked")) == 1
    assert script_errors(site) == []


def assert_open_and_deaf(visitor: Any) -> None:
    """The open state: one heading says so, the keypad is gone, typing sends nothing."""
    expect(visitor).to_have_title("Door open · Smart Door")
    expect(visitor.get_by_role("heading", name="Enter your passcode")).to_have_count(0)
    expect(visitor.get_by_role("heading")).to_have_count(1)
    expect(visitor.locator("#keypad")).to_be_hidden()
    expect(visitor.locator("#code-display")).to_be_hidden()
    expect(visitor.get_by_text("The door is unlocked: come in.")).to_be_visible()
    unlock_requests: list[str] = []
    visitor.on(
        "request", lambda request: unlock_requests.append(request.url) if "/unlock" in request.url else None
    )
    visitor.keyboard.type("123456")
    visitor.keyboard.press("Enter")
    visitor.wait_for_timeout(500)
    assert unlock_requests == []
    expect(visitor.get_by_role("heading", name="Door open")).to_be_visible()
    expect(visitor.locator("#code-display")).to_have_attribute("aria-label", "0 of 6 digits entered")


def test_the_open_door_at_phone_and_desktop_sizes(site: Site, browser: Any) -> None:
    """What a visitor sees once the code is right, at 390x844 (phone) and 1280x800 (desktop)."""
    known_visitor_with_code(site, name="Ada Lovelace")
    for name, viewport in (
        ("phone", {"width": 390, "height": 844}),
        ("desktop", {"width": 1280, "height": 800}),
    ):
        _, failed = site.door.runtime.invoke(
            "issue_passcode",
            {"visitorId": "visitor-grace", "doorId": DOOR_ID, "visitId": f"{GRACE_VISIT}-{name}"},
        )
        assert not failed
        code = site.door.passcodes_sent_to(VISITOR_PHONE)[-1]
        context = browser.new_context(viewport=viewport, has_touch=True, locale="en-US", timezone_id="UTC")
        try:
            visitor = context.new_page()
            open_keypad(visitor, site.door_page())
            for digit in code:
                visitor.get_by_role("button", name=digit, exact=True).click()
            visitor.get_by_role("button", name="Open").click()
            expect(visitor.locator("#visitor-name")).to_have_text("Ada Lovelace")
            assert_open_and_deaf(visitor)
            screenshot(visitor, f"door-open-{name}")
        finally:
            context.close()


def test_five_wrong_codes_lock_this_phone_out_and_the_sms_link_still_opens(
    site: Site, open_phone: Any
) -> None:
    code = known_visitor_with_code(site)
    visitor = open_phone()
    open_keypad(visitor, site.door_page())

    # WHEN five wrong codes are tried from this phone
    for attempt in range(4):
        visitor.keyboard.type(wrong(code))
        visitor.keyboard.press("Enter")
        expect(visitor.get_by_role("heading", name="Wrong code")).to_be_visible()
        expect(visitor.get_by_role("button", name="1", exact=True)).to_be_enabled()
        assert attempt < 4
    locked_at = datetime.now(UTC)
    visitor.keyboard.type(wrong(code))
    visitor.keyboard.press("Enter")

    # THEN the keypad refuses this address and says until when (15 minutes, the door's time zone)
    expect(visitor.get_by_role("heading", name="Locked")).to_be_visible()
    expect(visitor.locator("#locked-where")).to_have_text("from this network")
    expect(visitor.get_by_text("Tap the link in the message")).to_be_visible()
    shown = visitor.locator("#retry-at").inner_text()
    allowed = {(locked_at + timedelta(seconds=s)).strftime("%I:%M %p") for s in (899, 900, 905)}
    assert shown in allowed, f"{shown!r} not in {allowed}"
    for key in visitor.locator("#keypad button").all():
        expect(key).to_be_disabled()
    visitor.keyboard.type("123")
    expect(visitor.locator("#code-display")).to_have_attribute("aria-label", "0 of 6 digits entered")
    screenshot(visitor, "door-5-locked")
    # AND one address's mistakes do not email the owner (the door's budget would)
    assert [e for e in site.door.emails() if "locked" in e.subject] == []

    # AND reloading the page does not unlock anything: the API still refuses, with the same time
    visitor.reload()
    expect(visitor.get_by_role("button", name="1", exact=True)).to_be_enabled()
    for digit in code:
        visitor.get_by_role("button", name=digit, exact=True).tap()
    visitor.get_by_role("button", name="Open").tap()
    expect(visitor.get_by_role("heading", name="Locked")).to_be_visible()
    expect(visitor.locator("#retry-at")).to_have_text(shown)
    assert site.door.bus_events("DoorUnlocked") == []

    # WHEN the visitor opens the link from the SMS: the code is filled in, nothing is sent yet
    (sms,) = site.door.sms_to(VISITOR_PHONE)
    link = re.search(r"Open: (\S+)", sms.text)
    assert link is not None and link.group(1).startswith(f"{SITE_URL}/door/?door={DOOR_ID}#{code}.")
    fragment = link.group(1).split("#", 1)[1]  # the same page, served here instead of the site
    visitor.goto(f"{site.door_page()}#{fragment}")
    expect(visitor.get_by_text("Your code from the SMS is filled in")).to_be_visible()
    expect(visitor.locator("#code-display")).to_have_attribute("aria-label", "6 of 6 digits entered")
    assert "#" not in visitor.url  # the key leaves the address bar (and the history)
    screenshot(visitor, "door-6-link")
    assert site.door.bus_events("DoorUnlocked") == []
    # AND a tap on Open opens the door, although this address is locked out
    visitor.get_by_role("button", name="Open").tap()
    expect(visitor.locator("#visitor-name")).to_have_text("Grace Hopper")
    assert len(site.door.bus_events("DoorUnlocked")) == 1
    assert script_errors(site) == []


def test_keypad_keys_are_large_labelled_buttons(site: Site, open_phone: Any) -> None:
    visitor = open_phone()
    open_keypad(visitor, site.door_page())
    keys = visitor.locator("#keypad button").all()
    assert len(keys) == 12
    names = []
    for key in keys:
        box = key.bounding_box()
        assert box is not None
        assert box["width"] >= MIN_TOUCH_TARGET_PX and box["height"] >= MIN_TOUCH_TARGET_PX, box
        names.append(key.get_attribute("aria-label") or key.inner_text())
    assert sorted(names) == sorted([*"0123456789", "Delete last digit", "Open"])
    # The whole keypad fits a phone screen without scrolling
    open_box = visitor.get_by_role("button", name="Open").bounding_box()
    assert open_box is not None and open_box["y"] + open_box["height"] <= 844


def test_a_door_page_without_a_door_id_says_so(site: Site, open_phone: Any) -> None:
    # The local site's config.json names the door, so pass one that is not a door id at all.
    visitor = open_phone()
    visitor.goto(f"{site.url}/door/?door=Not%20A%20Door")
    expect(visitor.get_by_role("heading", name="Can't reach the door")).to_be_visible()
    expect(visitor.locator("#error-detail")).to_contain_text("does not know its door")
    expect(visitor.get_by_role("button", name="5", exact=True)).to_be_disabled()


def test_api_gateway_throttling_is_not_shown_as_a_lockout(site: Site, open_phone: Any) -> None:
    # GIVEN API Gateway's stage throttling answers (its own 429, no retryAt: the local server has
    # no stage throttling, so the browser gets that answer from the test)
    visitor = open_phone()
    visitor.route(
        f"{site.url}/doors/**",
        lambda route: route.fulfill(status=429, json={"message": "Too Many Requests"}),
    )
    open_keypad(visitor, site.door_page())
    # WHEN a code is sent
    visitor.keyboard.type("123456")
    visitor.keyboard.press("Enter")
    # THEN the page says the door is busy, and the keypad stays usable
    expect(visitor.locator("#error-detail")).to_have_text("The door is busy. Try again in a moment.")
    expect(visitor.get_by_role("button", name="1", exact=True)).to_be_enabled()
