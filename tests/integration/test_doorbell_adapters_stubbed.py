"""Doorbell adapters against botocore's Stubber: every request is validated against the real API
model (KVS GetDataEndpoint/GetImages/ListFragments, Rekognition stream processors and
SearchFacesByImage errors, Kinesis PutRecords)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from smartdoor.adapters.door_camera import KvsDoorCamera, fragment_holding
from smartdoor.adapters.face_engine import RekognitionFaceEngine
from smartdoor.adapters.record_writer import KinesisRecordWriter, RecordsNotWritten
from smartdoor.adapters.stream_processor import ProcessorBusy, ProcessorOutcome, RekognitionStreamProcessor
from smartdoor.domain.face_search_records import OutgoingRecord
from smartdoor.errors import InvalidImage, TransientError
from tests.fakes.images import make_jpeg

STREAM_ARN = "arn:aws:kinesisvideo:us-east-1:123456789012:stream/SmartDoor-front-door/1700000000000"
IMAGES_ENDPOINT = "https://b-images.kinesisvideo.us-east-1.amazonaws.com"
FRAGMENTS_ENDPOINT = "https://b-fragments.kinesisvideo.us-east-1.amazonaws.com"
NOW = 1_800_000_010.0
JPEG = make_jpeg(64, 48)


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def image(seconds: float, content: bytes | None = JPEG, error: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"TimeStamp": at(seconds)}
    if content is not None:
        entry["ImageContent"] = base64.b64encode(content).decode()
    if error is not None:
        entry["Error"] = error
    return entry


def fragment(number: str, server: float, producer: float, length_ms: int = 2000) -> dict[str, Any]:
    return {
        "FragmentNumber": number,
        "FragmentSizeInBytes": 250_000,
        "ProducerTimestamp": at(producer),
        "ServerTimestamp": at(server),
        "FragmentLengthInMilliseconds": length_ms,
    }


@dataclass
class Kvs:
    control: Any
    control_stub: Stubber
    media: dict[str, Any]
    media_stubs: dict[str, Stubber]
    opened: list[str] = field(default_factory=list)

    def camera(self) -> KvsDoorCamera:
        def media_for(endpoint: str) -> Any:
            self.opened.append(endpoint)
            return self.media[endpoint]

        return KvsDoorCamera(kvs_client=self.control, archived_media_client=media_for)

    def expect_endpoints(self) -> None:
        for api, endpoint in (("GET_IMAGES", IMAGES_ENDPOINT), ("LIST_FRAGMENTS", FRAGMENTS_ENDPOINT)):
            self.control_stub.add_response(
                "get_data_endpoint", {"DataEndpoint": endpoint}, {"StreamARN": STREAM_ARN, "APIName": api}
            )

    def expect_images(self, images: list[dict[str, Any]], start: float, end: float = NOW) -> None:
        self.media_stubs[IMAGES_ENDPOINT].add_response(
            "get_images",
            {"Images": images},
            {
                "StreamARN": STREAM_ARN,
                "ImageSelectorType": "SERVER_TIMESTAMP",
                "StartTimestamp": at(start),
                "EndTimestamp": at(end),
                "SamplingInterval": 1000,
                "Format": "JPEG",
                "FormatConfig": {"JPEGQuality": "90"},
                "WidthPixels": 1280,
                "MaxResults": 4,
            },
        )

    def expect_fragments(self, fragments: list[dict[str, Any]], first: float, last: float) -> None:
        self.media_stubs[FRAGMENTS_ENDPOINT].add_response(
            "list_fragments",
            {"Fragments": fragments},
            {
                "StreamARN": STREAM_ARN,
                "MaxResults": 100,
                "FragmentSelector": {
                    "FragmentSelectorType": "SERVER_TIMESTAMP",
                    "TimestampRange": {"StartTimestamp": at(first - 20), "EndTimestamp": at(last)},
                },
            },
        )


@pytest.fixture
def kvs() -> Iterator[Kvs]:
    control = boto3.client("kinesisvideo", region_name="us-east-1")
    media = {
        endpoint: boto3.client("kinesis-video-archived-media", region_name="us-east-1", endpoint_url=endpoint)
        for endpoint in (IMAGES_ENDPOINT, FRAGMENTS_ENDPOINT)
    }
    stubs = {endpoint: Stubber(client) for endpoint, client in media.items()}
    with Stubber(control) as control_stub:
        for stub in stubs.values():
            stub.activate()
        yield Kvs(control, control_stub, media, stubs)
        control_stub.assert_no_pending_responses()
        for stub in stubs.values():
            stub.assert_no_pending_responses()
            stub.deactivate()


class TestNewestFrame:
    def test_the_newest_image_is_placed_in_its_fragment_as_the_stream_processor_would(self, kvs: Kvs) -> None:
        # GIVEN three images of the last 3 s, the newest in a fragment that started 1.2 s before it
        kvs.expect_endpoints()
        kvs.expect_images([image(NOW - 2.6), image(NOW - 1.6), image(NOW - 0.6)], start=NOW - 3)
        kvs.expect_fragments(
            [
                fragment("91343852333181432392682062607743920146264575226", NOW - 3.8, NOW - 3.85),
                fragment("91343852333181432392682062607743920146264575227", NOW - 1.8, NOW - 1.85),
            ],
            first=NOW - 2.6,
            last=NOW - 0.6,
        )

        frame = kvs.camera().newest_frame(STREAM_ARN, NOW, after=None)

        # THEN the frame names that fragment, its producer/server times and the offset in it
        assert frame is not None
        assert frame.jpeg == JPEG
        assert frame.source.fragment_number.endswith("575227")
        assert frame.source.producer_timestamp == pytest.approx(NOW - 1.85, abs=1e-3)
        assert frame.source.server_timestamp == pytest.approx(NOW - 1.8, abs=1e-3)
        assert frame.source.frame_offset_seconds == pytest.approx(1.2, abs=1e-3)
        assert frame.server_time == pytest.approx(NOW - 0.6, abs=1e-3)
        assert frame.frame_time == pytest.approx(NOW - 1.85 + 1.2, abs=1e-3)

    def test_endpoints_are_looked_up_once_per_stream_and_frames_already_searched_are_skipped(
        self, kvs: Kvs
    ) -> None:
        camera = kvs.camera()
        kvs.expect_endpoints()
        kvs.expect_images([image(NOW - 0.5)], start=NOW - 3)
        kvs.expect_fragments([fragment("7", NOW - 1.0, NOW - 1.0)], first=NOW - 0.5, last=NOW - 0.5)
        first = camera.newest_frame(STREAM_ARN, NOW, after=None)
        assert first is not None

        # WHEN the next sample asks a second later, after the frame it already searched
        kvs.expect_images([image(NOW - 0.5), image(NOW + 0.5)], start=NOW - 0.5 + 0.001, end=NOW + 1)
        kvs.expect_fragments([fragment("8", NOW, NOW)], first=NOW + 0.5, last=NOW + 0.5)
        second = camera.newest_frame(STREAM_ARN, NOW + 1, after=first.server_time)

        assert second is not None and second.source.fragment_number == "8"
        assert kvs.opened == [IMAGES_ENDPOINT, FRAGMENTS_ENDPOINT, IMAGES_ENDPOINT, FRAGMENTS_ENDPOINT]

    def test_no_image_yet_is_none_and_lists_no_fragments(self, kvs: Kvs) -> None:
        kvs.control_stub.add_response(
            "get_data_endpoint",
            {"DataEndpoint": IMAGES_ENDPOINT},
            {"StreamARN": STREAM_ARN, "APIName": "GET_IMAGES"},
        )
        kvs.expect_images([image(NOW - 1, content=None, error="NO_MEDIA")], start=NOW - 3)

        assert kvs.camera().newest_frame(STREAM_ARN, NOW, after=None) is None

    def test_an_image_whose_fragment_is_not_listed_yet_is_skipped_for_an_older_one(self, kvs: Kvs) -> None:
        kvs.expect_endpoints()
        kvs.expect_images([image(NOW - 2.5), image(NOW - 0.2)], start=NOW - 3)
        kvs.expect_fragments(
            [fragment("5", NOW - 3.0, NOW - 3.0, length_ms=1000)], first=NOW - 2.5, last=NOW - 0.2
        )

        frame = kvs.camera().newest_frame(STREAM_ARN, NOW, after=None)

        # the fragment (1 s long) holds the older image only
        assert frame is not None and frame.server_time == pytest.approx(NOW - 2.5, abs=1e-3)

    def test_nothing_newer_than_the_last_searched_frame_asks_kvs_nothing(self, kvs: Kvs) -> None:
        assert kvs.camera().newest_frame(STREAM_ARN, NOW, after=NOW) is None

    def test_kvs_throttling_is_transient(self, kvs: Kvs) -> None:
        kvs.control_stub.add_response(
            "get_data_endpoint",
            {"DataEndpoint": IMAGES_ENDPOINT},
            {"StreamARN": STREAM_ARN, "APIName": "GET_IMAGES"},
        )
        kvs.media_stubs[IMAGES_ENDPOINT].add_client_error(
            "get_images", service_error_code="ClientLimitExceededException", http_status_code=400
        )

        with pytest.raises(TransientError):
            kvs.camera().newest_frame(STREAM_ARN, NOW, after=None)

    def test_fragment_choice_prefers_the_latest_start_not_after_the_image(self) -> None:
        fragments = [fragment("1", 10.0, 9.0), fragment("2", 12.0, 11.0), fragment("3", 14.0, 13.0)]
        chosen = fragment_holding(fragments, 13.5)
        assert chosen is not None and chosen["FragmentNumber"] == "2"
        assert fragment_holding(fragments, 9.0) is None


@pytest.fixture
def rekognition() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("rekognition", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


class TestStreamProcessor:
    NAME = "SmartDoor-front-door-processor"

    def test_start_sends_no_selectors_to_a_face_search_processor(
        self, rekognition: tuple[Any, Stubber]
    ) -> None:
        client, stubber = rekognition
        stubber.add_response("start_stream_processor", {"SessionId": "s-1"}, {"Name": self.NAME})

        assert RekognitionStreamProcessor(self.NAME, client).start() is ProcessorOutcome.STARTED

    @pytest.mark.parametrize("status", ["RUNNING", "STARTING"])
    def test_starting_a_running_processor_is_fine(
        self, rekognition: tuple[Any, Stubber], status: str
    ) -> None:
        client, stubber = rekognition
        stubber.add_client_error(
            "start_stream_processor", "ResourceInUseException", expected_params={"Name": self.NAME}
        )
        stubber.add_response("describe_stream_processor", {"Status": status}, {"Name": self.NAME})

        assert RekognitionStreamProcessor(self.NAME, client).start() is ProcessorOutcome.ALREADY_RUNNING

    def test_a_processor_still_stopping_is_busy_so_the_workflow_retries(
        self, rekognition: tuple[Any, Stubber]
    ) -> None:
        client, stubber = rekognition
        stubber.add_client_error("start_stream_processor", "ResourceInUseException")
        stubber.add_response("describe_stream_processor", {"Status": "STOPPING"}, {"Name": self.NAME})

        with pytest.raises(ProcessorBusy):
            RekognitionStreamProcessor(self.NAME, client).start()

    def test_stop_and_stopping_a_stopped_processor(self, rekognition: tuple[Any, Stubber]) -> None:
        client, stubber = rekognition
        stubber.add_response("stop_stream_processor", {}, {"Name": self.NAME})
        stubber.add_client_error("stop_stream_processor", "ResourceInUseException")
        stubber.add_response("describe_stream_processor", {"Status": "STOPPED"}, {"Name": self.NAME})
        processor = RekognitionStreamProcessor(self.NAME, client)

        assert processor.stop() is ProcessorOutcome.STOPPED
        assert processor.stop() is ProcessorOutcome.ALREADY_STOPPED

    def test_throttling_is_transient(self, rekognition: tuple[Any, Stubber]) -> None:
        client, stubber = rekognition
        stubber.add_client_error("start_stream_processor", "ThrottlingException", http_status_code=400)

        with pytest.raises(TransientError):
            RekognitionStreamProcessor(self.NAME, client).start()


class TestUnreadableImages:
    @pytest.mark.parametrize("code", ["InvalidImageFormatException", "ImageTooLargeException"])
    def test_an_image_rekognition_cannot_read_is_invalid_not_a_crash(
        self, rekognition: tuple[Any, Stubber], code: str
    ) -> None:
        client, stubber = rekognition
        stubber.add_client_error("search_faces_by_image", code, http_status_code=400)

        with pytest.raises(InvalidImage):
            RekognitionFaceEngine("faces", client).search(b"\xff\xd8\xff broken", 90.0, 10)


class TestRecordWriterRequest:
    def test_put_records_carries_compact_json_and_the_door_as_partition_key(self) -> None:
        client = boto3.client("kinesis", region_name="us-east-1")
        record = OutgoingRecord(
            partition_key="front-door", data={"doorId": "front-door", "FaceSearchResponse": []}
        )
        with Stubber(client) as stubber:
            stubber.add_response(
                "put_records",
                {
                    "Records": [{"SequenceNumber": "1", "ShardId": "shardId-000000000000"}],
                },
                {
                    "StreamName": "faces",
                    "Records": [
                        {
                            "Data": b'{"doorId":"front-door","FaceSearchResponse":[]}',
                            "PartitionKey": "front-door",
                        }
                    ],
                },
            )
            assert KinesisRecordWriter("faces", kinesis_client=client).write([record]) == ["1"]

    def test_refused_entries_are_sent_again_alone_and_in_order(self) -> None:
        client = boto3.client("kinesis", region_name="us-east-1")
        records = [OutgoingRecord("front-door", {"n": n}) for n in range(3)]
        refused = {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "Rate exceeded"}
        sleeps: list[float] = []
        with Stubber(client) as stubber:
            stubber.add_response(
                "put_records",
                {
                    "FailedRecordCount": 2,
                    "Records": [refused, {"SequenceNumber": "11", "ShardId": "s"}, refused],
                },
                {"StreamName": "faces", "Records": ANY},
            )
            stubber.add_response(
                "put_records",
                {
                    "Records": [
                        {"SequenceNumber": "12", "ShardId": "s"},
                        {"SequenceNumber": "13", "ShardId": "s"},
                    ],
                },
                {
                    "StreamName": "faces",
                    "Records": [
                        {"Data": b'{"n":0}', "PartitionKey": "front-door"},
                        {"Data": b'{"n":2}', "PartitionKey": "front-door"},
                    ],
                },
            )
            writer = KinesisRecordWriter("faces", kinesis_client=client, sleep=sleeps.append)
            assert writer.write(records) == ["12", "11", "13"]
        assert sleeps == [0.1]

    def test_entries_still_refused_after_every_attempt_raise_without_losing_them_silently(self) -> None:
        client = boto3.client("kinesis", region_name="us-east-1")
        refused = {"ErrorCode": "InternalFailure", "ErrorMessage": "Internal service failure."}
        with Stubber(client) as stubber:
            for _ in range(3):
                stubber.add_response("put_records", {"FailedRecordCount": 1, "Records": [refused]})
            writer = KinesisRecordWriter("faces", kinesis_client=client, max_attempts=3, sleep=lambda _: None)
            with pytest.raises(RecordsNotWritten, match="InternalFailure"):
                writer.write([OutgoingRecord("front-door", {"n": 1})])

    def test_a_throttled_call_is_transient(self) -> None:
        client = boto3.client("kinesis", region_name="us-east-1")
        with Stubber(client) as stubber:
            stubber.add_client_error(
                "put_records", "ProvisionedThroughputExceededException", http_status_code=400
            )
            with pytest.raises(TransientError):
                KinesisRecordWriter("faces", kinesis_client=client).write([OutgoingRecord("d", {"n": 1})])

    def test_a_record_over_one_megabyte_is_refused_before_any_call(self) -> None:
        writer = KinesisRecordWriter("faces", kinesis_client=object())
        with pytest.raises(ValueError, match="1 MB"):
            writer.write([OutgoingRecord("d", {"blob": "x" * (1024 * 1024)})])


def test_a_record_s_payload_is_the_json_the_match_function_decodes() -> None:
    record = OutgoingRecord("front-door", {"doorId": "front-door", "FaceSearchResponse": []})
    assert json.loads(record.encoded()) == record.data
