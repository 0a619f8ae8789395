"""process_snapshot on moto: an S3 "Object Created" EventBridge event in; a face-search record in
Kinesis (or a recorded rejection and nothing else) out. Rekognition is the fake engine."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from process_snapshot.handler import ForeignBucket, handler
from smartdoor.adapters.snapshot_store import DynamoSnapshotLog
from smartdoor.domain.doorbell import budget_day
from smartdoor.domain.snapshots import MAX_SNAPSHOT_BYTES, snapshot_key
from smartdoor.settings import reset_settings_cache
from tests.fakes import FakeFaceEngine, FakeLambdaContext, make_jpeg
from tests.fixtures.counts import logged_counts
from tests.integration.test_stream_match_visit_store import TABLE, create_visits_table

BUCKET = "smartdoor-photos-test"
STREAM = "smartdoor-face-search"
DOOR = "front-door"
ISSUED_AT = 1_763_700_000.25


@dataclass
class Cloud:
    s3: Any
    kinesis: Any
    table: Any
    inbox: str
    engine: FakeFaceEngine

    def upload(self, body: bytes, door: str = DOOR, nonce: str = "0123456789abcdef") -> str:
        key = snapshot_key(door, ISSUED_AT, nonce)
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=body, ContentType="image/jpeg")
        return key

    def records(self) -> list[dict[str, Any]]:
        shard = self.kinesis.describe_stream(StreamName=STREAM)["StreamDescription"]["Shards"][0]["ShardId"]
        iterator = self.kinesis.get_shard_iterator(
            StreamName=STREAM, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        return [json.loads(r["Data"]) for r in self.kinesis.get_records(ShardIterator=iterator)["Records"]]

    def emails(self) -> list[dict[str, Any]]:
        sqs = boto3.client("sqs")
        messages = sqs.receive_message(QueueUrl=self.inbox, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]

    def process(self, key: str, bucket: str = BUCKET, **overrides: Any) -> dict[str, Any]:
        overrides.setdefault("engine", self.engine)
        overrides.setdefault("clock", lambda: ISSUED_AT + 2)
        return dict(handler(object_created(bucket, key), FakeLambdaContext(), **overrides))


def object_created(bucket: str, key: str, size: int = 1234) -> dict[str, Any]:
    """S3's "Object Created" event as EventBridge delivers it."""
    return {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2025-11-21T04:40:02Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {
                "key": key,
                "size": size,
                "etag": "b1946ac92492d2347c6235b4d2611184",
                "sequencer": "0062E99A88DC407460",
            },
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "123456789012",
            "source-ip-address": "1.2.3.4",
            "reason": "PostObject",
        },
    }


@pytest.fixture
def cloud(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cloud]:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    kinesis = boto3.client("kinesis")
    kinesis.create_stream(StreamName=STREAM, ShardCount=1)
    table = create_visits_table()
    sns = boto3.client("sns")
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    sqs = boto3.client("sqs")
    inbox = sqs.create_queue(QueueName="owner-inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)
    environment = {
        "VISITS_TABLE": TABLE,
        "DOOR_ID": DOOR,
        "PHOTOS_BUCKET": BUCKET,
        "FACE_SEARCH_STREAM_NAME": STREAM,
        "COLLECTION_ID": "SmartDoor-front-door",
        "ALERTS_TOPIC_ARN": topic,
        "MAX_FRAMES_PER_DAY": "2",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    reset_settings_cache()
    yield Cloud(s3=s3, kinesis=kinesis, table=table, inbox=inbox, engine=FakeFaceEngine())
    reset_settings_cache()


def test_a_good_snapshot_becomes_one_record_with_its_s3_key(
    cloud: Cloud, caplog: pytest.LogCaptureFixture
) -> None:
    key = cloud.upload(make_jpeg())

    result = cloud.process(key)

    assert result == {"s3Key": key, "status": "SEARCHED", "doorId": DOOR, "size": result["size"]}
    (record,) = cloud.records()
    assert record["doorId"] == DOOR and record["singleImage"] is True
    assert (record["s3Bucket"], record["s3Key"], record["frameTime"]) == (BUCKET, key, ISSUED_AT)
    assert cloud.engine.calls_to("search")[0].image_key == key
    logged = DynamoSnapshotLog(TABLE).get(key)
    assert logged is not None and logged["status"] == "SEARCHED"
    assert logged_counts(caplog.records) == {"SnapshotsSearched": 1}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"GIF89a not a jpeg at all", "not-jpeg"),
        (make_jpeg(fmt="PNG"), "not-jpeg"),
        (b"\xff\xd8\xff" + b"\0" * MAX_SNAPSHOT_BYTES, "too-large"),
    ],
    ids=["gif bytes", "png", "over 5 MB"],
)
def test_a_bad_upload_is_recorded_logged_and_counted_and_nothing_downstream_starts(
    cloud: Cloud,
    caplog: pytest.LogCaptureFixture,
    body: bytes,
    reason: str,
) -> None:
    key = cloud.upload(body)

    result = cloud.process(key)

    assert result["status"] == "REJECTED" and result["reason"] == reason
    assert cloud.records() == []
    assert cloud.engine.calls == []
    logged = DynamoSnapshotLog(TABLE).get(key)
    assert logged is not None and (logged["status"], logged["reason"]) == ("REJECTED", reason)
    (warning,) = [r for r in caplog.records if r.getMessage() == "Snapshot rejected"]
    assert warning.__dict__["reason"] == reason and warning.__dict__["door_id"] == DOOR
    assert logged_counts(caplog.records) == {"SnapshotsRejected": 1}


def test_a_snapshot_with_no_face_is_rejected_after_the_search(cloud: Cloud) -> None:
    cloud.engine.search_finds_no_face()
    key = cloud.upload(make_jpeg(face=None))

    result = cloud.process(key)

    assert result["reason"] == "no-face"
    assert cloud.records() == []
    assert len(cloud.engine.calls_to("search")) == 1


def test_a_key_outside_the_contract_is_rejected_without_reading_it(cloud: Cloud) -> None:
    cloud.s3.put_object(Bucket=BUCKET, Key="snapshots/front-door/holiday.jpg", Body=make_jpeg())

    result = cloud.process("snapshots/front-door/holiday.jpg")

    assert result["reason"] == "unknown-key"
    assert cloud.records() == [] and cloud.engine.calls == []


def test_an_event_for_another_bucket_reads_nothing(cloud: Cloud) -> None:
    with pytest.raises(ForeignBucket):
        cloud.process(snapshot_key(DOOR, ISSUED_AT), bucket="someone-elses-bucket")
    assert cloud.records() == []


def test_a_repeated_delivery_writes_no_second_record(cloud: Cloud) -> None:
    key = cloud.upload(make_jpeg())
    cloud.process(key)

    again = cloud.process(key)

    assert again["status"] == "DUPLICATE"
    assert len(cloud.records()) == 1


def test_the_daily_cap_rejects_further_snapshots_and_emails_the_owner_once(cloud: Cloud) -> None:
    keys = [cloud.upload(make_jpeg(), nonce=f"{n:016x}") for n in range(4)]

    results = [cloud.process(key)["status"] for key in keys]

    assert results == ["SEARCHED", "SEARCHED", "REJECTED", "REJECTED"]
    assert len(cloud.records()) == 2
    (email,) = cloud.emails()
    assert email["Subject"] == "Smart Door: daily face-search limit reached"
    item = cloud.table.get_item(Key={"pk": f"BUDGET#{budget_day(ISSUED_AT)}", "sk": "FRAMES"})["Item"]
    assert item["frames"] == 2 and "capAlertedAt" in item


def test_kinesis_refusing_the_record_fails_the_invocation_and_the_retry_writes_it(cloud: Cloud) -> None:
    from smartdoor.adapters.record_writer import KinesisRecordWriter, RecordsNotWritten

    class Refusing:
        def put_records(self, **_: Any) -> dict[str, Any]:
            return {
                "FailedRecordCount": 1,
                "Records": [{"ErrorCode": "InternalFailure", "ErrorMessage": "x"}],
            }

    key = cloud.upload(make_jpeg())
    with pytest.raises(RecordsNotWritten):
        cloud.process(
            key, writer=KinesisRecordWriter(STREAM, kinesis_client=Refusing(), sleep=lambda _: None)
        )

    assert cloud.process(key)["status"] == "SEARCHED"
    assert len(cloud.records()) == 1
