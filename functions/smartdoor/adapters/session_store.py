"""Doorbell sessions and the daily face-search budget, in the Visits table (DynamoDB).

Items (docs/internals.md, "Doorbell sessions"):

- `DOOR#<doorId>` / `SESSION`: the door's latest session (`smartdoor.domain.doorbell.Session`
  attributes), `version` (+1 per write; every write conditional on the version read) and
  `expiresAt` (TTL, a day after the session's end).
- `BUDGET#<YYYY-MM-DD>` / `FRAMES`: `frames` sent to face search that UTC day (all doors,
  sessions and snapshots), `capAlertedAt` once the owner was told the cap was reached, and
  `expiresAt` (two days later). A frame is counted by one conditional UpdateItem
  (`frames < cap`), so concurrent senders never exceed the cap.

Throttling and 5xx surface as TransientError.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from smartdoor.adapters.aws import dynamodb_table, transient_errors_as
from smartdoor.adapters.conditional_writes import conditional_write, put_versioned
from smartdoor.domain.doorbell import Session, StoredSession
from smartdoor.domain.times import iso_utc
from smartdoor.errors import TransientError, VersionConflict

SESSION_SK = "SESSION"
BUDGET_SK = "FRAMES"
SESSION_TTL_SECONDS = 24 * 3600
BUDGET_TTL_SECONDS = 2 * 24 * 3600


def door_pk(door_id: str) -> str:
    return f"DOOR#{door_id}"


def budget_pk(day: str) -> str:
    return f"BUDGET#{day}"


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(round(value, 3)))
    return value


class DynamoSessionStore:
    """SessionStore on the Visits table."""

    def __init__(self, table_name: str, *, table: Any | None = None) -> None:
        self._table_name = table_name
        self._table_override = table

    @property
    def _table(self) -> Any:
        return self._table_override or dynamodb_table(self._table_name)

    def load(self, door_id: str) -> StoredSession | None:
        with transient_errors_as(TransientError):
            item = self._table.get_item(
                Key={"pk": door_pk(door_id), "sk": SESSION_SK}, ConsistentRead=True
            ).get("Item")
        if item is None:
            return None
        return StoredSession(session=Session.from_item(item), version=int(item["version"]))

    def save(self, session: Session, expected_version: int | None) -> int:
        new_version = 1 if expected_version is None else expected_version + 1
        item = {key: _to_dynamo(value) for key, value in session.to_item().items()}
        item |= {
            "pk": door_pk(session.door_id),
            "sk": SESSION_SK,
            "version": new_version,
            "endsAtIso": iso_utc(session.ends_at),
            "expiresAt": int(max(session.ends_at, session.ended_at or 0)) + SESSION_TTL_SECONDS,
        }
        put_versioned(
            self._table,
            item,
            expected_version,
            lambda: VersionConflict(f"the session of door {session.door_id} changed concurrently"),
        )
        return new_version


class DynamoFrameBudget:
    """FrameBudget on the Visits table: one counter item per UTC day."""

    def __init__(
        self, table_name: str, *, table: Any | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self._table_name = table_name
        self._table_override = table
        self._clock = clock

    @property
    def _table(self) -> Any:
        return self._table_override or dynamodb_table(self._table_name)

    @staticmethod
    def _expires_at(day: str) -> int:
        start = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()
        return int(start) + BUDGET_TTL_SECONDS

    def reserve(self, day: str, cap: int) -> bool:
        return conditional_write(
            self._table.update_item,
            Key={"pk": budget_pk(day), "sk": BUDGET_SK},
            UpdateExpression="ADD frames :one SET expiresAt = :expires",
            ConditionExpression="attribute_not_exists(frames) OR frames < :cap",
            ExpressionAttributeValues={":one": 1, ":cap": cap, ":expires": self._expires_at(day)},
        )

    def claim_cap_alert(self, day: str) -> bool:
        return conditional_write(
            self._table.update_item,
            Key={"pk": budget_pk(day), "sk": BUDGET_SK},
            UpdateExpression="SET capAlertedAt = :now, expiresAt = :expires",
            ConditionExpression="attribute_not_exists(capAlertedAt)",
            ExpressionAttributeValues={":now": iso_utc(self._clock()), ":expires": self._expires_at(day)},
        )

    def release_cap_alert(self, day: str) -> None:
        with transient_errors_as(TransientError):
            self._table.update_item(
                Key={"pk": budget_pk(day), "sk": BUDGET_SK}, UpdateExpression="REMOVE capAlertedAt"
            )

    def frames_sent(self, day: str) -> int:
        """Frames counted for the day (for people and tests)."""
        with transient_errors_as(TransientError):
            item = self._table.get_item(Key={"pk": budget_pk(day), "sk": BUDGET_SK}, ConsistentRead=True).get(
                "Item"
            )
        return int((item or {}).get("frames", 0))
