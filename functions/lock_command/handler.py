"""Workflow task (open_lock_iot): tell the door's relay to open, over AWS IoT Core.

Input `{commandId, doorId, visitId, issuedAt, expiresAt}` (DoorUnlocked's detail); publishes the
MQTT contract's command (docs/door.md) QoS 1 on `smartdoor/<doorId>/commands`; output
`{commandId, topic}`. Errors: `CommandExpired` (too late to send; the workflow tells the owner),
`TransientError` (retried by the ASL).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Protocol

from aws_lambda_powertools.utilities.typing import LambdaContext

from smartdoor.adapters.lock_publisher import IotCommandPublisher
from smartdoor.domain.lock import CommandMessage, UnlockCommand, command_message, commands_topic
from smartdoor.observability import logger
from smartdoor.schema import Meta, field
from smartdoor.settings import FunctionSettings, load_settings


class LockCommandSettings(FunctionSettings):
    door_id: Annotated[str, Meta(pattern="^[a-z0-9][a-z0-9-]{0,31}$")] = field(name="DOOR_ID")
    # The IoT data endpoint to publish through (https://data-ats.iot.<region>.amazonaws.com).
    iot_data_endpoint_url: Annotated[str, Meta(pattern="^https?://")] = field(name="IOT_DATA_ENDPOINT_URL")
    unlock_seconds: Annotated[int, Meta(ge=1, le=30)] = field(default=5, name="UNLOCK_SECONDS")


class CommandPublisher(Protocol):
    def publish(self, message: CommandMessage, *, valid_seconds: int) -> None: ...


class WrongDoor(Exception):
    """The command names a door this deployment's lock is not at (never published)."""


@logger.inject_lambda_context(clear_state=True)
def handler(
    event: dict[str, Any],
    context: LambdaContext,
    publisher: CommandPublisher | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    command = UnlockCommand.parse(event)
    settings = load_settings(LockCommandSettings)
    if command.door_id != settings.door_id:
        raise WrongDoor(f"command for door {command.door_id!r}; this lock is at {settings.door_id!r}")
    current = now or datetime.now(UTC)
    message = command_message(command, unlock_seconds=settings.unlock_seconds, now=current)
    valid_seconds = int((command.expires_at - current).total_seconds())
    (publisher or IotCommandPublisher(settings.iot_data_endpoint_url)).publish(
        message, valid_seconds=valid_seconds
    )
    logger.info(
        "Unlock command published", extra={"command_id": command.command_id, "door_id": command.door_id}
    )
    return {"commandId": command.command_id, "topic": commands_topic(command.door_id)}
