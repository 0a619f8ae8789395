"""AWS IoT Core on the local stack: the data plane's Publish and the topic rules, on a real broker.

moto keeps what `iot-data` Publish receives in a list (`IoTDataPlaneBackend.published_payloads`)
and delivers nothing; it has no rules engine. The door agent, though, listens on a real MQTT
broker (smartdoor_local.mqtt_broker). Two pieces connect them:

- `MqttPublish.installed()`: after moto accepted a Publish (lock_command's unlock command), the
  same payload goes to the broker on the same topic at QoS 1, as IoT Core delivers it;
- `TopicRuleBridge`: each `AWS::IoT::TopicRule` of the template (`SELECT * FROM '<topic>'` with
  Lambda actions; anything else is refused with the reason) becomes a subscription on the
  broker whose messages invoke the action's function with the message as the event (the JSON
  object the device published), asynchronously and in order, as IoT's Lambda action does.
"""

from __future__ import annotations

import json
import queue
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from smartdoor.observability import logger
from smartdoor_local.emulation.model import Intrinsics

PUBLISH_QOS = 1
PUBLISH_SECONDS = 5.0
CONNECT_SECONDS = 10.0
# The one SQL the local rules engine runs: every field of messages on one topic (filter).
_SELECT_ALL = re.compile(r"\s*SELECT\s+\*\s+FROM\s+'(?P<topic>[^']+)'\s*", re.IGNORECASE)

FunctionInvoker = Callable[[str, dict[str, Any]], None]
"""(function ARN, event): runs the function; raising means the invocation failed."""


class UnsupportedTopicRule(ValueError):
    """A topic rule the local rules engine cannot run (its SQL or its actions)."""


@dataclass(frozen=True)
class TopicRule:
    logical_id: str
    topic: str  # the FROM topic (an MQTT topic filter)
    function_arns: tuple[str, ...]


def topic_rules(resources: Mapping[str, dict[str, Any]], intrinsics: Intrinsics) -> list[TopicRule]:
    """The template's enabled topic rules (refused, with why, if the local engine cannot run one)."""
    found = []
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::IoT::TopicRule":
            continue
        payload = resource.get("Properties", {}).get("TopicRulePayload") or {}
        if payload.get("RuleDisabled"):
            continue
        found.append(
            TopicRule(
                logical_id,
                _topic_of(logical_id, str(payload.get("Sql", ""))),
                _function_arns(logical_id, payload.get("Actions") or [], intrinsics),
            )
        )
    return found


def _topic_of(logical_id: str, sql: str) -> str:
    match = _SELECT_ALL.fullmatch(sql)
    if match is None:
        raise UnsupportedTopicRule(
            f"topic rule {logical_id}: the local stack runs only SELECT * FROM '<topic>', not {sql!r}"  # noqa: S608
        )
    return match.group("topic")


def _function_arns(logical_id: str, actions: list[dict[str, Any]], intrinsics: Intrinsics) -> tuple[str, ...]:
    arns = []
    for action in actions:
        kinds = set(action)
        if kinds != {"Lambda"}:
            raise UnsupportedTopicRule(
                f"topic rule {logical_id}: the local stack runs only Lambda actions, not {sorted(kinds)}"
            )
        arns.append(intrinsics.text(action["Lambda"]["FunctionArn"]))
    if not arns:
        raise UnsupportedTopicRule(f"topic rule {logical_id} has no action")
    return tuple(arns)


def _connected_client(host: str, port: int, role: str) -> Any:
    """A paho client on the broker, its network loop running, connected (or an error)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"smartdoor-local-{role}-{uuid.uuid4().hex[:8]}"
    )
    connected = threading.Event()
    client.on_connect = lambda *_: connected.set()
    client.reconnect_delay_set(min_delay=1, max_delay=5)
    client.connect(host, port)
    client.loop_start()
    if not connected.wait(CONNECT_SECONDS):
        client.loop_stop()
        raise ConnectionError(f"the local MQTT broker at {host}:{port} did not accept {role}")
    return client


def _close(client: Any) -> None:
    client.disconnect()
    client.loop_stop()


class MqttPublish:
    """IoT Core's data plane Publish, delivered to the local broker."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.delivered: list[tuple[str, bytes]] = []

    @contextmanager
    def installed(self) -> Iterator[MqttPublish]:
        from moto.iotdata.models import IoTDataPlaneBackend

        client = _connected_client(self.host, self.port, "iot-data")
        original = IoTDataPlaneBackend.publish
        delivered = self.delivered

        def publish(backend: Any, topic: str, payload: bytes) -> None:
            original(backend, topic, payload)
            info = client.publish(topic, payload, qos=PUBLISH_QOS)
            info.wait_for_publish(PUBLISH_SECONDS)  # raises if the broker is gone: Publish fails
            delivered.append((topic, bytes(payload)))

        IoTDataPlaneBackend.publish = publish  # type: ignore[method-assign,assignment]
        try:
            yield self
        finally:
            IoTDataPlaneBackend.publish = original  # type: ignore[method-assign]
            _close(client)


class TopicRuleBridge:
    """The topic rules' subscriptions on the local broker, invoking their functions in order."""

    def __init__(self, rules: list[TopicRule], invoke: FunctionInvoker) -> None:
        self.rules = rules
        self._invoke = invoke
        self._jobs: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._client: Any = None
        self.failures: list[tuple[str, str]] = []  # (function ARN, error type)

    def start(self, host: str, port: int) -> TopicRuleBridge:
        self._worker = threading.Thread(target=self._work, name="smartdoor-topic-rules", daemon=True)
        self._worker.start()
        client = _connected_client(host, port, "rules")
        client.on_message = self._on_message
        acknowledged = threading.Semaphore(0)
        client.on_subscribe = lambda *_: acknowledged.release()
        # Subscribed again on every reconnect (paho keeps no subscriptions across a new session).
        client.on_connect = lambda c, *_: self._subscribe(c)
        self._client = client
        self._subscribe(client)
        for rule in self.rules:  # the rules listen before start() returns
            if not acknowledged.acquire(timeout=CONNECT_SECONDS):
                self.stop()
                raise ConnectionError(
                    f"the local MQTT broker did not confirm the subscription to {rule.topic}"
                )
        return self

    def _subscribe(self, client: Any) -> None:
        for rule in self.rules:
            client.subscribe(rule.topic, qos=1)

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        import paho.mqtt.client as mqtt

        try:
            event = json.loads(message.payload)
        except ValueError:
            logger.warning("Topic rule skipped a message that is not JSON", extra={"topic": message.topic})
            return
        if not isinstance(event, dict):
            return
        for rule in self.rules:
            if mqtt.topic_matches_sub(rule.topic, message.topic):
                for arn in rule.function_arns:
                    self._jobs.put((arn, event))

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            arn, event = job
            try:
                self._invoke(arn, event)
            except Exception as error:  # IoT would retry or send it to the error action
                logger.error(
                    "Topic rule action failed", extra={"function": arn, "error": type(error).__name__}
                )
                self.failures.append((arn, type(error).__name__))
            finally:
                self._jobs.task_done()

    def drain(self) -> None:
        """Wait until every message received so far has been handled."""
        self._jobs.join()

    def stop(self) -> None:
        if self._client is not None:
            _close(self._client)
            self._client = None
        if self._worker is not None:
            self._jobs.put(None)
            self._worker.join(timeout=30)
            self._worker = None
