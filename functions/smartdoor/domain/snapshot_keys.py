"""Where door devices' snapshots live in the photos bucket, the upload's limits, and what an upload is.

`snapshots/<doorId>/<epoch ms>-<16 hex>.jpg` (smartdoor.domain.snapshots has the contract).
Its own module so the API, which only hands out upload forms, imports no snapshot processing.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

SNAPSHOTS_PREFIX = "snapshots/"
MAX_SNAPSHOT_BYTES = 5 * 1024 * 1024
UPLOAD_URL_SECONDS = 60
JPEG_CONTENT_TYPE = "image/jpeg"
_KEY = re.compile(r"^snapshots/(?P<door>[A-Za-z0-9_-]{1,64})/(?P<ms>[0-9]{13})-[0-9a-f]{16}\.jpg$")


@dataclass(frozen=True, slots=True)
class SnapshotKey:
    door_id: str
    taken_at: float  # epoch seconds (the upload URL's issue time)


def snapshot_key(door_id: str, now: float, nonce: str | None = None) -> str:
    key = f"{SNAPSHOTS_PREFIX}{door_id}/{round(now * 1000):013d}-{nonce or secrets.token_hex(8)}.jpg"
    if not _KEY.match(key):
        raise ValueError("door_id must be 1-64 of A-Z a-z 0-9 _ - and the nonce 16 lowercase hex digits")
    return key


def parse_snapshot_key(key: str) -> SnapshotKey | None:
    match = _KEY.match(key)
    if match is None:
        return None
    return SnapshotKey(door_id=match.group("door"), taken_at=int(match.group("ms")) / 1000)


@dataclass(frozen=True, slots=True)
class UploadedObject:
    size: int
    head: bytes  # the first bytes (up to 64 KiB: the magic bytes and the frame header)
