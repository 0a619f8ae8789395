"""VisitorAdmin.forget with in-memory stores: what it erases, in which order, and that a forget
interrupted half-way finishes when run again (the record goes last, so a re-run still finds it)."""

from __future__ import annotations

from typing import Any

import pytest

from smartdoor.domain.face_matching import visitor_id_for
from smartdoor.domain.visitors import Visitor
from smartdoor.errors import TransientError, VisitorNotFound
from smartdoor_local.visitors import Forgotten, VisitorAdmin, photo_prefixes

APPROVAL_ID = "6Jx0HH9XDso2brn0eySr0v4Vqp86zM2L"
VISITOR_ID = visitor_id_for(APPROVAL_ID)


def approved_visitor() -> Visitor:
    return Visitor(
        visitor_id=VISITOR_ID,
        name="Ada Lovelace",
        phone="+447700900123",
        face_ids=("face-1",),
        photo_keys=("visits/front-door-1/frame.jpg", "visits/front-door-1/face.jpg"),
        created_at="2026-05-01T12:00:00Z",
        approval_id=APPROVAL_ID,
        door_id="front-door",
    )


class World:
    """Every store forget touches, one dict or set each, and the order of the calls."""

    def __init__(self, visitor: Visitor) -> None:
        self.calls: list[str] = []
        self.faces = set(visitor.face_ids)
        self.records = {visitor.visitor_id: visitor}
        self.objects = {
            *visitor.photo_keys,
            f"visitors/{visitor.visitor_id}/enrolment.jpg",
            "visits/front-door-2/frame.jpg",  # somebody else's visit
        }
        self.codes = {("front-door", visitor.visitor_id): "hash-1", ("front-door", "vis-other"): "hash-2"}
        self.other_items = 2  # a used code and a pointer at the back door
        self.visit_items = 3
        self.approvals = {APPROVAL_ID, "a-pending-request"}
        self.fail_visits = 0

    # FaceEngine (the part forget uses)
    def delete(self, face_ids: list[str]) -> dict[str, Any]:
        self.calls.append("faces")
        gone = [face for face in face_ids if face in self.faces]
        self.faces -= set(gone)
        return {"DeletedFaces": gone}


class Records:
    def __init__(self, world: World) -> None:
        self.world = world

    def get(self, visitor_id: str) -> Visitor | None:
        return self.world.records.get(visitor_id)

    def put(self, visitor: Visitor) -> None:
        self.world.records[visitor.visitor_id] = visitor

    def delete(self, visitor_id: str) -> bool:
        self.world.calls.append("record")
        return self.world.records.pop(visitor_id, None) is not None

    def all(self) -> list[Visitor]:
        return list(self.world.records.values())


class Photos:
    def __init__(self, world: World) -> None:
        self.world = world

    def put_jpeg(self, key: str, data: bytes) -> None:
        self.world.objects.add(key)

    def keys_under(self, prefix: str) -> list[str]:
        return sorted(key for key in self.world.objects if key.startswith(prefix))

    def delete_keys(self, keys: list[str]) -> list[str]:
        self.world.calls.append("photos")
        self.world.objects -= set(keys)
        return keys


class Passcodes:
    def __init__(self, world: World) -> None:
        self.world = world

    def revoke(self, door_id: str, visitor_id: str) -> bool:
        self.world.calls.append("current code")
        return self.world.codes.pop((door_id, visitor_id), None) is not None

    def forget_visitor(self, visitor_id: str) -> int:
        self.world.calls.append("codes")
        deleted, self.world.other_items = self.world.other_items, 0
        return deleted


class Visits:
    def __init__(self, world: World) -> None:
        self.world = world

    def forget_visitor(self, visitor_id: str) -> int:
        self.world.calls.append("visits")
        if self.world.fail_visits:
            self.world.fail_visits -= 1
            raise TransientError("throttled")
        erased, self.world.visit_items = self.world.visit_items, 0
        return erased


class Approvals:
    def __init__(self, world: World) -> None:
        self.world = world

    def delete(self, approval_id: str) -> bool:
        self.world.calls.append("approval")
        if approval_id not in self.world.approvals:
            return False
        self.world.approvals.remove(approval_id)
        return True


def admin(world: World) -> VisitorAdmin:
    return VisitorAdmin(
        engine=world,  # type: ignore[arg-type]
        visitors=Records(world),
        photos=Photos(world),
        passcodes=Passcodes(world),
        door_id="front-door",
        approvals=Approvals(world),
        visits=Visits(world),
    )


def test_forget_erases_every_store_and_deletes_the_record_last() -> None:
    world = World(approved_visitor())

    forgotten = admin(world).forget(VISITOR_ID)

    assert forgotten == Forgotten(
        visitor_id=VISITOR_ID,
        name="Ada Lovelace",
        faces_deleted=["face-1"],
        photos_deleted=[
            "visits/front-door-1/frame.jpg",
            "visits/front-door-1/face.jpg",
            f"visitors/{VISITOR_ID}/enrolment.jpg",
        ],
        passcode_revoked=True,
        passcode_items_deleted=3,
        visit_items_erased=3,
        approval_deleted=True,
    )
    assert world.calls == ["faces", "photos", "current code", "codes", "visits", "approval", "record"]
    # Other people's visit photos, codes and (pending) approval requests stay.
    assert world.objects == {"visits/front-door-2/frame.jpg"}
    assert world.codes == {("front-door", "vis-other"): "hash-2"}
    assert world.approvals == {"a-pending-request"}
    assert world.records == {} and world.faces == set()


def test_a_forget_that_failed_half_way_finishes_when_run_again() -> None:
    # GIVEN the Visits step fails once
    world = World(approved_visitor())
    world.fail_visits = 1
    with pytest.raises(TransientError):
        admin(world).forget(VISITOR_ID)
    # THEN the record is still there, so the owner can run forget again
    assert VISITOR_ID in world.records and world.approvals == {APPROVAL_ID, "a-pending-request"}

    forgotten = admin(world).forget(VISITOR_ID)

    # AND the re-run erases the rest (what the first run erased is simply not found again)
    assert (forgotten.faces_deleted, forgotten.passcode_revoked, forgotten.passcode_items_deleted) == (
        [],
        False,
        0,
    )
    assert (forgotten.visit_items_erased, forgotten.approval_deleted) == (3, True)
    assert world.records == {} and world.approvals == {"a-pending-request"}
    with pytest.raises(VisitorNotFound):
        admin(world).forget(VISITOR_ID)


def test_photo_folders_are_the_visitors_own_and_the_visits_of_the_photos_on_the_record() -> None:
    visitor = approved_visitor()
    odd = Visitor.parse(
        {**visitor.to_wire(), "photoKeys": ["visits/frame.jpg", "visits//face.jpg", "elsewhere/x"]}
    )

    assert photo_prefixes(visitor) == [f"visitors/{VISITOR_ID}/", "visits/front-door-1/"]
    # A key outside a visit's folder never widens the delete to all visit photos.
    assert photo_prefixes(odd) == [f"visitors/{VISITOR_ID}/"]
