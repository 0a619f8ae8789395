"""Telling the door's lock over AWS IoT Core: iot-data Publish, QoS 1, to the door's commands topic.

The data endpoint comes from IOT_DATA_ENDPOINT_URL: the region's ATS data endpoint
(`https://data-ats.iot.<region>.amazonaws.com`, botocore's own default for iot-data) on AWS,
the emulation's on the local stack.
"""

from __future__ import annotations

import json
from typing import Any

from smartdoor.adapters.aws import client, transient_errors_as
from smartdoor.domain.lock import CommandMessage, commands_topic
from smartdoor.errors import TransientError


class IotCommandPublisher:
    def __init__(self, endpoint_url: str, *, iot_data_client: Any | None = None) -> None:
        self._endpoint_url = endpoint_url
        self._client_override = iot_data_client

    @property
    def _client(self) -> Any:
        if self._client_override is not None:
            return self._client_override
        return client("iot-data", self._endpoint_url)

    def publish(self, message: CommandMessage, *, valid_seconds: int) -> None:
        """Publish once; the broker drops it after `valid_seconds` (MQTT 5 message expiry)."""
        with transient_errors_as(TransientError):
            self._client.publish(
                topic=commands_topic(message.door_id),
                qos=1,
                payload=json.dumps(message.to_wire()).encode(),
                contentType="application/json",
                messageExpiry=max(1, valid_seconds),
            )
