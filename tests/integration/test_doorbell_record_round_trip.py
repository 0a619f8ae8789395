"""Round trip on moto: doorbell-session and snapshot records written to Kinesis, read back with
GetRecords exactly as the event source mapping delivers them, and fed to the real stream_match
handler: one event per visit, with the frame the visitor workflows need."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from smartdoor.adapters.record_writer import KinesisRecordWriter
from smartdoor.adapters.session_store import DynamoFrameBudget, DynamoSessionStore
from smartdoor.adapters.visit_store import DynamoVisitStore
from smartdoor.domain.doorbell import SessionPolicy, StopReason
from smartdoor.domain.snapshots import snapshot_key
from smartdoor.observability import logger
from smartdoor.services.doorbell_session import SessionWorld, ring, sample
from smartdoor.services.snapshot_search import SnapshotWorld, process_snapshot
from stream_match.handler import handler as stream_match
from tests.fakes import FakeFaceEngine, make_jpeg
from tests.fakes.doorbell import FakeClock, FakeDoorCamera, InMemorySnapshots, RecordingOwnerEmail
from tests.fixtures.face_search import DOOR_ID, STREAM_ARN, LambdaContext
from tests.integration.test_stream_match_handler import TABLE, Cloud, cloud

__all__ = ["cloud"]  # the fixture, imported for this module's tests

STREAM = "smartdoor-face-search"


class FaceSearchStream:
    """The Kinesis data stream on moto, and a reader that turns new records into Lambda events."""

    def __init__(self) -> None:
        self.kinesis = boto3.client("kinesis")
        self.kinesis.create_stream(StreamName=STREAM, ShardCount=1)
        shard = self.kinesis.describe_stream(StreamName=STREAM)["StreamDescription"]["Shards"][0]["ShardId"]
        self._iterator = self.kinesis.get_shard_iterator(
            StreamName=STREAM, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        self.read: list[dict[str, Any]] = []

    def new_records(self) -> list[dict[str, Any]]:
        response = self.kinesis.get_records(ShardIterator=self._iterator, Limit=1000)
        self._iterator = response["NextShardIterator"]
        self.read.extend(response["Records"])
        return list(response["Records"])

    def lambda_event(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        """The event Lambda's Kinesis event source mapping builds from these records."""
        return {
            "Records": [
                {
                    "kinesis": {
                        "kinesisSchemaVersion": "1.0",
                        "partitionKey": record["PartitionKey"],
                        "sequenceNumber": record["SequenceNumber"],
                        "data": base64.b64encode(record["Data"]).decode(),
                        "approximateArrivalTimestamp": record["ApproximateArrivalTimestamp"].timestamp(),
                    },
                    "eventSource": "aws:kinesis",
                    "eventVersion": "1.0",
                    "eventID": f"shardId-000000000000:{record['SequenceNumber']}",
                    "eventName": "aws:kinesis:record",
                    "invokeIdentityArn": "arn:aws:iam::123456789012:role/stream-match",
                    "awsRegion": "us-east-1",
                    "eventSourceARN": f"arn:aws:kinesis:us-east-1:123456789012:stream/{STREAM}",
                }
                for record in records
            ]
        }

    def deliver(self) -> dict[str, Any]:
        """Hand whatever is new to the real match function (as the event source mapping would)."""
        records = self.new_records()
        if not records:
            return {"batchItemFailures": []}
        return dict(stream_match(self.lambda_event(records), LambdaContext()))


@pytest.fixture
def stream(cloud: Cloud) -> Iterator[FaceSearchStream]:
    yield FaceSearchStream()


def run_session(engine: FakeFaceEngine, stream: FaceSearchStream, policy: SessionPolicy) -> list[Any]:
    """A whole session in images mode on moto; the match function reads after every sample."""
    clock = FakeClock(start=1_763_700_000.0)
    world = SessionWorld(
        sessions=DynamoSessionStore(TABLE),
        budget=DynamoFrameBudget(TABLE),
        visits=DynamoVisitStore(TABLE),
        owner=RecordingOwnerEmail(),
        camera=FakeDoorCamera(),
        engine=engine,
        writer=KinesisRecordWriter(STREAM),
    )
    session_id = ring(
        DOOR_ID, "DoorbellPressed", clock(), sessions=world.sessions, policy=policy
    ).session.session_id
    outcomes = []
    for _ in range(50):
        outcome = sample(
            DOOR_ID, session_id, clock, stream_arn=STREAM_ARN, world=world, policy=policy, log=logger
        )
        outcomes.append(outcome)
        assert stream.deliver() == {"batchItemFailures": []}
        if not outcome.keep_going:
            return outcomes
        clock.advance(policy.sampling_interval_seconds)
    raise AssertionError("the session never stopped")


def test_a_stranger_s_session_gives_exactly_one_unknown_face_detected(
    cloud: Cloud, stream: FaceSearchStream
) -> None:
    # GIVEN a stranger in front of the camera for the whole session
    outcomes = run_session(FakeFaceEngine(), stream, SessionPolicy(sampling_interval_seconds=1))

    # THEN the records in Kinesis are keyed by door and carry the frame's KVS location
    assert {record["PartitionKey"] for record in stream.read} == {DOOR_ID}
    # AND the match function turned them into exactly one event for the visit
    (event,) = cloud.bus_events()
    assert event["detail-type"] == "UnknownFaceDetected"
    detail = event["detail"]
    assert detail["doorId"] == DOOR_ID
    assert detail["frame"]["source"] == "kvs"
    assert detail["frame"]["streamArn"] == STREAM_ARN
    assert detail["frame"]["fragmentNumber"]
    assert detail["boundingBox"] == {"Width": 0.2, "Height": 0.3, "Left": 0.4, "Top": 0.3}
    # AND the session noticed the decision and stopped early
    assert outcomes[-1].reason is StopReason.VISIT_DECIDED
    assert len(stream.read) == 2


def test_a_known_visitor_s_session_gives_exactly_one_known_face_detected(
    cloud: Cloud, stream: FaceSearchStream
) -> None:
    engine = FakeFaceEngine(known={"vis-anna": ["face-1", "face-2"]}).will_match("vis-anna", times=20)

    run_session(engine, stream, SessionPolicy(sampling_interval_seconds=1))

    (event,) = cloud.bus_events()
    assert event["detail-type"] == "KnownFaceDetected"
    assert event["detail"]["visitorId"] == "vis-anna"
    assert event["detail"]["faceId"] in {"face-1", "face-2"}


def test_frames_without_faces_reach_the_match_function_and_decide_nothing(
    cloud: Cloud, stream: FaceSearchStream
) -> None:
    engine = FakeFaceEngine().search_finds_no_face(times=20)

    outcomes = run_session(engine, stream, SessionPolicy(max_empty_samples=3))

    assert len(stream.read) == 3
    assert outcomes[-1].reason is StopReason.NO_FACE
    assert cloud.bus_events() == []


def test_one_snapshot_gives_one_unknown_face_detected_that_points_at_the_s3_image(
    cloud: Cloud, stream: FaceSearchStream
) -> None:
    # GIVEN an edge device's snapshot for the door
    bucket = "smartdoor-photos-test"
    key = snapshot_key(DOOR_ID, 1_763_700_100.5)
    snapshots = InMemorySnapshots(objects={(bucket, key): make_jpeg()})
    world = SnapshotWorld(
        objects=snapshots,
        log=snapshots,
        engine=FakeFaceEngine(),
        writer=KinesisRecordWriter(STREAM),
        budget=DynamoFrameBudget(TABLE),
        owner=RecordingOwnerEmail(),
    )

    # WHEN it is processed and the match function reads the stream
    process_snapshot(
        bucket,
        key,
        FakeClock(1_763_700_101.0),
        served_doors={DOOR_ID},
        world=world,
        policy=SessionPolicy(),
        log=logger,
    )
    assert stream.deliver() == {"batchItemFailures": []}

    # THEN that one record decided the visit, and the event names the S3 image
    (event,) = cloud.bus_events()
    assert event["detail-type"] == "UnknownFaceDetected"
    assert event["detail"]["frame"] == {
        "source": "s3",
        "frameTime": 1_763_700_100.5,
        "s3Bucket": bucket,
        "s3Key": key,
    }
