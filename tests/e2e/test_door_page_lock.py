"""The door keypad with a lock (lockIot): "Door open" only once the lock reported the command;
"the lock did not answer" when it did not. The real API (LOCK_KIND=iot from the template), the
real lock_state handler for the device's report, Chromium on a phone-sized page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from playwright.sync_api import expect

from smartdoor.adapters.visitor_store import DynamoVisitorStore, Visitor
from tests.e2e.conftest import Site, screenshot
from tests.e2e.test_door_page import VISITOR_PHONE, assert_open_and_deaf, open_keypad
from tests.e2e.test_owner_page import script_errors
from tests.workflows.conftest import DOOR_ID, SmartDoorOnMoto, door_on_moto
from tests.workflows.test_open_lock import deployer, device_reports, lock_states_table_name

VISIT = f"{DOOR_ID}-1763700000500"


@pytest.fixture
def door() -> Iterator[SmartDoorOnMoto]:
    """This module's door has an IoT relay (the site fixture serves its API)."""
    with door_on_moto(deployer(lockIot="true")) as deployment:
        yield deployment


def code_for_grace(site: Site) -> str:
    DynamoVisitorStore(site.door.names["visitors"]).put(
        Visitor(
            visitor_id="visitor-grace",
            name="Grace Hopper",
            phone=VISITOR_PHONE,
            created_at="2026-01-01T00:00:00Z",
        )
    )
    _, failed = site.door.runtime.invoke(
        "issue_passcode", {"visitorId": "visitor-grace", "doorId": DOOR_ID, "visitId": VISIT}
    )
    assert not failed
    (code,) = site.door.passcodes_sent_to(VISITOR_PHONE)
    return code


def type_code(visitor: Any, code: str) -> None:
    visitor.keyboard.type(code)
    visitor.keyboard.press("Enter")
    expect(visitor.get_by_text("Code accepted: opening the door…")).to_be_visible()


def command_of_the_page(site: Site) -> str:
    (event,) = site.door.bus_events("DoorUnlocked")
    return str(event["detail"]["commandId"])


def grace_types_her_code(site: Site, open_phone: Any) -> tuple[Any, str]:
    """Grace, sent her code, types it on the door page: her page, and the lock command it started."""
    code = code_for_grace(site)
    visitor = open_phone()
    open_keypad(visitor, site.door_page())
    type_code(visitor, code)
    return visitor, command_of_the_page(site)


def test_the_page_says_door_open_only_once_the_relay_reported_it(site: Site, open_phone: Any) -> None:
    # WHEN Grace types the right code
    visitor, command_id = grace_types_her_code(site, open_phone)
    # THEN, while the lock has not answered, the page waits (and says nothing is open)
    visitor.wait_for_timeout(2500)
    expect(visitor.get_by_role("heading", name="Door open")).to_have_count(0)
    screenshot(visitor, "door-lock-1-opening")
    # WHEN the door agent reports the relay open for this command (the topic rule's delivery)
    report = {"doorId": DOOR_ID, "state": "unlocked", "commandId": command_id, "at": "2026-12-04T18:00:02Z"}
    assert device_reports(site.door, report) == {"recorded": True}
    # THEN the door is open for Grace
    expect(visitor.get_by_role("heading", name="Door open")).to_be_visible()
    expect(visitor.locator("#visitor-name")).to_have_text("Grace Hopper")
    assert_open_and_deaf(visitor)
    assert script_errors(site) == []


def test_a_lock_that_did_not_answer_is_said_plainly(site: Site, open_phone: Any) -> None:
    visitor, command_id = grace_types_her_code(site, open_phone)
    # WHEN the lock's workflow gives up on the command (what its "Mark the command unanswered" writes)
    table = boto3.resource("dynamodb").Table(lock_states_table_name(site.door))
    table.update_item(
        Key={"commandId": command_id},
        UpdateExpression="SET #s = :s, updatedAt = :at",
        ExpressionAttributeNames={"#s": "state"},
        ExpressionAttributeValues={":s": "no-answer", ":at": "2026-12-04T18:00:30Z"},
    )
    # THEN the visitor is told the code was right, the door did not open, and the owner knows
    expect(
        visitor.get_by_text("Code accepted — the lock did not answer. The owner has been told.")
    ).to_be_visible()
    expect(visitor).to_have_title("Code accepted · Smart Door")
    expect(visitor.get_by_role("heading", name="Door open")).to_have_count(0)
    expect(visitor.locator("#keypad")).to_be_hidden()
    screenshot(visitor, "door-lock-2-no-answer")
    assert script_errors(site) == []
