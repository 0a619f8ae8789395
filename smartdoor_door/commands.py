"""The unlock command's rules (the MQTT contract in docs/door.md), with no broker in sight.

A command is acted on only if it is well formed, for this door, an `unlock`, not past its
`expiresAt` by the agent's clock, and its `commandId` is not one of the last 100 handled.
Anything else is ignored with the reason.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from smartdoor_door.config import MAX_UNLOCK_SECONDS, MIN_UNLOCK_SECONDS

REMEMBERED_COMMANDS = 100


@dataclass(frozen=True)
class UnlockCommand:
    command_id: str
    door_id: str
    unlock_seconds: int
    expires_at: datetime
    visit_id: str | None


class Ignored(Exception):
    """Not acted on; the message says why."""


def parse_time(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise Ignored(f"malformed: {name} is not an ISO-8601 time")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise Ignored(f"malformed: {name} is not an ISO-8601 time ({value!r})") from None
    if moment.tzinfo is None:
        raise Ignored(f"malformed: {name} has no time zone ({value!r})")
    return moment


def iso_now(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class CommandFilter:
    """Turns a payload into an UnlockCommand or raises Ignored; remembers the handled ids."""

    def __init__(self, door_id: str, default_unlock_seconds: int) -> None:
        self.door_id = door_id
        self.default_unlock_seconds = default_unlock_seconds
        self._handled: OrderedDict[str, None] = OrderedDict()

    def accept(self, payload: bytes, now: datetime) -> UnlockCommand:
        command = self._parse(payload)
        if command.door_id != self.door_id:
            raise Ignored(f"command {command.command_id} is for door {command.door_id!r}, not this door")
        if command.command_id in self._handled:
            raise Ignored(f"command {command.command_id} was already handled")
        if now >= command.expires_at:
            raise Ignored(f"command {command.command_id} expired at {iso_now(command.expires_at)}")
        self._remember(command.command_id)
        return command

    def _remember(self, command_id: str) -> None:
        self._handled[command_id] = None
        while len(self._handled) > REMEMBERED_COMMANDS:
            self._handled.popitem(last=False)

    def _parse(self, payload: bytes) -> UnlockCommand:
        try:
            body = json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            raise Ignored("malformed: not JSON") from None
        if not isinstance(body, dict):
            raise Ignored("malformed: not a JSON object")
        command_id, door_id = body.get("commandId"), body.get("doorId")
        if not isinstance(command_id, str) or not command_id or not isinstance(door_id, str):
            raise Ignored("malformed: commandId and doorId must be strings")
        if body.get("action") != "unlock":
            raise Ignored(f"command {command_id}: unknown action {body.get('action')!r}")
        visit_id = body.get("visitId")
        return UnlockCommand(
            command_id=command_id,
            door_id=door_id,
            unlock_seconds=self._seconds(body.get("unlockSeconds"), command_id),
            expires_at=parse_time(body.get("expiresAt"), "expiresAt"),
            visit_id=visit_id if isinstance(visit_id, str) else None,
        )

    def _seconds(self, value: Any, command_id: str) -> int:
        if value is None:
            return self.default_unlock_seconds
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Ignored(f"malformed: command {command_id}: unlockSeconds is not a number")
        return int(min(max(value, MIN_UNLOCK_SECONDS), MAX_UNLOCK_SECONDS))
