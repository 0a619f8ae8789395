"""Processing one uploaded snapshot: check it, count it, search it, record it (the contract is in
`smartdoor.domain.snapshots` and docs/doorbell.md).

Each object is processed once: the log item is claimed before the work (EventBridge delivers
at least once); a failure releases the claim so the retry processes it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from smartdoor.domain.doorbell import MAX_MATCHES, SessionPolicy
from smartdoor.domain.face_search_records import OutgoingRecord, StoredImageSource, face_search_record
from smartdoor.domain.snapshot_keys import MAX_SNAPSHOT_BYTES, SnapshotKey, parse_snapshot_key
from smartdoor.domain.snapshots import Rejection, SnapshotOutcome, SnapshotStatus, check_upload
from smartdoor.errors import InvalidImage, NoFaceInPhoto, TooManyPixels
from smartdoor.models import S3Image
from smartdoor.services.frame_budget import reserve_frame

if TYPE_CHECKING:
    from smartdoor.ports import (
        FaceSearch,
        FrameBudget,
        OwnerEmail,
        RecordWriter,
        SnapshotLog,
        SnapshotObjects,
    )


@dataclass(frozen=True)
class SnapshotWorld:
    objects: SnapshotObjects
    log: SnapshotLog
    engine: FaceSearch
    writer: RecordWriter
    budget: FrameBudget
    owner: OwnerEmail


def process_snapshot(
    bucket: str,
    key: str,
    now: Callable[[], float],
    *,
    served_doors: Collection[str],
    world: SnapshotWorld,
    policy: SessionPolicy,
    log: Any,
) -> SnapshotOutcome:
    """Check, search and record one uploaded snapshot (see the module docstring)."""
    parsed = parse_snapshot_key(key)
    door_id = parsed.door_id if parsed else None
    if parsed is None or parsed.door_id not in served_doors:
        reason = Rejection.UNKNOWN_KEY if parsed is None else Rejection.UNKNOWN_DOOR
        outcome = SnapshotOutcome(key, SnapshotStatus.REJECTED, door_id=door_id, reason=reason)
        world.log.finish(outcome, now())
        return outcome
    if not world.log.claim(key, now()):
        return SnapshotOutcome(key, SnapshotStatus.DUPLICATE, door_id=door_id)
    try:
        outcome = _search(bucket, key, parsed, now, world=world, policy=policy, log=log)
        world.log.finish(outcome, now())
    except Exception:
        world.log.release(key)
        raise
    return outcome


def _search(
    bucket: str,
    key: str,
    parsed: SnapshotKey,
    now: Callable[[], float],
    *,
    world: SnapshotWorld,
    policy: SessionPolicy,
    log: Any,
) -> SnapshotOutcome:
    upload = world.objects.inspect(bucket, key, MAX_SNAPSHOT_BYTES)
    size = None if upload is None else upload.size

    def rejected(reason: Rejection) -> SnapshotOutcome:
        return SnapshotOutcome(key, SnapshotStatus.REJECTED, door_id=parsed.door_id, reason=reason, size=size)

    rejection = check_upload(upload)
    if rejection is not None:
        return rejected(rejection)
    if not reserve_frame(now(), budget=world.budget, owner=world.owner, policy=policy, log=log):
        return rejected(Rejection.DAILY_FRAME_CAP)
    try:
        answer = world.engine.search(S3Image(bucket, key), policy.face_match_threshold, MAX_MATCHES)
    except NoFaceInPhoto:
        return rejected(Rejection.NO_FACE)
    except TooManyPixels:
        return rejected(Rejection.TOO_MANY_PIXELS)
    except InvalidImage:
        return rejected(Rejection.NOT_JPEG)
    record = face_search_record(
        answer,
        door_id=parsed.door_id,
        source=StoredImageSource(bucket=bucket, key=key, frame_time=parsed.taken_at),
        single_image=True,
    )
    world.writer.write([OutgoingRecord(partition_key=parsed.door_id, data=record)])
    return SnapshotOutcome(
        key,
        SnapshotStatus.SEARCHED,
        door_id=parsed.door_id,
        size=size,
        face_found=True,
        matched=bool(answer.get("FaceMatches")),
    )
