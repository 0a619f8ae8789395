"""Edge-device snapshots: one JPEG uploaded to S3 instead of a video stream.

Contract (docs/doorbell.md):

- `POST /doors/{doorId}/snapshots` gives the device a presigned S3 POST for exactly one key,
  `snapshots/<doorId>/<epoch ms>-<16 hex>.jpg`, valid `UPLOAD_URL_SECONDS`, accepting only
  `Content-Type: image/jpeg` and 1 byte to `MAX_SNAPSHOT_BYTES`. The epoch milliseconds are
  when the URL was issued: the snapshot's frame time (S3's own times have one-second
  resolution; the device uploads within the minute the URL lives).
- S3 tells EventBridge the object was created; `process_snapshot` then checks it again (a JPEG
  by its magic bytes, not empty, not over the limit, not over MAX_INPUT_PIXELS by its frame
  header; a key this contract produced, for a door this deployment serves), counts it against
  the daily face-search budget, searches it, and writes one face-search record with its S3
  key, marked `singleImage` so the one snapshot decides the visit. The unknown-visitor
  workflow then takes its photo from S3, not KVS.
- Anything else is a rejection: recorded (the upload's log item says why), logged and counted;
  no record is written, so nothing downstream starts. A face search that finds no face is a
  rejection too.
- Each object is processed once: the log item is claimed before the work (EventBridge delivers
  at least once); a failure releases the claim so the retry processes it.
"""

from __future__ import annotations

__all__ = [
    "JPEG_CONTENT_TYPE",
    "MAX_SNAPSHOT_BYTES",
    "SNAPSHOTS_PREFIX",
    "UPLOAD_URL_SECONDS",
    "SnapshotKey",
    "UploadedObject",
    "parse_snapshot_key",
    "snapshot_key",
]

from collections.abc import Callable, Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from smartdoor.domain.doorbell import (
    MAX_MATCHES,
    FaceSearch,
    FrameBudget,
    OwnerEmail,
    RecordSink,
    SessionPolicy,
    reserve_frame,
)
from smartdoor.domain.face_search_records import OutgoingRecord, StoredImageSource, face_search_record
from smartdoor.domain.picture_size import declared_size, has_too_many_pixels
from smartdoor.domain.snapshot_keys import (
    JPEG_CONTENT_TYPE,
    MAX_SNAPSHOT_BYTES,
    SNAPSHOTS_PREFIX,
    UPLOAD_URL_SECONDS,
    SnapshotKey,
    UploadedObject,
    parse_snapshot_key,
    snapshot_key,
)
from smartdoor.errors import InvalidImage, NoFaceInPhoto, TooManyPixels
from smartdoor.models import S3Image

JPEG_MAGIC = b"\xff\xd8\xff"


class Rejection(StrEnum):
    UNKNOWN_KEY = "unknown-key"  # not a key this contract hands out
    UNKNOWN_DOOR = "unknown-door"  # a door this deployment does not serve
    MISSING = "missing"  # the object is gone (deleted before it was processed)
    EMPTY = "empty"
    TOO_LARGE = "too-large"
    NOT_JPEG = "not-jpeg"  # wrong magic bytes, or Rekognition cannot decode it
    TOO_MANY_PIXELS = "too-many-pixels"  # its frame header declares more than MAX_INPUT_PIXELS
    NO_FACE = "no-face"
    DAILY_FRAME_CAP = "daily-frame-cap"


class SnapshotStatus(StrEnum):
    SEARCHED = "SEARCHED"
    REJECTED = "REJECTED"
    DUPLICATE = "DUPLICATE"  # already processed (a repeated delivery): nothing done


def check_upload(upload: UploadedObject | None) -> Rejection | None:
    if upload is None:
        return Rejection.MISSING
    if upload.size <= 0:
        return Rejection.EMPTY
    if upload.size > MAX_SNAPSHOT_BYTES:
        return Rejection.TOO_LARGE
    if not upload.head.startswith(JPEG_MAGIC):
        return Rejection.NOT_JPEG
    # A frame header past the head (after 64 KiB of metadata: unusual) is left to the engine.
    declared = declared_size(upload.head)
    if declared is not None and has_too_many_pixels(*declared):
        return Rejection.TOO_MANY_PIXELS
    return None


@dataclass(frozen=True, slots=True)
class SnapshotOutcome:
    key: str
    status: SnapshotStatus
    door_id: str | None = None
    reason: Rejection | None = None
    size: int | None = None
    face_found: bool = False
    matched: bool = False

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {"s3Key": self.key, "status": self.status.value}
        if self.door_id is not None:
            item["doorId"] = self.door_id
        if self.reason is not None:
            item["reason"] = self.reason.value
        if self.size is not None:
            item["size"] = self.size
        return item


class SnapshotObjects(Protocol):
    def inspect(self, bucket: str, key: str, max_bytes: int) -> UploadedObject | None:
        """Size and first bytes of the object (None: it does not exist). Reads nothing past the head."""
        ...


class SnapshotLog(Protocol):
    def claim(self, key: str, now: float) -> bool:
        """Take the object for processing; False if it was processed (or is being processed)."""
        ...

    def release(self, key: str) -> None: ...

    def finish(self, outcome: SnapshotOutcome, now: float) -> None: ...


@dataclass(frozen=True)
class SnapshotWorld:
    objects: SnapshotObjects
    log: SnapshotLog
    engine: FaceSearch
    writer: RecordSink
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
