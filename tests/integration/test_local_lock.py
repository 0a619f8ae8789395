"""The lock on the local stack: its broker, its webhook receiver, and what /local/stack says."""

from __future__ import annotations

import socket
import time

import pytest

from smartdoor_local.emulation.overrides import LOCAL_WEBHOOK_URL, lock_context
from smartdoor_local.lock_webhook import LockWebhookReceiver
from smartdoor_local.stack import LocalConfig, LocalStack


def accepts(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        return False
    return True


def test_lock_iot_starts_a_broker_on_loopback_that_stops_with_the_stack() -> None:
    # GIVEN the local stack with the door agent's lock
    with LocalStack(LocalConfig(lock="iot"), moto_port=None, poll_stream=False) as stack:
        info = stack.stack_info()
        # THEN /local/stack names the broker, which accepts MQTT clients on 127.0.0.1
        assert info["lock"] == "iot"
        assert info["mqtt"]["host"] == "127.0.0.1"
        port = int(info["mqtt"]["port"])
        assert accepts("127.0.0.1", port)
    # WHEN the stack stops THEN nothing listens there any more
    assert not accepts("127.0.0.1", port)


def test_without_a_lock_there_is_no_broker() -> None:
    with LocalStack(LocalConfig(), moto_port=None, poll_stream=False) as stack:
        assert stack.broker is None
        assert "mqtt" not in stack.stack_info()
        assert stack.stack_info()["lock"] == "none"


def test_each_lock_is_its_cdk_context() -> None:
    assert lock_context("iot") == {"lockIot": True}
    assert lock_context("webhook")["lockWebhookUrl"] == LOCAL_WEBHOOK_URL
    assert lock_context("none") == {}
    with pytest.raises(ValueError, match="iot, webhook, none"):
        lock_context("zigbee")


def test_the_webhook_receiver_answers_the_right_key_and_records_without_it() -> None:
    receiver = LockWebhookReceiver(key="k-123")
    assert receiver.receive({"x-smartdoor-key": "k-123"}, b'{"commandId": "c"}') == (200, {"unlocked": True})
    status, _ = receiver.receive({"X-Smartdoor-Key": "wrong"}, b"{}")
    assert status == 401
    receiver.fail_next = [503]
    assert receiver.receive({"X-Smartdoor-Key": "k-123"}, b"{}")[0] == 503
    calls = receiver.calls()
    assert [(c["authorized"], c["status"]) for c in calls] == [(True, 200), (False, 401), (True, 503)]
    assert calls[0]["body"] == {"commandId": "c"}
    assert "k-123" not in repr(calls)


def test_the_door_agent_beside_the_stack_joins_its_broker() -> None:
    """`smartdoor local --door-agent`: the agent, configured from /local/stack, reaches the broker
    and its first report ("locked", retained) goes through the topic rule to lock_state."""
    from smartdoor_local.app import LocalApp
    from smartdoor_local.door_agent import running_door_agent

    said: list[str] = []
    with LocalApp(LocalConfig(lock="iot"), port=0) as app, running_door_agent(app.url, say=said.append):
        port = app.stack.broker.port  # type: ignore[union-attr]

        def reported() -> bool:
            return any(
                call.event.get("state") == "locked" and call.event.get("commandId") is None
                for call in app.stack.runtime.invocations_of("lock_state")
            )

        deadline = time.monotonic() + 20
        while not reported():
            assert time.monotonic() < deadline, "the agent's report never reached lock_state"
            time.sleep(0.05)
    assert said and f"MQTT 127.0.0.1:{port}" in said[0] and "no camera" in said[0]
