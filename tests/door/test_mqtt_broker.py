"""MQTT for real: the agent and a test client on an amqtt broker on 127.0.0.1.

Also the whole agent (`run_agent`) against the broker and the fake device API, a --video file
as its camera and the relay on gpiozero's mock pins.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from gpiozero.pins.mock import MockFactory
from paho.mqtt.enums import CallbackAPIVersion

from smartdoor_door.config import DoorConfig, parse_config
from smartdoor_door.lock import DoorLock
from smartdoor_door.mqtt import CommandListener, command_topic, state_topic
from smartdoor_door.relay import GpioRelay
from smartdoor_door.runner import RunOptions, run_agent, tick_lock
from tests.door.conftest import DOOR_ID, Broker, DeviceApi, free_port, start_broker
from tests.door.test_camera_sources import porch_video
from tests.waiting import wait_for


def agent_config(port: int, api_url: str = "http://127.0.0.1:9", **extra: Any) -> DoorConfig:
    return parse_config(
        {
            "door_id": DOOR_ID,
            "api": {"url": api_url, "auth": "none"},
            "mqtt": {"mode": "local", "host": "127.0.0.1", "port": port},
            "door": {"unlock_seconds": 1},
            **extra,
        }
    )


class Owner:
    """The publishing side: sends commands, collects the door's state messages."""

    def __init__(self, port: int) -> None:
        self.states: list[dict[str, Any]] = []
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"owner-{uuid.uuid4().hex[:8]}")
        self.client.on_message = lambda _c, _u, message: self.states.append(json.loads(message.payload))
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        subscribed = self.client.subscribe(state_topic(DOOR_ID), qos=1)
        assert subscribed[0] == mqtt.MQTT_ERR_SUCCESS

    def unlock(self, **overrides: Any) -> str:
        now = datetime.now(UTC)
        body = {
            "commandId": str(uuid.uuid4()),
            "action": "unlock",
            "doorId": DOOR_ID,
            "visitId": "visit-1",
            "unlockSeconds": 1,
            "issuedAt": now.isoformat().replace("+00:00", "Z"),
            "expiresAt": (now + timedelta(seconds=30)).isoformat().replace("+00:00", "Z"),
            **overrides,
        }
        self.client.publish(command_topic(DOOR_ID), json.dumps(body), qos=1).wait_for_publish(5)
        return str(body["commandId"])

    def seen(self, state: str, command_id: str | None) -> bool:
        return any(s["state"] == state and s["commandId"] == command_id for s in self.states)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def owner(mqtt_broker: Broker) -> Iterator[Owner]:
    client = Owner(mqtt_broker.port)
    yield client
    client.close()


@pytest.fixture
def door(mqtt_broker: Broker, mock_pins: MockFactory) -> Iterator[CommandListener]:
    listener = CommandListener(agent_config(mqtt_broker.port), lambda report: DoorLock(GpioRelay(17), report))
    stop = threading.Event()
    listener.start()
    threading.Thread(target=tick_lock, args=(listener.lock, stop), daemon=True).start()
    wait_for(lambda: listener.connected)
    yield listener
    stop.set()
    listener.stop()


def test_an_unlock_over_mqtt_opens_for_its_seconds_and_reports_each_state(
    door: CommandListener, owner: Owner, mock_pins: MockFactory
) -> None:
    # GIVEN the door connected (it said "locked" on connect, retained)
    wait_for(lambda: owner.seen("locked", None))
    pin = mock_pins.pin(17)
    # WHEN the owner's side sends a 1-second unlock
    command_id = owner.unlock()
    # THEN the relay opens, the door says so, and about a second later it is locked again
    wait_for(lambda: pin.state is True, 5)
    opened = time.monotonic()
    wait_for(lambda: owner.seen("unlocked", command_id))
    wait_for(lambda: pin.state is False, 5)
    assert 0.8 <= time.monotonic() - opened <= 3.0  # 1 s, on a busy machine
    wait_for(lambda: owner.seen("locked", command_id))
    last = owner.states[-1]
    assert last["doorId"] == DOOR_ID
    assert last["at"].endswith("Z")


def test_expired_foreign_malformed_and_repeated_commands_are_ignored_over_mqtt(
    door: CommandListener, owner: Owner, mock_pins: MockFactory
) -> None:
    pin = mock_pins.pin(17)
    wait_for(lambda: owner.seen("locked", None))
    past = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
    owner.unlock(expiresAt=past)
    owner.unlock(doorId="garage")
    owner.client.publish(command_topic(DOOR_ID), b"{not json", qos=1).wait_for_publish(5)
    # a valid command after them proves they were delivered (in order) and ignored
    command_id = owner.unlock()
    wait_for(lambda: owner.seen("locked", command_id), 5)
    opened = [s for s in owner.states if s["state"] == "unlocked"]
    assert [s["commandId"] for s in opened] == [command_id]
    # the same command again (a redelivery) does nothing
    owner.client.publish(
        command_topic(DOOR_ID),
        json.dumps(
            {
                "commandId": command_id,
                "action": "unlock",
                "doorId": DOOR_ID,
                "unlockSeconds": 1,
                "expiresAt": (datetime.now(UTC) + timedelta(seconds=30)).isoformat(),
            }
        ),
        qos=1,
    ).wait_for_publish(5)
    time.sleep(0.5)
    assert pin.state is False
    assert len([s for s in owner.states if s["state"] == "unlocked"]) == 1


def test_losing_the_broker_locks_the_door_and_it_reconnects_locked(mock_pins: MockFactory) -> None:
    # GIVEN the door open for 30 s on a broker
    port = free_port()
    broker = start_broker(port)
    listener = CommandListener(agent_config(broker.port), lambda report: DoorLock(GpioRelay(17), report))
    listener.start()
    try:
        wait_for(lambda: listener.connected)
        owner = Owner(broker.port)
        owner.unlock(unlockSeconds=30)
        wait_for(lambda: mock_pins.pin(17).state is True)
        owner.close()
        # WHEN the broker goes away
        broker.stop()
        # THEN the relay closes at once (fail-secure), not after 30 s
        wait_for(lambda: mock_pins.pin(17).state is False, 5)
        # and when the broker is back, the agent reconnects by itself and says "locked"
        broker = start_broker(port)
        owner = Owner(broker.port)
        wait_for(lambda: owner.seen("locked", None), 20)
        owner.close()
    finally:
        listener.stop()
        broker.stop()


def test_the_whole_agent_uploads_a_visitor_and_obeys_an_unlock(
    tmp_path: Path, mqtt_broker: Broker, owner: Owner, device_api: DeviceApi, mock_pins: MockFactory
) -> None:
    # GIVEN the agent on a Pi (mock pins) with a video of a visitor walking up as its camera
    config = agent_config(mqtt_broker.port, device_api.url, gpio={"enabled": True, "relay_pin": 17})
    video = porch_video(tmp_path / "porch.avi", visitor=True)
    stop = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            run_agent(config, RunOptions(video=video), stop)
        except BaseException as error:  # the test reports it
            errors.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        # THEN one burst of three JPEGs reaches "S3", and no ring was sent (nobody rang)
        wait_for(lambda: len(device_api.uploads) == 3, 20)
        assert all(upload.body.startswith(b"\xff\xd8\xff") for upload in device_api.uploads)
        assert device_api.calls_to(f"/doors/{DOOR_ID}/ring") == []
        # WHEN the owner's side unlocks, THEN the relay opens and closes again
        wait_for(lambda: owner.seen("locked", None))
        command_id = owner.unlock()
        wait_for(lambda: mock_pins.pin(17).state is True)
        wait_for(lambda: owner.seen("locked", command_id), 5)
        assert mock_pins.pin(17).state is False
    finally:
        stop.set()
        thread.join(10)
    assert errors == []
    assert not thread.is_alive()
