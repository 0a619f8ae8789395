"""What became of an unlock command, for the door page (GET /doors/{doorId}/lock/{commandId})."""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import TYPE_CHECKING

from smartdoor.errors import UnknownCommand, UnknownDoor
from smartdoor.schema import Record

if TYPE_CHECKING:
    from smartdoor.ports import LockStates

# The unlock API makes command ids with uuid4: anything else is no command of ours.
COMMAND_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


class CommandState(Record):
    state: str  # pending, unlocked, locked, no-answer
    updated_at: str  # ISO-8601 UTC


def command_state(
    door_id: str, command_id: str, *, served_doors: Collection[str], states: LockStates | None
) -> CommandState:
    """The command's state; UnknownDoor for a door not served, UnknownCommand for an id that is no
    command of this door (or when the door has no lock)."""
    if door_id not in served_doors:
        raise UnknownDoor("no such door")
    if states is None or not COMMAND_ID.fullmatch(command_id):
        raise UnknownCommand("no such command")
    item = states.get(command_id)
    if item is None or item.get("doorId") != door_id:
        raise UnknownCommand("no such command")
    return CommandState(state=str(item["state"]), updated_at=str(item["updatedAt"]))
