"""stream_match end to end on moto: Kinesis events in; DynamoDB state and bus events (via SQS) out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from smartdoor.adapters.event_bus import EventBridgeBus
from smartdoor.adapters.visit_store import DynamoVisitStore
from smartdoor.domain.visits import visit_id_for
from smartdoor.settings import reset_settings_cache
from stream_match.handler import handler
from tests.fixtures.face_search import (
    DOOR_ID,
    PUBLISHED_EXAMPLE_STREAM_ARN,
    STREAM_ARN,
    VISIT_START,
    LambdaContext,
    RawPayload,
    blurry_face,
    failed_sequence_numbers,
    kinesis_event,
    known_face,
    load,
    record,
    sequence_number,
    snapshot,
    tiny_face,
    unknown_face,
    visit,
)
from tests.integration.test_stream_match_visit_store import TABLE, ThrottledTable, create_visits_table

BUS = "smartdoor"


@dataclass
class Cloud:
    table: Any
    queue_url: str

    def bus_events(self) -> list[dict[str, Any]]:
        """Every event the bus routed to the queue so far (drains the queue)."""
        sqs = boto3.client("sqs")
        events: list[dict[str, Any]] = []
        while True:
            messages = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not messages:
                return events
            for message in messages:
                events.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def items(self) -> list[dict[str, Any]]:
        return self.table.scan()["Items"]

    def current_visit(self, door_id: str = DOOR_ID) -> dict[str, Any] | None:
        return self.table.get_item(Key={"pk": f"DOOR#{door_id}", "sk": "CURRENT"}).get("Item")


@pytest.fixture
def cloud(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cloud]:
    """The Visits table, the smartdoor bus and a rule that copies every smartdoor event to a queue."""
    table = create_visits_table()
    events = boto3.client("events")
    sqs = boto3.client("sqs")
    events.create_event_bus(Name=BUS)
    queue_url = sqs.create_queue(QueueName="face-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(
        Name="face-events-to-queue", EventBusName=BUS, EventPattern=json.dumps({"source": ["smartdoor"]})
    )
    events.put_targets(
        Rule="face-events-to-queue", EventBusName=BUS, Targets=[{"Id": "queue", "Arn": queue_arn}]
    )
    monkeypatch.setenv("VISITS_TABLE", TABLE)
    monkeypatch.setenv("EVENT_BUS_NAME", BUS)
    monkeypatch.setenv("DOOR_ID", DOOR_ID)
    monkeypatch.setenv("VIDEO_STREAM_ARN", STREAM_ARN)
    reset_settings_cache()
    yield Cloud(table=table, queue_url=queue_url)
    reset_settings_cache()


def invoke(event: dict[str, Any], **adapters: Any) -> dict[str, Any]:
    return handler(event, LambdaContext(), **adapters)


def test_sixty_second_unknown_visit_gives_exactly_one_unknown_face_detected(cloud: Cloud) -> None:
    # GIVEN one stranger at the door for 60 seconds, 2 records a second, delivered in batches of 25
    records = visit(60, 2, lambda i: [unknown_face()])

    for start in range(0, len(records), 25):
        response = invoke(kinesis_event(records[start : start + 25], first_sequence=start))
        assert response == {"batchItemFailures": []}

    # THEN exactly one UnknownFaceDetected reached the bus, with the documented detail
    (event,) = cloud.bus_events()
    assert (event["source"], event["detail-type"]) == ("smartdoor", "UnknownFaceDetected")
    detail = event["detail"]
    visit_id = visit_id_for(DOOR_ID, VISIT_START)
    assert detail["visitId"] == visit_id
    assert detail["doorId"] == DOOR_ID
    assert detail["frame"]["source"] == "kvs"
    assert detail["frame"]["streamArn"] == STREAM_ARN
    assert detail["boundingBox"] == {"Width": 0.2, "Height": 0.26, "Left": 0.4, "Top": 0.2}
    # AND the visit and the emission claim are in DynamoDB
    current = cloud.current_visit()
    assert current is not None and current["visitId"] == visit_id and current["version"] == 120
    claim = cloud.table.get_item(Key={"pk": f"VISIT#{visit_id}", "sk": "EVENT#unknown"})["Item"]
    assert claim["status"] == "EMITTED" and claim["eventId"] == event["id"]


def test_sixty_second_known_visit_gives_exactly_one_known_face_detected(cloud: Cloud) -> None:
    records = visit(60, 2, lambda i: [known_face("visitor-alice", "face-a1", 98.0 + (i % 7) / 10)])

    invoke(kinesis_event(records))

    (event,) = cloud.bus_events()
    assert event["detail-type"] == "KnownFaceDetected"
    assert event["detail"]["faceId"] == "face-a1"
    assert event["detail"]["visitorId"] == "visitor-alice"
    assert event["detail"]["similarity"] == 98.1  # the best of the two deciding frames


def test_tiny_or_blurry_faces_alone_give_nothing(cloud: Cloud) -> None:
    records = visit(60, 2, lambda i: [tiny_face()] if i % 2 else [blurry_face()])

    assert invoke(kinesis_event(records)) == {"batchItemFailures": []}

    assert cloud.bus_events() == []
    assert cloud.items() == []


def test_malformed_records_in_the_middle_of_a_batch_lose_none_of_their_neighbours_effects(
    cloud: Cloud,
) -> None:
    # GIVEN Alice's and a stranger's frames with bad records of every kind between them
    payloads: list[Any] = [
        record(VISIT_START, [known_face()]),
        record(VISIT_START + 0.5, [unknown_face()]),
        RawPayload("%%% not base64 %%%"),
        b"\x00\x01 not json",
        {"InputInformation": {}, "FaceSearchResponse": []},
        record(VISIT_START + 0.7, [unknown_face()], stream_arn="arn:aws:kinesisvideo:us-east-1:1:stream/x/1"),
        record(VISIT_START + 1.0, [known_face()]),
        record(VISIT_START + 1.5, [unknown_face()]),
    ]

    response = invoke(kinesis_event(payloads))

    # THEN no record failed and every good frame counted: both decisions were made
    assert response == {"batchItemFailures": []}
    assert sorted(e["detail-type"] for e in cloud.bus_events()) == [
        "KnownFaceDetected",
        "UnknownFaceDetected",
    ]
    current = cloud.current_visit()
    assert current is not None and json.loads(current["state"])["lastFrameAt"] == VISIT_START + 1.5


def test_a_retried_batch_emits_nothing_twice_and_rewrites_nothing(cloud: Cloud) -> None:
    event = kinesis_event(visit(10, 2, lambda i: [known_face(left=0.1), unknown_face(left=0.6)]))
    invoke(event)
    first = cloud.bus_events()
    version = cloud.current_visit()["version"]  # type: ignore[index]

    assert invoke(event) == {"batchItemFailures": []}

    assert len(first) == 2
    assert cloud.bus_events() == []
    assert cloud.current_visit()["version"] == version  # type: ignore[index]


def test_a_later_visit_gives_new_events(cloud: Cloud) -> None:
    invoke(kinesis_event(visit(5, 2, lambda i: [unknown_face()])))
    invoke(
        kinesis_event(visit(5, 2, lambda i: [unknown_face()], start=VISIT_START + 600), first_sequence=100)
    )

    visit_ids = [e["detail"]["visitId"] for e in cloud.bus_events()]
    assert visit_ids == [visit_id_for(DOOR_ID, VISIT_START), visit_id_for(DOOR_ID, VISIT_START + 600)]


def test_published_example_record_is_accepted(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a deployment whose stream is the example's, deciding on one frame at an 85 threshold
    monkeypatch.setenv("VIDEO_STREAM_ARN", PUBLISHED_EXAMPLE_STREAM_ARN)
    monkeypatch.setenv("MIN_FRAMES_FOR_DECISION", "1")
    monkeypatch.setenv("FACE_MATCH_THRESHOLD", "85")
    reset_settings_cache()

    invoke(kinesis_event([load("aws_published_example")]))

    (event,) = cloud.bus_events()
    detail = event["detail"]
    assert event["detail-type"] == "KnownFaceDetected"
    assert detail["visitorId"] == "matchedImage.jpeg"
    assert detail["faceId"] == "ed1b560f-d6af-5158-989a-ff586c931545"
    assert detail["similarity"] == pytest.approx(88.86396)
    assert detail["frame"]["fragmentNumber"] == "91343852333289682796718532614445757584843717598"
    assert detail["frame"]["frameTime"] == pytest.approx(1510552595.193)
    assert detail["detectedAt"] == "2017-11-13T05:56:35.193Z"


def test_snapshot_records_map_to_their_door_and_report_the_s3_key(cloud: Cloud) -> None:
    invoke(
        kinesis_event([snapshot(VISIT_START, [unknown_face()]), snapshot(VISIT_START + 2, [unknown_face()])])
    )

    (event,) = cloud.bus_events()
    assert event["detail"]["doorId"] == "back-door"
    assert event["detail"]["frame"]["source"] == "s3"
    assert event["detail"]["frame"]["s3Key"] == f"snapshots/back-door/{round(VISIT_START * 1000)}.jpg"
    assert cloud.current_visit("back-door") is not None


class RejectingEventsClient:
    """The moto EventBridge client, except that the first `times` PutEvents calls reject every entry."""

    def __init__(self, times: int) -> None:
        self._client = boto3.client("events")
        self.times = times
        self.calls = 0

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls += 1
        if self.times > 0:
            self.times -= 1
            rejected = {"ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded"}
            return {"FailedEntryCount": len(Entries), "Entries": [rejected for _ in Entries]}
        return self._client.put_events(Entries=Entries)


def test_rejected_entries_are_retried_and_delivered_once(cloud: Cloud) -> None:
    events_client = RejectingEventsClient(times=2)
    bus = EventBridgeBus(BUS, events_client=events_client, max_attempts=3, sleep=lambda _: None)

    response = invoke(kinesis_event(visit(2, 2, lambda i: [unknown_face()])), bus=bus)

    assert response == {"batchItemFailures": []}
    assert events_client.calls == 3
    assert len(cloud.bus_events()) == 1


def test_entries_still_rejected_after_retries_fail_their_record_and_the_retry_delivers(cloud: Cloud) -> None:
    # GIVEN EventBridge rejecting entries longer than the bus retries
    events_client = RejectingEventsClient(times=3)
    bus = EventBridgeBus(BUS, events_client=events_client, max_attempts=3, sleep=lambda _: None)
    event = kinesis_event(
        [record(VISIT_START, [unknown_face()]), record(VISIT_START + 0.5, [unknown_face()])]
    )

    response = invoke(event, bus=bus)

    # THEN only the deciding record failed; its claim is gone and the state does not include it
    assert failed_sequence_numbers(response) == [sequence_number(2)]
    assert cloud.bus_events() == []
    visit_id = visit_id_for(DOOR_ID, VISIT_START)
    assert "Item" not in cloud.table.get_item(Key={"pk": f"VISIT#{visit_id}", "sk": "EVENT#unknown"})
    assert json.loads(cloud.current_visit()["state"])["lastFrameAt"] == VISIT_START  # type: ignore[index]

    # WHEN Kinesis retries from the failed record THEN the event is delivered once
    retry = kinesis_event([record(VISIT_START + 0.5, [unknown_face()])], first_sequence=2)
    assert invoke(retry, bus=bus) == {"batchItemFailures": []}
    assert len(cloud.bus_events()) == 1


def test_dynamodb_throttling_fails_only_the_records_of_that_door(cloud: Cloud) -> None:
    # GIVEN writes throttled for the front door only, and a batch with front- and back-door frames
    class FrontDoorThrottled(DynamoVisitStore):
        def save(self, state: Any, expected_version: int | None) -> int:
            if state.door_id == DOOR_ID:
                return DynamoVisitStore(TABLE, table=ThrottledTable(cloud.table, "put_item")).save(
                    state, expected_version
                )
            return super().save(state, expected_version)

    payloads = [
        record(VISIT_START, [unknown_face()]),
        snapshot(VISIT_START, [unknown_face()]),
        snapshot(VISIT_START + 1, [unknown_face()]),
        record(VISIT_START + 1, [unknown_face()]),
    ]

    response = invoke(kinesis_event(payloads), store=FrontDoorThrottled(TABLE))

    assert failed_sequence_numbers(response) == [sequence_number(1), sequence_number(4)]
    assert [e["detail"]["doorId"] for e in cloud.bus_events()] == ["back-door"]
    assert cloud.current_visit() is None
