"""IoT Core on the local stack: iot-data Publish reaches the real broker; topic rules invoke functions.

The broker is the local stack's (amqtt on 127.0.0.1); the publishing side is boto3's `iot-data`
client on moto, as lock_command calls it; the device side is a paho client.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import paho.mqtt.client as mqtt
import pytest
from moto import mock_aws
from paho.mqtt.enums import CallbackAPIVersion

from smartdoor_local.emulation.model import Intrinsics
from smartdoor_local.iot import MqttPublish, TopicRule, TopicRuleBridge, UnsupportedTopicRule, topic_rules
from smartdoor_local.mqtt_broker import LocalBroker, start_broker
from tests.waiting import wait_for

REGION = "us-east-1"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:123456789012:function:lock_state"


@pytest.fixture(scope="module")
def broker() -> Iterator[LocalBroker]:
    running = start_broker()
    yield running
    running.stop()


class Device:
    """A door on the broker: subscribes to one topic, collects what arrives, can publish."""

    def __init__(self, broker: LocalBroker, topic: str | None = None) -> None:
        self.received: list[tuple[str, bytes, int]] = []
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"door-{uuid.uuid4().hex[:8]}")
        self.client.on_message = lambda _c, _u, m: self.received.append((m.topic, m.payload, m.qos))
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        if topic:
            self.client.subscribe(topic, qos=1)
            assert subscribed.wait(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def rule_resource(sql: str, actions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "Type": "AWS::IoT::TopicRule",
        "Properties": {
            "TopicRulePayload": {
                "Sql": sql,
                "AwsIotSqlVersion": "2016-03-23",
                "RuleDisabled": False,
                "Actions": actions
                if actions is not None
                else [{"Lambda": {"FunctionArn": {"Fn::GetAtt": ["LockState1234ABCD", "Arn"]}}}],
            }
        },
    }


INTRINSICS = Intrinsics({"LockState1234ABCD.Arn": FUNCTION_ARN})


def test_an_iot_data_publish_on_moto_reaches_a_subscriber_on_the_broker(broker: LocalBroker) -> None:
    # GIVEN a door subscribed to its commands topic, and the Publish stand-in installed
    topic = "smartdoor/front-door/commands"
    door = Device(broker, topic)
    command = {"commandId": str(uuid.uuid4()), "action": "unlock", "doorId": "front-door"}
    try:
        with mock_aws(), MqttPublish(broker.host, broker.port).installed() as publish:
            # WHEN lock_command's call is made (boto3 iot-data, QoS 1)
            client = boto3.client("iot-data", region_name=REGION)
            client.publish(topic=topic, qos=1, payload=json.dumps(command).encode())
            # THEN the door receives exactly that payload on that topic, at QoS 1
            wait_for(lambda: len(door.received) == 1)
            assert publish.delivered == [(topic, json.dumps(command).encode())]
        received_topic, payload, qos = door.received[0]
        assert (received_topic, json.loads(payload), qos) == (topic, command, 1)
    finally:
        door.close()


def test_topic_rules_are_read_from_the_template() -> None:
    resources = {
        "LockStateRule": rule_resource("SELECT * FROM 'smartdoor/front-door/state'"),
        "Off": {
            **rule_resource("SELECT * FROM 'x'"),
            "Properties": {"TopicRulePayload": {"RuleDisabled": True}},
        },
        "Other": {"Type": "AWS::SQS::Queue", "Properties": {}},
    }
    assert topic_rules(resources, INTRINSICS) == [
        TopicRule("LockStateRule", "smartdoor/front-door/state", (FUNCTION_ARN,))
    ]


@pytest.mark.parametrize(
    ("resource", "reason"),
    [
        (rule_resource("SELECT state FROM 'smartdoor/front-door/state'"), "only SELECT \\* FROM"),
        (rule_resource("SELECT * FROM 'a/b' WHERE state = 'locked'"), "only SELECT \\* FROM"),
        (rule_resource("SELECT * FROM 'a/b'", [{"Sqs": {"QueueUrl": "q"}}]), "only Lambda actions"),
        (rule_resource("SELECT * FROM 'a/b'", []), "has no action"),
    ],
)
def test_a_rule_the_local_engine_cannot_run_is_refused_with_the_reason(
    resource: dict[str, Any], reason: str
) -> None:
    with pytest.raises(UnsupportedTopicRule, match=reason):
        topic_rules({"Rule": resource}, INTRINSICS)


def test_the_bridge_invokes_the_rule_function_with_each_json_message_in_order(broker: LocalBroker) -> None:
    # GIVEN the state topic's rule bridged to a function
    invoked: list[tuple[str, dict[str, Any]]] = []
    rule = TopicRule("LockStateRule", "smartdoor/+/state", (FUNCTION_ARN,))
    bridge = TopicRuleBridge([rule], lambda arn, event: invoked.append((arn, event))).start(
        broker.host, broker.port
    )
    door = Device(broker)
    try:
        # WHEN the door reports two states, sends garbage, and writes on another topic
        for state in ("unlocked", "locked"):
            body = {"doorId": "front-door", "state": state, "commandId": "c-1"}
            door.client.publish("smartdoor/front-door/state", json.dumps(body), qos=1).wait_for_publish(5)
        door.client.publish("smartdoor/front-door/state", b"{not json", qos=1).wait_for_publish(5)
        door.client.publish("smartdoor/front-door/other", b"{}", qos=1).wait_for_publish(5)
        # THEN the function got the two JSON states, in order, as its events
        wait_for(lambda: len(invoked) == 2)
        time.sleep(0.3)
        assert [event["state"] for _, event in invoked] == ["unlocked", "locked"]
        assert {arn for arn, _ in invoked} == {FUNCTION_ARN}
    finally:
        door.close()
        bridge.stop()


def test_a_failing_rule_action_is_recorded_and_the_bridge_goes_on(broker: LocalBroker) -> None:
    calls: list[dict[str, Any]] = []

    def invoke(arn: str, event: dict[str, Any]) -> None:
        calls.append(event)
        if len(calls) == 1:
            raise RuntimeError("lock_state failed")

    bridge = TopicRuleBridge([TopicRule("R", "t/state", (FUNCTION_ARN,))], invoke).start(
        broker.host, broker.port
    )
    door = Device(broker)
    try:
        for n in (1, 2):
            door.client.publish("t/state", json.dumps({"n": n}), qos=1).wait_for_publish(5)
        wait_for(lambda: len(calls) == 2)
        assert bridge.failures == [(FUNCTION_ARN, "RuntimeError")]
    finally:
        door.close()
        bridge.stop()


def test_the_broker_does_not_outlive_the_process_that_started_it(tmp_path: Any) -> None:
    import socket
    import subprocess
    import sys
    import textwrap

    # GIVEN a process that starts a broker and is then killed (no stop)
    script = tmp_path / "starter.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys, time
            from smartdoor_local.mqtt_broker import start_broker
            print(start_broker().port, flush=True)
            time.sleep(60)
            """
        )
    )
    starter = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)  # noqa: S603
    assert starter.stdout is not None
    port = int(starter.stdout.readline())
    socket.create_connection(("127.0.0.1", port), timeout=2).close()
    starter.kill()
    starter.wait(10)
    starter.stdout.close()

    # THEN the broker goes away by itself within a few seconds
    def closed() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        except OSError:
            return True
        return False

    wait_for(closed, 10)  # the broker checks its parent every second
