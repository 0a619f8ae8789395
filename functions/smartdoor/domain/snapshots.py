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

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

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
