"""extract_frame handler: moto S3 for photos, FakeVideoFrames for KVS."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from msgspec import ValidationError
from PIL import Image

from extract_frame.handler import handler
from smartdoor.adapters.photo_store import S3PhotoStore
from smartdoor.errors import InvalidImage, MediaNotAvailable, TooManyPixels, TransientError
from tests.fakes import FakeLambdaContext, FakeVideoFrames, make_jpeg
from tests.fakes.images import FACE_COLOUR, huge_jpeg, huge_png, open_image

BUCKET = "smartdoor-photos"
STREAM_ARN = "arn:aws:kinesisvideo:us-east-1:123456789012:stream/front-door/1700000000000"
FRAME_TIME = 1_800_000_000.5
BOX = {"Width": 0.2, "Height": 0.3, "Left": 0.4, "Top": 0.3}


@pytest.fixture
def s3(aws: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("PHOTOS_BUCKET", BUCKET)
    monkeypatch.setenv("VIDEO_STREAM_ARN", STREAM_ARN)
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    return client


def kvs_event(visit_id: str = "v-1", **frame: Any) -> dict[str, Any]:
    return {
        "visitId": visit_id,
        "doorId": "front-door",
        "frame": {"source": "kvs", "frameTime": FRAME_TIME, "streamArn": STREAM_ARN, **frame},
        "boundingBox": BOX,
    }


def snapshot_event(key: str = "snapshots/front-door/1.jpg", bucket: str | None = BUCKET) -> dict[str, Any]:
    frame: dict[str, Any] = {"source": "s3", "frameTime": FRAME_TIME, "s3Key": key}
    if bucket:
        frame["s3Bucket"] = bucket
    return {"visitId": "v-2", "doorId": "front-door", "frame": frame, "boundingBox": BOX}


def stored(s3: Any) -> dict[str, bytes]:
    objects = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in objects}


def test_stores_the_kvs_frame_and_the_face_crop(s3: Any) -> None:
    # GIVEN KVS has the frame of the face event
    jpeg = make_jpeg(1280, 720)
    frames = FakeVideoFrames(jpeg=jpeg)
    # WHEN the task runs
    result = handler(kvs_event(), FakeLambdaContext(), frames=frames)
    # THEN it answers where the photos are, as the workflow expects
    assert result == {"bucket": BUCKET, "frameKey": "visits/v-1/frame.jpg", "faceKey": "visits/v-1/face.jpg"}
    # AND the frame is KVS's JPEG as is, the crop is the face plus margin
    photos = stored(s3)
    assert photos["visits/v-1/frame.jpg"] == jpeg
    face = open_image(photos["visits/v-1/face.jpg"])
    # x: 409.6 -> 870.4 rounds to 410 -> 870; y: 129.6 -> 518.4 rounds to 130 -> 518
    assert face.size == (460, 388)
    centre = face.getpixel((face.width // 2, face.height // 2))
    assert isinstance(centre, tuple)
    assert all(abs(a - b) < 12 for a, b in zip(centre, FACE_COLOUR, strict=True))
    # AND KVS was asked for the event's stream at the frame's time
    assert frames.calls == [(STREAM_ARN, FRAME_TIME)]


def test_uses_the_configured_stream_when_the_event_names_none(s3: Any) -> None:
    frames = FakeVideoFrames()
    event = kvs_event()
    del event["frame"]["streamArn"]
    handler(event, FakeLambdaContext(), frames=frames)
    assert frames.calls == [(STREAM_ARN, FRAME_TIME)]


def test_media_not_yet_in_kvs_fails_retryably_then_succeeds(s3: Any) -> None:
    # GIVEN KVS does not have the frame on the first two tries
    frames = FakeVideoFrames(missing_times=2)
    # WHEN the workflow tries three times
    for _ in range(2):
        with pytest.raises(MediaNotAvailable):
            handler(kvs_event(), FakeLambdaContext(), frames=frames)
        # THEN nothing half-done is stored while media is missing
        assert stored(s3) == {}
    result = handler(kvs_event(), FakeLambdaContext(), frames=frames)
    # AND the third try stores both photos
    assert sorted(stored(s3)) == [result["faceKey"], result["frameKey"]]


def test_kvs_throttling_surfaces_as_transient(s3: Any) -> None:
    with pytest.raises(TransientError):
        handler(kvs_event(), FakeLambdaContext(), frames=FakeVideoFrames(throttled_times=1))
    assert stored(s3) == {}


def test_a_snapshot_upload_is_normalised_and_stored(s3: Any) -> None:
    # GIVEN an edge device uploaded a large snapshot carrying camera metadata
    exif = Image.Exif()
    exif[0x010F] = "DoorCam Inc."
    s3.put_object(
        Bucket=BUCKET, Key="snapshots/front-door/1.jpg", Body=make_jpeg(2560, 1440, exif=exif.tobytes())
    )
    frames = FakeVideoFrames()
    # WHEN the task runs on the snapshot's event
    result = handler(snapshot_event(), FakeLambdaContext(), frames=frames)
    # THEN the stored frame is a metadata-free JPEG at most 1280 wide, and KVS was not asked
    frame = open_image(stored(s3)[result["frameKey"]])
    assert frame.size == (1280, 720)
    assert dict(frame.getexif()) == {}
    assert frames.calls == []
    assert open_image(stored(s3)[result["faceKey"]]).size == (460, 388)


def test_a_snapshot_without_bucket_is_read_from_the_photos_bucket(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="snapshots/front-door/2.jpg", Body=make_jpeg())
    result = handler(snapshot_event("snapshots/front-door/2.jpg", bucket=None), FakeLambdaContext())
    assert result["frameKey"] == "visits/v-2/frame.jpg"


def test_a_snapshot_that_is_not_a_picture_is_invalid_and_stores_nothing(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="snapshots/front-door/1.jpg", Body=b"<html>not a photo</html>")
    with pytest.raises(InvalidImage):
        handler(snapshot_event(), FakeLambdaContext())
    assert list(stored(s3)) == ["snapshots/front-door/1.jpg"]


@pytest.mark.parametrize(
    "picture",
    [huge_png(20_000, 20_000), huge_jpeg(15_000, 15_000), huge_png(10_000, 10_000)],
    ids=["400 MP PNG (Pillow raises)", "225 MP JPEG (Pillow raises)", "100 MP PNG (Pillow warns)"],
)
def test_a_snapshot_past_the_pixel_limit_is_invalid_and_stores_nothing(s3: Any, picture: bytes) -> None:
    s3.put_object(Bucket=BUCKET, Key="snapshots/front-door/1.jpg", Body=picture)
    # The workflow sees InvalidImage's kind of error (not retryable), named for its reason.
    with pytest.raises(TooManyPixels, match="too many pixels") as refused:
        handler(snapshot_event(), FakeLambdaContext())
    assert isinstance(refused.value, InvalidImage)
    assert list(stored(s3)) == ["snapshots/front-door/1.jpg"]


def test_a_kvs_frame_past_the_pixel_limit_is_invalid_and_stores_nothing(s3: Any) -> None:
    with pytest.raises(TooManyPixels):
        handler(kvs_event(), FakeLambdaContext(), frames=FakeVideoFrames(jpeg=huge_jpeg()))
    assert stored(s3) == {}


def test_a_snapshot_event_without_key_is_refused(s3: Any) -> None:
    event = snapshot_event()
    del event["frame"]["s3Key"]
    with pytest.raises(ValueError, match="s3Key"):
        handler(event, FakeLambdaContext(), frames=FakeVideoFrames())
    assert stored(s3) == {}


def test_a_face_box_outside_the_frame_is_invalid_and_stores_nothing(s3: Any) -> None:
    event = kvs_event()
    event["boundingBox"] = {"Width": 0.1, "Height": 0.1, "Left": 1.2, "Top": 0.5}
    with pytest.raises(InvalidImage):
        handler(event, FakeLambdaContext(), frames=FakeVideoFrames())
    assert stored(s3) == {}


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param({"visitId": None}, id="no visitId"),
        pytest.param(
            {"boundingBox": {"Width": 2, "Height": 0.1, "Left": 0, "Top": 0}}, id="box wider than frame"
        ),
        pytest.param({"frame": {"source": "rtsp", "frameTime": FRAME_TIME}}, id="unknown frame source"),
    ],
)
def test_malformed_input_is_refused_before_any_work(s3: Any, broken: dict[str, Any]) -> None:
    frames = FakeVideoFrames()
    with pytest.raises(ValidationError):
        handler({**kvs_event(), **broken}, FakeLambdaContext(), frames=frames)
    assert frames.calls == []
    assert stored(s3) == {}


def test_a_visit_id_unfit_for_a_key_is_refused(s3: Any) -> None:
    frames = FakeVideoFrames()
    with pytest.raises(ValueError, match="visitId"):
        handler(kvs_event(visit_id="../other"), FakeLambdaContext(), frames=frames)
    assert frames.calls == []
    assert stored(s3) == {}


def test_a_kvs_frame_needs_a_stream(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VIDEO_STREAM_ARN")
    event = kvs_event()
    del event["frame"]["streamArn"]
    with pytest.raises(ValueError, match="streamArn"):
        handler(event, FakeLambdaContext(), frames=FakeVideoFrames())


def test_a_retried_task_overwrites_the_same_photos(s3: Any) -> None:
    handler(kvs_event(), FakeLambdaContext(), frames=FakeVideoFrames(jpeg=make_jpeg(640, 480)))
    newer = make_jpeg(800, 600)
    handler(kvs_event(), FakeLambdaContext(), frames=FakeVideoFrames(jpeg=newer))
    photos = stored(s3)
    assert sorted(photos) == ["visits/v-1/face.jpg", "visits/v-1/frame.jpg"]
    assert photos["visits/v-1/frame.jpg"] == newer


def test_an_injected_photo_store_is_used(s3: Any) -> None:
    s3.create_bucket(Bucket="other-photos")
    result = handler(
        kvs_event(), FakeLambdaContext(), frames=FakeVideoFrames(), photos=S3PhotoStore("other-photos")
    )
    assert result["bucket"] == "other-photos"
    assert stored(s3) == {}
