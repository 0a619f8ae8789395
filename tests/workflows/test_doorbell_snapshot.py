"""An edge device's snapshot, end to end on moto: S3 upload -> process_snapshot -> Kinesis ->
stream_match -> UnknownFaceDetected -> the unknown-visitor workflow, which takes the photo from
S3 instead of KVS. And the rejected uploads, which start nothing."""

from __future__ import annotations

import time

import boto3
import pytest

from smartdoor.domain.snapshots import snapshot_key
from tests.fakes import make_jpeg
from tests.fakes.images import huge_jpeg, open_image
from tests.workflows.conftest import DOOR_ID, REGION, SmartDoorOnMoto
from tests.workflows.doorbell_world import Doorbell, doorbell

__all__ = ["doorbell"]  # the fixture


def test_a_snapshot_leads_to_the_owner_being_asked_with_that_photo(
    doorbell: Doorbell, door: SmartDoorOnMoto
) -> None:
    # GIVEN an edge device uploads one JPEG of a stranger through its presigned form
    key = snapshot_key(DOOR_ID, time.time())
    result = doorbell.upload_snapshot(key, make_jpeg(1024, 768))
    assert result["status"] == "SEARCHED"

    # THEN that single snapshot decided the visit: one UnknownFaceDetected naming the S3 image
    (event,) = door.bus_events("UnknownFaceDetected")
    frame = event["detail"]["frame"]
    assert (frame["source"], frame["s3Bucket"], frame["s3Key"]) == ("s3", door.names["photos"], key)

    # WHEN the bus hands it to the unknown-visitor workflow
    execution = door.start("unknown_visitor", event)
    door.wait_for_owner(execution)

    # THEN the visit's photos came from the snapshot, not from KVS
    assert door.frames.calls == []
    s3 = boto3.client("s3", region_name=REGION)
    visit_id = event["detail"]["visitId"]
    stored = s3.get_object(Bucket=door.names["photos"], Key=f"visits/{visit_id}/frame.jpg")["Body"].read()
    assert open_image(stored).size == (1024, 768)
    # AND the owner's approval request points at that visit
    (approval,) = door.items("approvals")
    assert approval["visitId"] == visit_id and approval["status"] == "PENDING"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<svg>not a photo</svg>", "not-jpeg"),
        (make_jpeg(fmt="PNG"), "not-jpeg"),
        (b"", "empty"),
        # 225 MP in 1 kB: its frame header, in the head process_snapshot reads, says so.
        (huge_jpeg(15_000, 15_000), "too-many-pixels"),
    ],
    ids=["svg", "png", "empty", "225 MP"],
)
def test_a_rejected_upload_is_recorded_and_starts_nothing(
    doorbell: Doorbell, door: SmartDoorOnMoto, body: bytes, reason: str
) -> None:
    key = snapshot_key(DOOR_ID, time.time())

    result = doorbell.upload_snapshot(key, body)

    assert (result["status"], result["reason"]) == ("REJECTED", reason)
    assert doorbell.pump is not None and doorbell.pump.delivered == []
    assert door.bus_events() == []
    logged = door.item("visits", pk=f"SNAPSHOT#{key}", sk="UPLOAD")
    assert logged is not None and (logged["status"], logged["reason"]) == ("REJECTED", reason)


def test_a_snapshot_without_a_face_starts_nothing(doorbell: Doorbell, door: SmartDoorOnMoto) -> None:
    door.engine.search_finds_no_face()

    result = doorbell.upload_snapshot(snapshot_key(DOOR_ID, time.time()), make_jpeg(face=None))

    assert result["reason"] == "no-face"
    assert door.bus_events() == []
