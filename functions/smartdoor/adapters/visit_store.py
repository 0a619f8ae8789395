"""Visit state and emission claims in the Visits table (DynamoDB), plus an in-memory twin.

Items (docs/internals.md):

- `DOOR#<doorId>` / `CURRENT`: the door's current visit. `state` holds the visit as JSON,
  `version` increases by one on every write and every write is conditional on the version
  read (optimistic locking), so two invocations never both build on the same old state.
  `visitId`, `startedAt` and `lastFrameAt` are copies for people reading the table.
- `VISIT#<visitId>` / `EVENT#<key>`: the claim on one event of the visit (`key` is
  `visitor#<visitorId>` or `unknown`). Taken with a conditional put before PutEvents:
  `status` CLAIMED with a `token` and `leaseUntil`, then EMITTED with the `eventId`. A claim
  released after a failed PutEvents is deleted; a CLAIMED one whose lease ran out (its holder
  died between claim and publish) can be taken over. So one claim yields at most one event,
  except if a holder dies after PutEvents and before marking EMITTED and its lease ends.

- `VISIT#<visitId>` / `WORKFLOW#unknown` and `WORKFLOW#known#<visitorId>`: the workflows'
  own claims (workflows/*.asl.json). The unknown-visitor workflow writes the approved person's
  `WORKFLOW#known#<visitorId>` before it enrols the face, so the person counts as decided in
  that visit, and sets `approvedVisitorId` on its `WORKFLOW#unknown` claim once the person is
  saved. This store reads both (`known_visitor_handled`, `approved_visitor`) and writes the
  known claims of people it carries into a new visit (`carry_decided`).

Every item this store writes carries `expiresAt` (TTL, epoch seconds).

`forget_visitor` (`smartdoor visitors forget`) erases a person from the table: it deletes their
claims (`EVENT#visitor#<visitorId>`, `WORKFLOW#known#<visitorId>`), removes `approvedVisitorId`
from the stranger's claim that named them, and takes them out of a door's current visit.
Nothing indexes these by visitor, so it scans (a rare owner operation on a table whose items
expire within days).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from smartdoor.adapters.aws import dynamodb_table, scan_pages, transient_errors_as
from smartdoor.adapters.conditional_writes import conditional_write, is_condition_failure, put_versioned
from smartdoor.domain.times import iso_utc
from smartdoor.domain.visits import VisitState, visitor_key, without_visitor
from smartdoor.errors import TransientError
from smartdoor.errors import VersionConflict as VersionConflict  # defined once, re-exported
from smartdoor.ports import VisitStore as VisitStore  # the port this adapter implements (re-exported)

DEFAULT_TTL_SECONDS = 7 * 24 * 3600
DEFAULT_LEASE_SECONDS = 120
FORGET_ATTEMPTS = 5  # optimistic-locking retries while a door's current visit keeps changing

CLAIMED = "CLAIMED"
EMITTED = "EMITTED"


class ClaimOutcome(StrEnum):
    CLAIMED = "claimed"  # the caller holds the claim and must publish, then mark or release
    ALREADY_EMITTED = "already-emitted"  # the event went out before: a duplicate
    HELD_ELSEWHERE = "held-elsewhere"  # another invocation is publishing it right now


@dataclass(frozen=True, slots=True)
class StoredVisit:
    state: VisitState
    version: int


UNKNOWN_WORKFLOW_SK = "WORKFLOW#unknown"


@dataclass(frozen=True, slots=True)
class ApprovedStranger:
    """Whom the owner approved for a visit's stranger, and when the workflow recorded it (epoch
    seconds; None if the record has no time): by then the face was enrolled."""

    visitor_id: str
    approved_at: float | None = None


def _approved_stranger(item: dict[str, Any] | None) -> ApprovedStranger | None:
    visitor_id = item.get("approvedVisitorId") if item else None
    if not isinstance(visitor_id, str):
        return None
    at = item.get("approvedAt") if item else None
    # $$.State.EnteredTime: ISO 8601 ("...Z" on AWS, "+00:00" from moto).
    approved_at = datetime.fromisoformat(at).timestamp() if isinstance(at, str) else None
    return ApprovedStranger(visitor_id, approved_at)


def known_workflow_sk(visitor_id: str) -> str:
    return f"WORKFLOW#known#{visitor_id}"


def door_pk(door_id: str) -> str:
    return f"DOOR#{door_id}"


def visit_pk(visit_id: str) -> str:
    return f"VISIT#{visit_id}"


def event_sk(key: str) -> str:
    return f"EVENT#{key}"


class DynamoVisitStore:
    """VisitStore on the Visits table. Throttling and 5xx surface as TransientError."""

    def __init__(
        self,
        table_name: str,
        *,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        lease_seconds: int = DEFAULT_LEASE_SECONDS,
        clock: Callable[[], float] = time.time,
        table: Any | None = None,
    ) -> None:
        self._table_name = table_name
        self._ttl = ttl_seconds
        self._lease = lease_seconds
        self._clock = clock
        self._table_override = table

    @property
    def _table(self) -> Any:
        return self._table_override or dynamodb_table(self._table_name)

    def _expires_at(self) -> int:
        return int(self._clock()) + self._ttl

    def load(self, door_id: str) -> StoredVisit | None:
        with transient_errors_as(TransientError):
            response = self._table.get_item(
                Key={"pk": door_pk(door_id), "sk": "CURRENT"}, ConsistentRead=True
            )
        item = response.get("Item")
        if item is None:
            return None
        return StoredVisit(
            state=VisitState.from_dict(json.loads(item["state"])), version=int(item["version"])
        )

    def save(self, state: VisitState, expected_version: int | None) -> int:
        new_version = 1 if expected_version is None else expected_version + 1
        item = {
            "pk": door_pk(state.door_id),
            "sk": "CURRENT",
            "version": new_version,
            "visitId": state.visit_id,
            "startedAt": iso_utc(state.started_at),
            "lastFrameAt": iso_utc(state.last_frame_at),
            "state": json.dumps(state.to_dict(), separators=(",", ":")),
            "expiresAt": self._expires_at(),
        }
        put_versioned(
            self._table,
            item,
            expected_version,
            lambda: VersionConflict(f"visit state of door {state.door_id} changed concurrently"),
        )
        return new_version

    def claim(self, visit_id: str, key: str, token: str) -> ClaimOutcome:
        now = self._clock()
        item = {
            "pk": visit_pk(visit_id),
            "sk": event_sk(key),
            "status": CLAIMED,
            "token": token,
            "leaseUntil": Decimal(str(round(now + self._lease, 3))),
            "claimedAt": iso_utc(now),
            "expiresAt": self._expires_at(),
        }
        try:
            with transient_errors_as(TransientError):
                self._table.put_item(
                    Item=item,
                    ConditionExpression="attribute_not_exists(pk) OR (#s = :claimed AND leaseUntil < :now)",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={":claimed": CLAIMED, ":now": Decimal(str(round(now, 3)))},
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except Exception as error:
            if not is_condition_failure(error):
                raise
            status = _old_status(error)
            if status is None:  # not returned: read it
                with transient_errors_as(TransientError):
                    current = self._table.get_item(
                        Key={"pk": visit_pk(visit_id), "sk": event_sk(key)}, ConsistentRead=True
                    ).get("Item")
                status = current.get("status") if current else None
            return ClaimOutcome.ALREADY_EMITTED if status == EMITTED else ClaimOutcome.HELD_ELSEWHERE
        return ClaimOutcome.CLAIMED

    def mark_emitted(self, visit_id: str, key: str, token: str, event_id: str) -> bool:
        return conditional_write(
            self._table.update_item,
            Key={"pk": visit_pk(visit_id), "sk": event_sk(key)},
            UpdateExpression="SET #s = :emitted, eventId = :event, emittedAt = :at REMOVE leaseUntil",
            ConditionExpression="#t = :token",
            ExpressionAttributeNames={"#s": "status", "#t": "token"},
            ExpressionAttributeValues={
                ":emitted": EMITTED,
                ":event": event_id,
                ":token": token,
                ":at": iso_utc(self._clock()),
            },
        )

    def release(self, visit_id: str, key: str, token: str) -> None:
        # Condition failed: someone else's claim now, leave it alone.
        conditional_write(
            self._table.delete_item,
            Key={"pk": visit_pk(visit_id), "sk": event_sk(key)},
            ConditionExpression="#t = :token AND #s = :claimed",
            ExpressionAttributeNames={"#s": "status", "#t": "token"},
            ExpressionAttributeValues={":token": token, ":claimed": CLAIMED},
        )

    def known_visitor_handled(self, visit_id: str, visitor_id: str) -> bool:
        return self._get(visit_id, known_workflow_sk(visitor_id)) is not None

    def approved_visitor(self, visit_id: str) -> ApprovedStranger | None:
        return _approved_stranger(self._get(visit_id, UNKNOWN_WORKFLOW_SK))

    def carry_decided(self, visit_id: str, door_id: str, visitor_ids: list[str]) -> None:
        now = iso_utc(self._clock())
        for visitor_id in visitor_ids:
            conditional_write(
                self._table.put_item,
                Item={
                    "pk": visit_pk(visit_id),
                    "sk": known_workflow_sk(visitor_id),
                    "doorId": door_id,
                    "decidedBy": "earlier-visit",
                    "claimedAt": now,
                    "expiresAt": self._expires_at(),
                },
                ConditionExpression="attribute_not_exists(pk)",
            )

    def _get(self, visit_id: str, sk: str) -> dict[str, Any] | None:
        with transient_errors_as(TransientError):
            response = self._table.get_item(Key={"pk": visit_pk(visit_id), "sk": sk}, ConsistentRead=True)
        item: dict[str, Any] | None = response.get("Item")
        return item

    # -- forgetting a person ----------------------------------------------------------------

    def forget_visitor(self, visitor_id: str) -> int:
        """Erase every item that names the visitor; returns how many items were deleted or changed."""
        erased = 0
        for item in list(self._items_naming(visitor_id)):
            erased += self._erase(item, visitor_id)
        return erased

    def _items_naming(self, visitor_id: str) -> Any:
        return scan_pages(
            self._table,
            FilterExpression=(
                "sk IN (:event, :known) OR approvedVisitorId = :visitor OR contains(#state, :visitor)"
            ),
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={
                ":event": event_sk(visitor_key(visitor_id)),
                ":known": known_workflow_sk(visitor_id),
                ":visitor": visitor_id,
            },
            ProjectionExpression="pk, sk, approvedVisitorId",
        )

    def _erase(self, item: dict[str, Any], visitor_id: str) -> int:
        key = {"pk": str(item["pk"]), "sk": str(item["sk"])}
        if key["sk"] == "CURRENT":
            return int(self._forget_in_current_visit(key["pk"].removeprefix(door_pk("")), visitor_id))
        if item.get("approvedVisitorId") == visitor_id:
            return int(
                conditional_write(
                    self._table.update_item,
                    Key=key,
                    UpdateExpression="REMOVE approvedVisitorId, approvedAt",
                    ConditionExpression="approvedVisitorId = :visitor",
                    ExpressionAttributeValues={":visitor": visitor_id},
                )
            )
        with transient_errors_as(TransientError):
            response = self._table.delete_item(Key=key, ReturnValues="ALL_OLD")
        return int(bool(response.get("Attributes")))

    def _forget_in_current_visit(self, door_id: str, visitor_id: str) -> bool:
        for _ in range(FORGET_ATTEMPTS):
            stored = self.load(door_id)
            if stored is None:
                return False
            state = without_visitor(stored.state, visitor_id)
            if state == stored.state:
                return False
            try:
                self.save(state, stored.version)
            except VersionConflict:
                continue  # the match function moved the visit on: take it out of the new state
            return True
        raise VersionConflict(f"the visit at door {door_id} kept changing; run forget again")


def _old_status(error: Exception) -> str | None:
    item = getattr(error, "response", {}).get("Item") or {}
    status = item.get("status")
    if isinstance(status, dict):  # low-level attribute value {"S": "..."}
        return status.get("S")
    return status if isinstance(status, str) else None


@dataclass
class _Claim:
    status: str
    token: str
    lease_until: float
    event_id: str | None = None


class InMemoryVisitStore:
    """The same contract as DynamoVisitStore, in process (tests, benchmarks, local runs).

    States are immutable, so they are kept as objects without copying. Thread-safe.
    """

    def __init__(
        self, *, lease_seconds: int = DEFAULT_LEASE_SECONDS, clock: Callable[[], float] = time.time
    ) -> None:
        self._lease = lease_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self.visits: dict[str, StoredVisit] = {}
        self.claims: dict[tuple[str, str], _Claim] = {}
        # The workflows' claims: (visitId, sort key) -> attributes (see the module docstring).
        self.workflow_claims: dict[tuple[str, str], dict[str, Any]] = {}

    def load(self, door_id: str) -> StoredVisit | None:
        return self.visits.get(door_id)

    def save(self, state: VisitState, expected_version: int | None) -> int:
        with self._lock:
            current = self.visits.get(state.door_id)
            current_version = None if current is None else current.version
            if current_version != expected_version:
                raise VersionConflict(f"visit state of door {state.door_id} changed concurrently")
            new_version = 1 if expected_version is None else expected_version + 1
            self.visits[state.door_id] = StoredVisit(state=state, version=new_version)
            return new_version

    def claim(self, visit_id: str, key: str, token: str) -> ClaimOutcome:
        now = self._clock()
        with self._lock:
            current = self.claims.get((visit_id, key))
            if current is not None:
                if current.status == EMITTED:
                    return ClaimOutcome.ALREADY_EMITTED
                if current.lease_until >= now:
                    return ClaimOutcome.HELD_ELSEWHERE
            self.claims[(visit_id, key)] = _Claim(status=CLAIMED, token=token, lease_until=now + self._lease)
            return ClaimOutcome.CLAIMED

    def mark_emitted(self, visit_id: str, key: str, token: str, event_id: str) -> bool:
        with self._lock:
            current = self.claims.get((visit_id, key))
            if current is None or current.token != token:
                return False
            current.status = EMITTED
            current.event_id = event_id
            return True

    def release(self, visit_id: str, key: str, token: str) -> None:
        with self._lock:
            current = self.claims.get((visit_id, key))
            if current is not None and current.token == token and current.status == CLAIMED:
                del self.claims[(visit_id, key)]

    def known_visitor_handled(self, visit_id: str, visitor_id: str) -> bool:
        return (visit_id, known_workflow_sk(visitor_id)) in self.workflow_claims

    def approved_visitor(self, visit_id: str) -> ApprovedStranger | None:
        return _approved_stranger(self.workflow_claims.get((visit_id, UNKNOWN_WORKFLOW_SK)))

    def carry_decided(self, visit_id: str, door_id: str, visitor_ids: list[str]) -> None:
        with self._lock:
            for visitor_id in visitor_ids:
                self.workflow_claims.setdefault(
                    (visit_id, known_workflow_sk(visitor_id)),
                    {"doorId": door_id, "decidedBy": "earlier-visit"},
                )

    def emitted(self) -> dict[tuple[str, str], str | None]:
        """(visitId, key) -> eventId of every claim marked EMITTED."""
        return {key: claim.event_id for key, claim in self.claims.items() if claim.status == EMITTED}
