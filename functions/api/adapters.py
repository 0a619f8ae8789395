"""What one invocation of the API works with: the real AWS adapters, or a test's / the local stack's.

The handler passes them to the router with the event; routes and the error mapping read them
from the `Call` (`call.adapters`), so concurrent in-process callers (the local stack, the race
tests) never share them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from smartdoor.ports import (
    ApprovalRepository,
    EventBus,
    LinkKey,
    LockStates,
    OwnerEmail,
    PasscodeVerifier,
    PendingCommands,
    PhotoLinks,
    SnapshotForms,
    TaskTokens,
    VisitorNames,
)
from smartdoor.schema import Record


class LockCommandStates(PendingCommands, LockStates, Protocol):
    """The lock-states table as the API uses it: record a new command, read one's state."""


class Adapters(Record):
    approvals: ApprovalRepository
    task_tokens: TaskTokens
    photo_links: PhotoLinks
    link_key: LinkKey  # checks the MAC in the owner's approval id
    passcodes: PasscodeVerifier
    visitors: VisitorNames
    bus: EventBus
    owner: OwnerEmail
    now: datetime
    snapshot_forms: SnapshotForms | None = None  # door devices' uploads (POST /doors/{id}/snapshots)
    # With a lock: its commands' states (None: the LOCK_STATES_TABLE adapter).
    lock_states: LockCommandStates | None = None
