"""Unlock commands over MQTT: AWS IoT Core (TLS, the thing's certificate) or the local broker.

Subscribes to `smartdoor/<doorId>/commands` (QoS 1) and publishes the lock's state, retained,
on `smartdoor/<doorId>/state` (QoS 1): on connect (locked), on opening, on relocking. Losing
the broker locks the door (fail-secure); paho reconnects with backoff (1 s doubling to 60 s)
and the door stays locked meanwhile.
"""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from smartdoor_door.commands import CommandFilter, Ignored, iso_now
from smartdoor_door.config import DoorConfig, MqttConfig
from smartdoor_door.lock import DoorLock

logger = logging.getLogger(__name__)


class CertificateError(Exception):
    """A certificate, key or CA file is missing, unreadable or not what TLS needs."""


def command_topic(door_id: str) -> str:
    return f"smartdoor/{door_id}/commands"


def state_topic(door_id: str) -> str:
    return f"smartdoor/{door_id}/state"


def state_message(door_id: str, state: str, command_id: str | None, now: datetime | None = None) -> bytes:
    body = {"doorId": door_id, "state": state, "commandId": command_id, "at": iso_now(now)}
    return json.dumps(body).encode()


def tls_context(config: MqttConfig) -> ssl.SSLContext:
    """TLS for IoT Core, or CertificateError naming the file that is wrong."""
    for label, name in (
        ("mqtt.ca_file", config.ca_file),
        ("mqtt.cert_file", config.cert_file),
        ("mqtt.key_file", config.key_file),
    ):
        path = Path(name)
        if not path.is_file():
            raise CertificateError(f"{label}: no file at {path}")
        try:
            path.read_bytes()
        except OSError as error:
            raise CertificateError(f"{label}: cannot read {path} ({error.strerror})") from None
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    try:
        context.load_verify_locations(cafile=config.ca_file)
    except ssl.SSLError as error:
        raise CertificateError(
            f"mqtt.ca_file: {config.ca_file} is not a CA certificate ({error.reason})"
        ) from None
    try:
        context.load_cert_chain(certfile=config.cert_file, keyfile=config.key_file)
    except ssl.SSLError as error:
        raise CertificateError(
            f"mqtt.cert_file/mqtt.key_file: {config.cert_file} and {config.key_file} are not a matching "
            f"certificate and private key ({error.reason})"
        ) from None
    return context


class CommandListener:
    """paho's callbacks, wired to the command filter and the lock."""

    def __init__(
        self,
        config: DoorConfig,
        lock_factory: Callable[[Callable[[str, str | None], None]], DoorLock],
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._config = config
        self._now = now
        self._filter = CommandFilter(config.door_id, config.unlock_seconds)
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=config.thing_name)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_connect_fail = self._on_connect_fail
        self.client.reconnect_delay_set(min_delay=1, max_delay=60)
        self.client.will_set(
            state_topic(config.door_id), state_message(config.door_id, "locked", None), qos=1, retain=True
        )
        self.lock = lock_factory(self.report)
        self.connected = False
        self.failed_connects = 0
        self._stopping = False

    def start(self) -> None:
        """Connect in the background (retrying until the broker answers)."""
        mqtt_config = self._config.mqtt
        if mqtt_config.mode == "aws":
            self.client.tls_set_context(tls_context(mqtt_config))
        self.client.connect_async(mqtt_config.host, mqtt_config.port, keepalive=30)
        self.client.loop_start()

    def stop(self) -> None:
        self._stopping = True
        self.lock.lock("agent stopping")
        self.client.disconnect()
        self.client.loop_stop()

    def report(self, state: str, command_id: str | None) -> None:
        message = state_message(self._config.door_id, state, command_id, self._now())
        self.client.publish(state_topic(self._config.door_id), message, qos=1, retain=True)

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            logger.error("the MQTT broker refused the connection: %s (door stays locked)", reason)
            return
        self.connected = True
        self.failed_connects = 0
        logger.info(
            "connected to MQTT %s:%s as %s",
            self._config.mqtt.host,
            self._config.mqtt.port,
            self._config.thing_name,
        )
        client.subscribe(command_topic(self._config.door_id), qos=1)
        self.report("locked", None)

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        self.failed_connects += 1
        if self.failed_connects in (1, 10) or self.failed_connects % 100 == 0:  # not a line a second
            mqtt_config = self._config.mqtt
            logger.error(
                "the MQTT broker at %s:%s is unreachable (attempt %d): retrying with backoff; "
                "the door stays locked",
                mqtt_config.host,
                mqtt_config.port,
                self.failed_connects,
            )
        self.lock.lock("MQTT broker unreachable")

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self.connected = False
        if self._stopping:
            logger.info("disconnected from MQTT")
            return
        logger.warning("MQTT connection lost (%s): the door is locked until it is back", reason)
        self.lock.lock("MQTT connection lost")

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.handle(bytes(message.payload))

    def handle(self, payload: bytes) -> bool:
        """Act on one command payload; False (and a log line saying why) when it is ignored."""
        try:
            command = self._filter.accept(payload, self._now())
        except Ignored as ignored:
            logger.warning("command ignored: %s", ignored)
            return False
        try:
            self.lock.unlock(command.unlock_seconds, command.command_id)
        except Exception:
            logger.exception("unlocking failed: the door is locked")
            self.lock.lock("error while unlocking")
            return False
        return True
