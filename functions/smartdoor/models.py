"""Models shared across functions: the public event contract on the `smartdoor` bus.

These are a versioned, documented contract (README, "Events"). Field names are camelCase on
the wire; Python code uses snake_case attributes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Literal

from smartdoor.schema import Meta, Model, Record, WireModel

EVENT_SOURCE = "smartdoor"
EVENT_VERSION = "1"


class BusEvent(Record):
    """One entry for the bus: its detail-type and the detail as JSON (the source is EVENT_SOURCE)."""

    detail_type: str
    detail: str  # JSON


class DetailType(StrEnum):
    UNKNOWN_FACE_DETECTED = "UnknownFaceDetected"
    KNOWN_FACE_DETECTED = "KnownFaceDetected"
    DOOR_UNLOCKED = "DoorUnlocked"
    ACCESS_DENIED = "AccessDenied"
    APPROVAL_EXPIRED = "ApprovalExpired"
    # Someone is at the door: each starts (or extends) a doorbell session (docs/doorbell.md).
    DOORBELL_PRESSED = "DoorbellPressed"
    MOTION_DETECTED = "MotionDetected"


# The ids task inputs carry (visitId, visitorId, doorId): letters, digits and _ . : - only, 1-128.
WIRE_ID_PATTERN = r"^[A-Za-z0-9_.:\-]{1,128}$"


class BoundingBox(Model):
    """Rekognition's bounding box: ratios of the frame, 0-1 (Rekognition's own capitalisation)."""

    Width: Annotated[float, Meta(ge=0, le=1)]
    Height: Annotated[float, Meta(ge=0, le=1)]
    Left: float
    Top: float


class FrameLocation(WireModel):
    """Where the frame of a face can be fetched again: a KVS fragment, or an uploaded snapshot in S3."""

    source: Literal["kvs", "s3"]
    frame_time: float  # epoch seconds: producerTimestamp + frameOffsetInSeconds
    stream_arn: str | None = None
    fragment_number: str | None = None
    producer_timestamp: float | None = None
    server_timestamp: float | None = None
    frame_offset_in_seconds: float | None = None
    s3_bucket: str | None = None
    s3_key: str | None = None


class FaceEventDetail(WireModel, kw_only=True):
    """Detail of UnknownFaceDetected (and the common part of KnownFaceDetected)."""

    version: str = EVENT_VERSION
    visit_id: str
    door_id: str
    detected_at: str  # ISO-8601 UTC of the frame time
    frame: FrameLocation
    bounding_box: BoundingBox
    confidence: float  # Rekognition's confidence that the box holds a face


class KnownFaceDetail(FaceEventDetail, kw_only=True):
    face_id: str
    visitor_id: str  # the collection's ExternalImageId
    similarity: float


# visitIds become S3 key segments: no '/', no '..', nothing that needs escaping.
_KEY_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


def visit_photo_prefix(visit_id: str) -> str:
    """`visits/<visitId>/`: every photo of a visit lives under it (so it can be deleted as one)."""
    if not _KEY_SAFE_ID.match(visit_id) or ".." in visit_id:
        raise ValueError(f"visitId {visit_id!r} is not usable in a photo key")
    return f"visits/{visit_id}/"


class VisitPhoto(WireModel):
    """Where a visit's photos are stored: the whole frame and the face crop (`extract_frame` output).

    Keys are `visits/<visitId>/frame.jpg` and `visits/<visitId>/face.jpg` in the photos bucket.
    """

    bucket: str
    frame_key: str
    face_key: str

    @classmethod
    def for_visit(cls, bucket: str, visit_id: str) -> VisitPhoto:
        prefix = visit_photo_prefix(visit_id)
        return cls(bucket=bucket, frame_key=prefix + "frame.jpg", face_key=prefix + "face.jpg")


@dataclass(frozen=True)
class S3Image:
    """An image stored in S3 (a face engine may read it there instead of receiving bytes)."""

    bucket: str
    key: str


# What a face engine accepts: encoded image bytes (JPEG/PNG) or an S3 object.
ImageRef = bytes | S3Image


class DoorUnlockedDetail(WireModel, kw_only=True):
    """Detail of DoorUnlocked: a visitor typed a valid passcode at the door (the lock listens).

    `visit_id` is the visit the passcode was issued for (the code item keeps it), which may have
    ended before the code was typed.
    """

    version: str = EVENT_VERSION
    visit_id: str
    door_id: str
    visitor_id: str
    unlocked_at: str  # ISO-8601 UTC
    # The lock's command (docs/door.md): its id (uuid4) and when it stops being valid (ISO-8601 UTC,
    # unlockedAt + lockCommandSeconds) so a late delivery never opens the door.
    command_id: str
    expires_at: str


class DoorActivityDetail(WireModel, kw_only=True):
    """Detail of DoorbellPressed and MotionDetected: someone is at the door.

    Published by the ring API (`reportedBy: "api"`) or by a door device or integration on the
    bus; each one starts the door's doorbell session, or extends the running one.
    """

    version: str = EVENT_VERSION
    door_id: Annotated[str, Meta(pattern="^[A-Za-z0-9_-]{1,64}$")]
    occurred_at: str | None = None  # ISO-8601 UTC
    reported_by: Annotated[str, Meta(max_length=64)] | None = None  # "api", a device name
