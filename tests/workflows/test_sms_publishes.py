"""Every SMS carries the configured origin (docs/sms.md). The Lambda adapter puts it on
(tests/integration/test_notifications_stubbed.py); the state machines must not text anyone
themselves, or they would need the origin too (MessageAttributes on a PhoneNumber publish)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from smartdoor_local.workflows import workflow_path

WORKFLOWS = sorted(
    path.name.removesuffix(".asl.json") for path in workflow_path("unknown_visitor").parent.glob("*.asl.json")
)


def _tasks(states: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name, state in states.items():
        if state.get("Type") == "Task":
            found.append((name, state))
        for branch in state.get("Branches", []):
            found.extend(_tasks(branch["States"]))
        if "Iterator" in state or "ItemProcessor" in state:
            found.extend(_tasks((state.get("ItemProcessor") or state["Iterator"])["States"]))
    return found


@pytest.mark.parametrize("workflow", WORKFLOWS)
def test_state_machines_publish_only_to_the_alerts_topic(workflow: str) -> None:
    definition = json.loads(workflow_path(workflow).read_text(encoding="utf-8"))
    publishes = [
        (name, state["Parameters"])
        for name, state in _tasks(definition["States"])
        if state["Resource"].startswith("arn:aws:states:::sns:publish")
    ]
    for name, parameters in publishes:
        assert parameters.get("TopicArn") == "${AlertsTopicArn}", (
            f"{workflow}: {name!r} texts a phone directly"
        )
        assert not {"PhoneNumber", "PhoneNumber.$", "TargetArn", "TargetArn.$"} & set(parameters), name


def test_both_visitor_workflows_email_the_owner_when_a_passcode_sms_is_refused() -> None:
    for workflow in ("known_visitor", "unknown_visitor"):
        states = json.loads(workflow_path(workflow).read_text(encoding="utf-8"))["States"]
        [refused] = [c for c in states["Issue passcode"]["Catch"] if c["ErrorEquals"] == ["SmsNotDelivered"]]
        assert refused["Next"] == "Alert owner: passcode not delivered"
        assert states[refused["Next"]]["Parameters"]["TopicArn"] == "${AlertsTopicArn}"
