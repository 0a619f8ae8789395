"""Door device routes: ring the doorbell, or get a form to upload a snapshot (docs/doorbell.md).

- `ring_door`: publishes `DoorbellPressed` for the door on the bus; the bus rule starts the
  doorbell session workflow, which opens the door's session or extends the running one. So a
  repeated ring is harmless (idempotent: one session per door) and the API answers 202 at once.
- `snapshot_upload`: a presigned S3 POST for one new key under `snapshots/<doorId>/`, accepting
  one JPEG of at most 5 MB for 60 seconds. S3 announces the upload on EventBridge and the
  snapshot function takes it from there.

Pure Python on ports; every refusal is a typed exception the handler maps to a status code.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from smartdoor.domain.snapshot_keys import (
    JPEG_CONTENT_TYPE,
    MAX_SNAPSHOT_BYTES,
    UPLOAD_URL_SECONDS,
    snapshot_key,
)
from smartdoor.errors import TransientError, UnknownDoor
from smartdoor.models import BusEvent, DetailType, DoorActivityDetail
from smartdoor.schema import Record
from smartdoor.services.unlock import iso_utc

if TYPE_CHECKING:
    from smartdoor.ports import EventBus, SnapshotForms

API_REPORTER = "api"


class RingNotDelivered(TransientError):
    """EventBridge refused the DoorbellPressed event after retries: no session was started (503)."""


class Rang(Record):
    door_id: str
    event_id: str
    rang_at: datetime


class SnapshotUpload(Record):
    door_id: str
    key: str
    url: str
    fields: dict[str, str]
    expires_at: datetime

    def to_body(self) -> dict[str, Any]:
        return {
            "doorId": self.door_id,
            "key": self.key,
            "upload": {"method": "POST", "url": self.url, "fields": self.fields, "fileField": "file"},
            "contentType": JPEG_CONTENT_TYPE,
            "maxBytes": MAX_SNAPSHOT_BYTES,
            "expiresAt": iso_utc(self.expires_at),
        }


def _served(door_id: str, served_doors: Collection[str]) -> None:
    if door_id not in served_doors:
        raise UnknownDoor(f"door {door_id!r} is not served here")


def ring_door(door_id: str, *, served_doors: Collection[str], bus: EventBus, now: datetime) -> Rang:
    _served(door_id, served_doors)
    detail = DoorActivityDetail(door_id=door_id, occurred_at=iso_utc(now), reported_by=API_REPORTER)
    (event_id,) = bus.publish(
        [BusEvent(DetailType.DOORBELL_PRESSED.value, json.dumps(detail.to_wire(), separators=(",", ":")))]
    )
    if event_id is None:
        raise RingNotDelivered("EventBridge refused the DoorbellPressed event")
    return Rang(door_id=door_id, event_id=event_id, rang_at=now)


def snapshot_upload(
    door_id: str, *, served_doors: Collection[str], forms: SnapshotForms, now: datetime
) -> SnapshotUpload:
    _served(door_id, served_doors)
    key = snapshot_key(door_id, now.timestamp())
    form = forms.upload_form(key, UPLOAD_URL_SECONDS)
    return SnapshotUpload(
        door_id=door_id,
        key=key,
        url=str(form["url"]),
        fields={str(name): str(value) for name, value in form["fields"].items()},
        expires_at=now + timedelta(seconds=UPLOAD_URL_SECONDS),
    )
