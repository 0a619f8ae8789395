"""Known visitors, managed by the owner: enrol from a photo, list, forget.

The same code runs against the local stack and a deployed one; only the adapters differ
(`smartdoor_local.targets`): a face engine (dlib locally, Rekognition on AWS), the Visitors
table, the photos bucket and the Passcodes table.

- `enrol(name, phone, photo)`: the photo must show exactly one usable face. The face is indexed
  under a new visitorId (`vis-` + 16 random hex digits), the photo is stored as
  `visitors/<visitorId>/enrolment.jpg`, then the visitor is saved. Any failure on the way
  removes what was already written, so a rejected enrolment leaves nothing behind.
- `forget(visitorId)`: erases everything that names the visitor (id, name or phone) or shows
  them: their faces in the collection; their photos (the keys on the record, everything under
  `visitors/<visitorId>/` and under the `visits/<visitId>/` folders those keys are in: the
  approval's frame and face crop); their passcodes at every door, used or not, and the pointers
  to them; their claims and their place in a door's current visit (Visits table); the approval
  request that made them a visitor (it holds the name and phone the owner typed); and last the
  record. The record goes last so that a forget interrupted half-way can be run again: it finds
  the record and so the rest. Each step is idempotent. Pending approvals are left alone: until
  the owner approves, a request names nobody (its photo is a stranger's, under its own visit).
"""

from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from smartdoor.adapters.face_engine import FaceEngine
from smartdoor.domain.imaging import normalise_frame
from smartdoor.domain.phones import is_e164
from smartdoor.domain.visitors import Visitor
from smartdoor.errors import InvalidImage, SmartDoorError, VisitorNotFound

MAX_NAME_LENGTH = 64
VISITOR_PHOTOS_PREFIX = "visitors/"
VISIT_PHOTOS_PREFIX = "visits/"


class EnrolmentRejected(SmartDoorError):
    """The input cannot make a visitor (bad name, phone or photo). Nothing was stored."""


class VisitorDirectory(Protocol):
    """The Visitors table, plus the listing the Lambda code never needs."""

    def get(self, visitor_id: str) -> Visitor | None: ...

    def put(self, visitor: Visitor) -> None: ...

    def delete(self, visitor_id: str) -> bool: ...

    def all(self) -> list[Visitor]: ...


class PhotoBucket(Protocol):
    def put_jpeg(self, key: str, data: bytes) -> None: ...

    def delete_keys(self, keys: list[str]) -> list[str]: ...

    def keys_under(self, prefix: str) -> list[str]: ...


class PasscodeRevoker(Protocol):
    def revoke(self, door_id: str, visitor_id: str) -> bool:
        """Delete the visitor's current code at the door; False if there was none."""
        ...

    def forget_visitor(self, visitor_id: str) -> int:
        """Delete every code and pointer that names the visitor; returns how many items went."""
        ...


class ApprovalEraser(Protocol):
    def delete(self, approval_id: str) -> bool: ...


class VisitTraces(Protocol):
    def forget_visitor(self, visitor_id: str) -> int:
        """Erase the visitor from the Visits table; returns how many items were deleted or changed."""
        ...


@dataclass(frozen=True)
class Forgotten:
    """What a forget erased (a re-run after a complete one finds nothing more to erase)."""

    visitor_id: str
    name: str
    faces_deleted: list[str]
    photos_deleted: list[str]
    passcode_revoked: bool  # their current code existed and no longer opens the door
    passcode_items_deleted: int = 0  # codes (live, used, expired) and pointers, current one included
    visit_items_erased: int = 0
    approval_deleted: bool = False


@dataclass
class VisitorAdmin:
    engine: FaceEngine
    visitors: VisitorDirectory
    photos: PhotoBucket
    passcodes: PasscodeRevoker | None
    door_id: str
    approvals: ApprovalEraser | None = None
    visits: VisitTraces | None = None
    clock: Any = field(default=lambda: datetime.now(UTC))

    # ------------------------------------------------------------------ enrol

    def enrol(self, name: str, phone: str, photo: bytes) -> Visitor:
        name = check_name(name)
        if not is_e164(phone):
            raise EnrolmentRejected("the phone number must be in E.164 form: + then country code and number")
        try:
            picture = normalise_frame(photo)
        except InvalidImage as error:
            raise EnrolmentRejected(f"the photo cannot be used: {error}") from None
        visitor_id = f"vis-{secrets.token_hex(8)}"
        response = self.engine.index(picture, visitor_id)
        face_ids = [record["Face"]["FaceId"] for record in response.get("FaceRecords", [])]
        unindexed = response.get("UnindexedFaces", [])
        others = [face for face in unindexed if "EXCEEDS_MAX_FACES" in face.get("Reasons", [])]
        if others:
            self.engine.delete(face_ids)
            raise EnrolmentRejected(
                f"the photo shows {len(others) + len(face_ids)} faces; use a photo of the visitor alone"
            )
        if not face_ids:
            reasons = sorted({reason for face in unindexed for reason in face.get("Reasons", [])})
            if reasons:
                raise EnrolmentRejected(f"the face in the photo is not usable ({', '.join(reasons)})")
            raise EnrolmentRejected("there is no face in the photo")
        key = f"{VISITOR_PHOTOS_PREFIX}{visitor_id}/enrolment.jpg"
        visitor = Visitor(
            visitor_id=visitor_id,
            name=name,
            phone=phone,
            face_ids=tuple(face_ids),
            photo_keys=(key,),
            created_at=self.clock().isoformat(timespec="seconds").replace("+00:00", "Z"),
            door_id=self.door_id,
        )
        try:
            self.photos.put_jpeg(key, picture)
            self.visitors.put(visitor)
        except BaseException:
            self.engine.delete(face_ids)
            self.photos.delete_keys([key])
            raise
        return visitor

    # ------------------------------------------------------------------ list

    def list(self) -> list[Visitor]:
        return sorted(self.visitors.all(), key=lambda visitor: (visitor.created_at, visitor.visitor_id))

    # ------------------------------------------------------------------ forget

    def forget(self, visitor_id: str) -> Forgotten:
        visitor = self.visitors.get(visitor_id)
        if visitor is None:
            raise VisitorNotFound(f"there is no visitor {visitor_id} (see: smartdoor visitors list)")
        deleted_faces: list[str] = []
        if visitor.face_ids:
            response = self.engine.delete(list(visitor.face_ids))
            deleted_faces = list(response.get("DeletedFaces", []))
        deleted_photos = forget_photos(self.photos, visitor)
        revoked, passcode_items = self._forget_passcodes(visitor)
        visit_items = self.visits.forget_visitor(visitor_id) if self.visits is not None else 0
        approval_deleted = False
        if visitor.approval_id and self.approvals is not None:
            approval_deleted = self.approvals.delete(visitor.approval_id)
        self.visitors.delete(visitor_id)
        return Forgotten(
            visitor_id,
            visitor.name,
            deleted_faces,
            deleted_photos,
            revoked,
            passcode_items_deleted=passcode_items,
            visit_items_erased=visit_items,
            approval_deleted=approval_deleted,
        )

    def _forget_passcodes(self, visitor: Visitor) -> tuple[bool, int]:
        if self.passcodes is None:
            return False, 0
        revoked = self.passcodes.revoke(visitor.door_id or self.door_id, visitor.visitor_id)
        return revoked, int(revoked) + self.passcodes.forget_visitor(visitor.visitor_id)


def forget_photos(photos: PhotoBucket, visitor: Visitor) -> list[str]:
    keys = list(visitor.photo_keys)
    for prefix in photo_prefixes(visitor):
        keys.extend(photos.keys_under(prefix))
    unique = list(dict.fromkeys(keys))
    return photos.delete_keys(unique) if unique else []


def photo_prefixes(visitor: Visitor) -> list[str]:
    """Where the visitor's photos live: their own folder, and the visit folders of the photos on
    their record (an approved visitor's frame and face crop are `visits/<visitId>/...`)."""
    visit_folders = [
        f"{VISIT_PHOTOS_PREFIX}{parts[1]}/"
        for parts in (key.split("/") for key in visitor.photo_keys)
        if len(parts) == 3 and parts[0] == VISIT_PHOTOS_PREFIX.rstrip("/") and parts[1]
    ]
    return list(dict.fromkeys([_photo_prefix(visitor.visitor_id), *visit_folders]))


def _photo_prefix(visitor_id: str) -> str:
    return f"{VISITOR_PHOTOS_PREFIX}{visitor_id}/"


def check_name(name: str) -> str:
    """1-64 printable characters, not blank (as the approval API accepts)."""
    cleaned = name.strip()
    if not cleaned:
        raise EnrolmentRejected("the name must not be blank")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise EnrolmentRejected(f"the name must be at most {MAX_NAME_LENGTH} characters")
    if any(unicodedata.category(character).startswith("C") for character in cleaned):
        raise EnrolmentRejected("the name must not contain control characters")
    return cleaned
