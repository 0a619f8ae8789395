"""KvsVideoFrames against botocore's Stubber: GetDataEndpoint then GetImages, requests validated
against the real KVS API models."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from smartdoor.adapters.video_frames import KvsVideoFrames, closest_image
from smartdoor.errors import MediaNotAvailable, TransientError
from tests.fakes.images import make_jpeg

STREAM_ARN = "arn:aws:kinesisvideo:us-east-1:123456789012:stream/front-door/1700000000000"
ENDPOINT = "https://b-1234abcd.kinesisvideo.us-east-1.amazonaws.com"
FRAME_AT = datetime(2027, 1, 15, 8, 0, 0, 500000, tzinfo=UTC)
FRAME_TIME = FRAME_AT.timestamp()


@dataclass
class Kvs:
    control: Any
    control_stub: Stubber
    media: Any
    media_stub: Stubber
    endpoints: list[str]

    def frames(self, **kwargs: Any) -> KvsVideoFrames:
        def media_for(endpoint: str) -> Any:
            self.endpoints.append(endpoint)
            return self.media

        return KvsVideoFrames(kvs_client=self.control, archived_media_client=media_for, **kwargs)

    def expect_endpoint(self) -> None:
        self.control_stub.add_response(
            "get_data_endpoint",
            {"DataEndpoint": ENDPOINT},
            {"StreamARN": STREAM_ARN, "APIName": "GET_IMAGES"},
        )

    def expect_images(self, images: list[dict[str, Any]], width: int = 1280, quality: str = "90") -> None:
        self.media_stub.add_response(
            "get_images",
            {"Images": images},
            {
                "StreamARN": STREAM_ARN,
                "ImageSelectorType": "PRODUCER_TIMESTAMP",
                "StartTimestamp": datetime(2027, 1, 15, 8, 0, 0, tzinfo=UTC),
                "EndTimestamp": datetime(2027, 1, 15, 8, 0, 1, tzinfo=UTC),
                "SamplingInterval": 200,
                "Format": "JPEG",
                "FormatConfig": {"JPEGQuality": quality},
                "WidthPixels": width,
                "MaxResults": 10,
            },
        )


@pytest.fixture
def kvs() -> Iterator[Kvs]:
    control = boto3.client("kinesisvideo", region_name="us-east-1")
    media = boto3.client("kinesis-video-archived-media", region_name="us-east-1", endpoint_url=ENDPOINT)
    with Stubber(control) as control_stub, Stubber(media) as media_stub:
        yield Kvs(control, control_stub, media, media_stub, [])
        control_stub.assert_no_pending_responses()
        media_stub.assert_no_pending_responses()


def image(offset_ms: int, content: bytes | None = None, error: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"TimeStamp": FRAME_AT + timedelta(milliseconds=offset_ms)}
    if content is not None:
        entry["ImageContent"] = base64.b64encode(content).decode()
    if error is not None:
        entry["Error"] = error
    return entry


def test_returns_the_image_closest_to_the_frame_time(kvs: Kvs) -> None:
    # GIVEN KVS has images 400 ms before, 100 ms after and 300 ms after the frame
    before, closest, after = make_jpeg(face=None), make_jpeg(), make_jpeg(320, 240)
    kvs.expect_endpoint()
    kvs.expect_images([image(-400, before), image(100, closest), image(300, after)])
    # WHEN the frame is fetched
    frame = kvs.frames().get_frame(STREAM_ARN, FRAME_TIME)
    # THEN the decoded JPEG nearest in time comes back, read from the stream's GET_IMAGES endpoint
    assert frame == closest
    assert kvs.endpoints == [ENDPOINT]


def test_the_data_endpoint_is_looked_up_once_per_stream(kvs: Kvs) -> None:
    jpeg = make_jpeg()
    kvs.expect_endpoint()  # only one GetDataEndpoint is queued: a second lookup fails the Stubber
    kvs.expect_images([image(0, jpeg)])
    kvs.expect_images([image(0, jpeg)])
    frames = kvs.frames()
    assert frames.get_frame(STREAM_ARN, FRAME_TIME) == jpeg
    assert frames.get_frame(STREAM_ARN, FRAME_TIME) == jpeg


def test_width_and_quality_are_configurable(kvs: Kvs) -> None:
    kvs.expect_endpoint()
    kvs.expect_images([image(0, make_jpeg())], width=640, quality="75")
    kvs.frames(width=640, quality=75).get_frame(STREAM_ARN, FRAME_TIME)


def test_images_with_errors_are_skipped(kvs: Kvs) -> None:
    # GIVEN the nearest timestamp has no media but a later one does
    usable = make_jpeg()
    kvs.expect_endpoint()
    kvs.expect_images([image(0, error="NO_MEDIA"), image(400, usable)])
    assert kvs.frames().get_frame(STREAM_ARN, FRAME_TIME) == usable


@pytest.mark.parametrize(
    "images",
    [
        pytest.param([], id="no images yet"),
        pytest.param([image(-200, error="NO_MEDIA"), image(0, error="NO_MEDIA")], id="no media"),
        pytest.param([image(0, error="MEDIA_ERROR")], id="media error"),
    ],
)
def test_no_usable_image_is_media_not_available(kvs: Kvs, images: list[dict[str, Any]]) -> None:
    kvs.expect_endpoint()
    kvs.expect_images(images)
    with pytest.raises(MediaNotAvailable):
        kvs.frames().get_frame(STREAM_ARN, FRAME_TIME)


def test_kvs_throttling_is_transient(kvs: Kvs) -> None:
    kvs.expect_endpoint()
    kvs.media_stub.add_client_error(
        "get_images", service_error_code="ClientLimitExceededException", http_status_code=400
    )
    with pytest.raises(TransientError):
        kvs.frames().get_frame(STREAM_ARN, FRAME_TIME)


def test_endpoint_lookup_throttling_is_transient(kvs: Kvs) -> None:
    kvs.control_stub.add_client_error(
        "get_data_endpoint", service_error_code="ClientLimitExceededException", http_status_code=400
    )
    with pytest.raises(TransientError):
        kvs.frames().get_frame(STREAM_ARN, FRAME_TIME)


def test_an_unknown_stream_is_not_retried_as_missing_media(kvs: Kvs) -> None:
    kvs.control_stub.add_client_error(
        "get_data_endpoint", service_error_code="ResourceNotFoundException", http_status_code=404
    )
    with pytest.raises(kvs.control.exceptions.ResourceNotFoundException):
        kvs.frames().get_frame(STREAM_ARN, FRAME_TIME)


def test_closest_image_ignores_entries_without_content_or_time() -> None:
    assert closest_image([{"TimeStamp": FRAME_AT}, {"ImageContent": "aGk="}], FRAME_TIME) is None


@pytest.mark.parametrize(("width", "quality"), [(0, 90), (4000, 90), (1280, 0), (1280, 101)])
def test_out_of_range_settings_are_refused(width: int, quality: int) -> None:
    with pytest.raises(ValueError):
        KvsVideoFrames(kvs_client=object(), width=width, quality=quality)
