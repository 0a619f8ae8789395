"""The lock's commands and answers (docs/door.md, "The MQTT contract"): pure rules, no AWS.

A right code makes one unlock command (its id is DoorUnlocked's `commandId`); the lock-states
table keeps what became of it: `pending` until the lock answers, then `unlocked` / `locked`
(the device's reports naming the command) or `no-answer` (the workflow gave up).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from smartdoor.models import WIRE_ID_PATTERN, WireModel
from smartdoor.schema import Meta

# A state item outlives its command by a day, for the owner's questions; then DynamoDB's TTL.
STATE_RETENTION_SECONDS = 86_400
UNLOCK_ACTION = "unlock"
# The door's commands topic (the device's policy lets it subscribe to exactly this one).
COMMANDS_TOPIC = "smartdoor/{door_id}/commands"


class LockState(StrEnum):
    PENDING = "pending"
    UNLOCKED = "unlocked"
    LOCKED = "locked"
    NO_ANSWER = "no-answer"


class CommandExpired(Exception):
    """The command's expiresAt is past: it is not sent (the lock would ignore it anyway)."""


class UnlockCommand(WireModel, kw_only=True):
    """The workflow's request to tell the lock (DoorUnlocked's detail, trimmed)."""

    command_id: Annotated[str, Meta(pattern=WIRE_ID_PATTERN)]
    door_id: Annotated[str, Meta(pattern=WIRE_ID_PATTERN)]
    visit_id: Annotated[str, Meta(pattern=WIRE_ID_PATTERN)]
    issued_at: datetime
    expires_at: datetime


class CommandMessage(WireModel, kw_only=True):
    """The payload on `smartdoor/<doorId>/commands` (QoS 1)."""

    command_id: str
    action: str
    door_id: str
    visit_id: str
    unlock_seconds: int
    issued_at: str
    expires_at: str


class StateReport(WireModel, kw_only=True):
    """The device's retained report on `smartdoor/<doorId>/state`."""

    door_id: Annotated[str, Meta(pattern=WIRE_ID_PATTERN)]
    state: Annotated[str, Meta(pattern="^(unlocked|locked)$")]
    command_id: Annotated[str, Meta(pattern=WIRE_ID_PATTERN)] | None = None
    at: datetime | None = None


def iso_z(value: datetime) -> str:
    return value.isoformat(timespec="seconds").replace("+00:00", "Z")


def command_message(command: UnlockCommand, *, unlock_seconds: int, now: datetime) -> CommandMessage:
    """The message for the lock; raises CommandExpired if it is already too late to send it."""
    if now >= command.expires_at:
        raise CommandExpired(f"command {command.command_id} expired at {iso_z(command.expires_at)}")
    return CommandMessage(
        command_id=command.command_id,
        action=UNLOCK_ACTION,
        door_id=command.door_id,
        visit_id=command.visit_id,
        unlock_seconds=unlock_seconds,
        issued_at=iso_z(command.issued_at),
        expires_at=iso_z(command.expires_at),
    )


def commands_topic(door_id: str) -> str:
    return COMMANDS_TOPIC.format(door_id=door_id)
