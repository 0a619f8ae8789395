"""The CDK app is the only description of the deployment: a change made there, and nowhere else,
reaches the local stack and the workflow world.

The change is made in-process on the built stack (escape hatches, `template.Variant`): one
function's environment (check_collection's threshold), one rule's pattern (the DoorbellPressed
rule listens for another detail type) and one table's key (Visitors is keyed by another
attribute). No file changes; the variant is one more cached synthesis for each context (the
local stack's, the world's), about 5 s each when cold.
"""

from __future__ import annotations

import json
from typing import Any

from smartdoor_local.emulation.template import Variant
from smartdoor_local.stack import LocalConfig, LocalStack
from tests.workflows.conftest import door_on_moto, world_deployer
from tests.workflows.doorbell_world import door_event

THRESHOLD = "77.0"
RENAMED_DETAIL_TYPE = "DoorRung"
VISITORS_KEY = "visitorRef"


def _change_the_app(stack: Any) -> None:
    stack.tasks.check_collection.function.add_environment("FACE_MATCH_THRESHOLD", THRESHOLD)
    rule = stack.events.rules["DoorbellPressed"].node.default_child
    rule.add_property_override("EventPattern.detail-type", [RENAMED_DETAIL_TYPE])
    table = stack.storage.visitors_table.node.default_child
    table.add_property_override("KeySchema", [{"AttributeName": VISITORS_KEY, "KeyType": "HASH"}])
    table.add_property_override(
        "AttributeDefinitions", [{"AttributeName": VISITORS_KEY, "AttributeType": "S"}]
    )


CHANGED = Variant("threshold 77, DoorRung, visitors by visitorRef", _change_the_app)


def test_the_local_stack_builds_the_changed_app() -> None:
    with LocalStack(LocalConfig(), moto_port=None, poll_stream=False, variant=CHANGED) as stack:
        # the function's environment
        assert stack.runtime.function("check_collection").environment["FACE_MATCH_THRESHOLD"] == THRESHOLD
        # the table's key
        visitors = stack.client("dynamodb").describe_table(TableName=stack.names["visitors"])["Table"]
        assert visitors["KeySchema"] == [{"AttributeName": VISITORS_KEY, "KeyType": "HASH"}]
        # the rule's pattern: the new detail type starts a session, the old one no longer does
        session = stack.state_machines["doorbell_session"]
        events = stack.client("events")
        for detail_type in ("DoorbellPressed", RENAMED_DETAIL_TYPE):
            events.put_events(
                Entries=[
                    {
                        "Source": "smartdoor",
                        "DetailType": detail_type,
                        "Detail": json.dumps({"version": "1", "doorId": stack.config.door_id}),
                        "EventBusName": stack.names["bus"],
                    }
                ]
            )
        assert [arn for arn, _ in stack.bus.started] == [session]


def test_the_workflow_world_builds_the_changed_app() -> None:
    with door_on_moto(world_deployer(variant=CHANGED)) as door:
        assert door.runtime.function("check_collection").environment["FACE_MATCH_THRESHOLD"] == THRESHOLD
        visitors = door.dynamodb.meta.client.describe_table(TableName=door.names["visitors"])["Table"]
        assert visitors["KeySchema"] == [{"AttributeName": VISITORS_KEY, "KeyType": "HASH"}]
        assert door.rule_starts("doorbell_session", door_event(RENAMED_DETAIL_TYPE))
        assert not door.rule_starts("doorbell_session", door_event("DoorbellPressed"))
