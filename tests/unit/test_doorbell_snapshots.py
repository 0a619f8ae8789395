"""Edge-device snapshots on in-memory adapters: the key contract, every rejection, one record per upload."""

from __future__ import annotations

import json
from typing import Any

import pytest

from smartdoor.domain.doorbell import SessionPolicy, budget_day
from smartdoor.domain.records import parse_record
from smartdoor.domain.snapshots import (
    MAX_SNAPSHOT_BYTES,
    Rejection,
    SnapshotOutcome,
    SnapshotStatus,
    parse_snapshot_key,
    snapshot_key,
)
from smartdoor.errors import InvalidImage, TooManyPixels, TransientError
from smartdoor.observability import logger
from smartdoor.services.snapshot_search import SnapshotWorld, process_snapshot
from tests.fakes import FakeFaceEngine, make_jpeg
from tests.fakes.doorbell import (
    FakeClock,
    InMemoryFrameBudget,
    InMemorySnapshots,
    RecordingOwnerEmail,
    RecordingRecordWriter,
)
from tests.fakes.images import huge_jpeg

BUCKET = "smartdoor-photos-test"
DOOR = "back-door"
ISSUED_AT = 1_763_700_000.25


class Uploads:
    def __init__(self, policy: SessionPolicy | None = None) -> None:
        self.policy = policy or SessionPolicy()
        self.clock = FakeClock(ISSUED_AT + 3)
        self.store = InMemorySnapshots()
        self.engine = FakeFaceEngine()
        self.writer = RecordingRecordWriter()
        self.budget = InMemoryFrameBudget()
        self.owner = RecordingOwnerEmail()

    def upload(self, data: bytes, door_id: str = DOOR, nonce: str = "0123456789abcdef") -> str:
        key = snapshot_key(door_id, ISSUED_AT, nonce)
        self.store.objects[(BUCKET, key)] = data
        return key

    def process(self, key: str) -> SnapshotOutcome:
        world = SnapshotWorld(
            objects=self.store,
            log=self.store,
            engine=self.engine,
            writer=self.writer,
            budget=self.budget,
            owner=self.owner,
        )
        return process_snapshot(
            BUCKET, key, self.clock, served_doors={DOOR}, world=world, policy=self.policy, log=logger
        )


def test_keys_name_the_door_and_the_moment_the_upload_url_was_issued() -> None:
    key = snapshot_key(DOOR, ISSUED_AT)

    assert key.startswith("snapshots/back-door/1763700000250-") and key.endswith(".jpg")
    parsed = parse_snapshot_key(key)
    assert parsed is not None
    assert parsed.door_id == DOOR and parsed.taken_at == pytest.approx(ISSUED_AT, abs=1e-3)
    assert snapshot_key(DOOR, ISSUED_AT) != key  # a fresh nonce every time


@pytest.mark.parametrize(
    "key",
    [
        "snapshots/back-door/1763700000250.jpg",
        "snapshots/back-door/1763700000250-0123456789abcdef.png",
        "snapshots/../1763700000250-0123456789abcdef.jpg",
        "visits/back-door/1763700000250-0123456789abcdef.jpg",
        "snapshots/back door/1763700000250-0123456789abcdef.jpg",
    ],
)
def test_keys_this_contract_never_hands_out_are_not_snapshot_keys(key: str) -> None:
    assert parse_snapshot_key(key) is None


def test_a_good_snapshot_is_searched_in_s3_and_becomes_one_deciding_record() -> None:
    # GIVEN a JPEG uploaded for the back door
    uploads = Uploads()
    key = uploads.upload(make_jpeg())

    # WHEN the object-created event is processed
    outcome = uploads.process(key)

    # THEN Rekognition reads it from S3, and one singleImage record names the key and the issue time
    assert outcome == SnapshotOutcome(
        key, SnapshotStatus.SEARCHED, door_id=DOOR, size=outcome.size, face_found=True, matched=False
    )
    (search,) = uploads.engine.calls_to("search")
    assert search.image_key == key
    (record,) = uploads.writer.records
    assert record.partition_key == DOOR
    frame = parse_record(json.dumps(record.data), {})
    assert frame.door_id == DOOR and frame.single_image
    assert frame.location.source == "s3"
    assert (frame.location.s3_bucket, frame.location.s3_key) == (BUCKET, key)
    assert frame.frame_time == pytest.approx(ISSUED_AT, abs=1e-3)
    assert uploads.store.outcomes[key].status is SnapshotStatus.SEARCHED
    assert uploads.budget.frames == {budget_day(ISSUED_AT): 1}


def test_a_known_visitor_s_snapshot_carries_the_match() -> None:
    uploads = Uploads()
    uploads.engine.will_match("vis-anna", similarity=99.0)

    outcome = uploads.process(uploads.upload(make_jpeg()))

    assert outcome.matched
    faces = uploads.writer.payloads[0]["FaceSearchResponse"]
    assert faces[0]["MatchedFaces"][0]["Face"]["ExternalImageId"] == "vis-anna"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (make_jpeg(fmt="PNG"), Rejection.NOT_JPEG),
        (b"<html>not a photo</html>", Rejection.NOT_JPEG),
        (b"", Rejection.EMPTY),
        (b"\xff\xd8\xff" + b"\0" * MAX_SNAPSHOT_BYTES, Rejection.TOO_LARGE),
    ],
    ids=["png", "html", "empty", "over 5 MB"],
)
def test_a_bad_upload_is_recorded_and_nothing_downstream_starts(data: bytes, reason: Rejection) -> None:
    uploads = Uploads()
    key = uploads.upload(data)

    outcome = uploads.process(key)

    assert outcome.status is SnapshotStatus.REJECTED and outcome.reason is reason
    assert outcome.size == len(data)
    assert uploads.store.outcomes[key] == outcome
    assert uploads.engine.calls == [] and uploads.writer.records == []
    assert uploads.budget.frames == {}


def test_a_snapshot_exactly_at_the_limit_is_accepted() -> None:
    uploads = Uploads()
    key = uploads.upload(b"\xff\xd8\xff" + b"\0" * (MAX_SNAPSHOT_BYTES - 3))

    assert uploads.process(key).status is SnapshotStatus.SEARCHED


def test_a_snapshot_without_a_face_is_rejected_after_the_search_and_writes_no_record() -> None:
    uploads = Uploads()
    uploads.engine.search_finds_no_face()
    key = uploads.upload(make_jpeg(face=None))

    outcome = uploads.process(key)

    assert outcome.reason is Rejection.NO_FACE
    assert len(uploads.engine.calls_to("search")) == 1
    assert uploads.writer.records == []


def test_a_jpeg_rekognition_cannot_decode_is_rejected_as_not_a_jpeg() -> None:
    class Unreadable(FakeFaceEngine):
        def search(self, image: Any, threshold: float, max_faces: int) -> dict[str, Any]:
            raise InvalidImage("InvalidImageFormatException")

    uploads = Uploads()
    uploads.engine = Unreadable()

    outcome = uploads.process(uploads.upload(b"\xff\xd8\xff\xe0 truncated"))

    assert outcome.reason is Rejection.NOT_JPEG
    assert uploads.writer.records == []


def test_a_jpeg_whose_header_declares_too_many_pixels_is_rejected_as_such_without_a_search() -> None:
    # GIVEN a 15000 x 15000 JPEG (225 MP: past Pillow's decompression-bomb limit), under 5 MB
    uploads = Uploads()
    key = uploads.upload(huge_jpeg(15_000, 15_000))

    # WHEN it is processed
    outcome = uploads.process(key)

    # THEN it is rejected for its pixels, read from its header: no search, no record, no budget
    assert outcome.status is SnapshotStatus.REJECTED and outcome.reason is Rejection.TOO_MANY_PIXELS
    assert uploads.store.outcomes[key].reason is Rejection.TOO_MANY_PIXELS
    assert uploads.engine.calls == [] and uploads.writer.records == []


def test_a_picture_the_engine_finds_too_large_in_pixels_is_rejected_as_such() -> None:
    # GIVEN an engine that measures the picture itself (the local engine decodes it)
    class Measuring(FakeFaceEngine):
        def search(self, image: Any, threshold: float, max_faces: int) -> dict[str, Any]:
            raise TooManyPixels("image is 15000x15000: too many pixels")

    uploads = Uploads()
    uploads.engine = Measuring()

    outcome = uploads.process(uploads.upload(make_jpeg()))

    assert outcome.reason is Rejection.TOO_MANY_PIXELS
    assert uploads.writer.records == []


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("snapshots/back-door/holiday.jpg", Rejection.UNKNOWN_KEY),
        ("snapshots/garage/1763700000250-0123456789abcdef.jpg", Rejection.UNKNOWN_DOOR),
    ],
)
def test_keys_outside_the_contract_or_for_another_door_are_rejected_without_reading_them(
    key: str, reason: Rejection
) -> None:
    uploads = Uploads()
    uploads.store.objects[(BUCKET, key)] = make_jpeg()

    outcome = uploads.process(key)

    assert outcome.reason is reason
    assert uploads.store.inspected == [] and uploads.engine.calls == []
    assert uploads.store.outcomes[key].status is SnapshotStatus.REJECTED


def test_an_object_deleted_before_processing_is_rejected_as_missing() -> None:
    uploads = Uploads()

    outcome = uploads.process(snapshot_key(DOOR, ISSUED_AT, "0123456789abcdef"))

    assert outcome.reason is Rejection.MISSING


def test_a_repeated_delivery_is_ignored() -> None:
    uploads = Uploads()
    key = uploads.upload(make_jpeg())
    uploads.process(key)

    again = uploads.process(key)

    assert again.status is SnapshotStatus.DUPLICATE
    assert len(uploads.writer.records) == 1 and len(uploads.engine.calls_to("search")) == 1


def test_a_failure_releases_the_upload_so_the_retry_processes_it() -> None:
    uploads = Uploads()
    key = uploads.upload(make_jpeg())
    uploads.writer.fail_next()

    with pytest.raises(TransientError):
        uploads.process(key)
    assert key not in uploads.store.outcomes and key not in uploads.store.processing

    assert uploads.process(key).status is SnapshotStatus.SEARCHED
    assert len(uploads.writer.records) == 1


def test_snapshots_count_against_the_daily_cap_and_the_owner_is_told_once() -> None:
    uploads = Uploads(SessionPolicy(max_frames_per_day=1))
    first = uploads.process(uploads.upload(make_jpeg(), nonce="0" * 16))
    second = uploads.process(uploads.upload(make_jpeg(), nonce="1" * 16))
    third = uploads.process(uploads.upload(make_jpeg(), nonce="2" * 16))

    assert first.status is SnapshotStatus.SEARCHED
    assert second.reason is Rejection.DAILY_FRAME_CAP and third.reason is Rejection.DAILY_FRAME_CAP
    assert len(uploads.engine.calls_to("search")) == 1
    assert len(uploads.owner.sent) == 1
