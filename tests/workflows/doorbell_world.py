"""The doorbell session on moto, on top of the `door` deployment of tests/workflows/conftest.py.

`doorbell` adds what a session needs: the face-search Kinesis stream, the session state machine
(workflows/doorbell_session.asl.json, rendered as the CDK construct renders it) and its task
functions served in-process with their real handlers (open_session, sample_door,
stream_processor), the snapshot function (process_snapshot) and the match function
(stream_match). Only KVS (FakeDoorCamera), Rekognition (the door's FakeFaceEngine) and the
stream processor (FakeStreamProcessor) are fakes.

The Kinesis event source mapping is played by a pump: after every record write, the new records
are read back from moto with GetRecords and handed to the real stream_match handler, as the
mapping would. So a session sees the match function's decisions exactly as on AWS, only sooner.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from smartdoor.adapters.record_writer import KinesisRecordWriter
from smartdoor.domain.face_search_records import OutgoingRecord
from smartdoor_local.lambda_runtime import LocalFunction, placeholder_package
from smartdoor_local.workflows import render_definition, workflow_path
from tests.fakes.doorbell import FakeDoorCamera, FakeStreamProcessor
from tests.workflows.conftest import ACCOUNT, DOOR_ID, REGION, VIDEO_STREAM_ARN, SmartDoorOnMoto

FACE_SEARCH_STREAM = "SmartDoor-FaceSearchRecords"
PROCESSOR_NAME = "SmartDoor-front-door-processor"
SESSION_WORKFLOW = "doorbell_session"
SESSION_FUNCTIONS = {
    "OpenSessionFunctionArn": "open_session",
    "SampleDoorFunctionArn": "sample_door",
    "StreamProcessorFunctionArn": "stream_processor",
}


class KinesisPump:
    """Plays Lambda's Kinesis event source mapping: new records -> the real stream_match handler."""

    def __init__(self, doorbell: Doorbell) -> None:
        self._doorbell = doorbell
        self._iterator: str | None = None
        self.delivered: list[dict[str, Any]] = []  # every record, as GetRecords returned it

    def _shard_iterator(self) -> str:
        if self._iterator is None:
            kinesis = boto3.client("kinesis", region_name=REGION)
            shard = kinesis.describe_stream(StreamName=FACE_SEARCH_STREAM)["StreamDescription"]["Shards"][0]
            self._iterator = kinesis.get_shard_iterator(
                StreamName=FACE_SEARCH_STREAM, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
        return self._iterator

    def __call__(self) -> None:
        response = boto3.client("kinesis", region_name=REGION).get_records(
            ShardIterator=self._shard_iterator(), Limit=1000
        )
        self._iterator = response["NextShardIterator"]
        records = response["Records"]
        if not records:
            return
        self.delivered.extend(records)
        result, failed = self._doorbell.door.runtime.invoke("stream_match", kinesis_event(records))
        assert not failed and result == {"batchItemFailures": []}, f"stream_match failed: {result}"

    @property
    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(record["Data"]) for record in self.delivered]


def kinesis_event(records: list[dict[str, Any]]) -> dict[str, Any]:
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
                "invokeIdentityArn": f"arn:aws:iam::{ACCOUNT}:role/stream-match",
                "awsRegion": REGION,
                "eventSourceARN": f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{FACE_SEARCH_STREAM}",
            }
            for record in records
        ]
    }


class PumpedWriter:
    """The real Kinesis writer (on moto), then the pump."""

    def __init__(self, pump: Callable[[], None]) -> None:
        self._writer = KinesisRecordWriter(FACE_SEARCH_STREAM)
        self._pump = pump

    def write(self, records: Sequence[OutgoingRecord]) -> list[str]:
        sequence_numbers = self._writer.write(records)
        self._pump()
        return sequence_numbers


def door_event(detail_type: str = "DoorbellPressed", door_id: str = DOOR_ID) -> dict[str, Any]:
    """A DoorbellPressed / MotionDetected event as the bus rule hands it to the session workflow."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": "smartdoor",
        "account": ACCOUNT,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [],
        "detail": {"version": "1", "doorId": door_id, "reportedBy": "api"},
    }


def object_created(bucket: str, key: str) -> dict[str, Any]:
    """S3's "Object Created" event as the uploads rule hands it to process_snapshot."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": ACCOUNT,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": key, "size": 1, "etag": "0", "sequencer": "0"},
            "request-id": "R",
            "requester": ACCOUNT,
            "reason": "PostObject",
        },
    }


@dataclass
class Doorbell:
    door: SmartDoorOnMoto
    camera: FakeDoorCamera = field(default_factory=FakeDoorCamera)
    processor: FakeStreamProcessor = field(default_factory=FakeStreamProcessor)
    settings: dict[str, str] = field(default_factory=dict)
    pump: KinesisPump | None = None
    state_machine_arn: str = ""

    def deploy(self) -> Doorbell:
        boto3.client("kinesis", region_name=REGION).create_stream(StreamName=FACE_SEARCH_STREAM, ShardCount=1)
        self.pump = KinesisPump(self)
        self.configure()
        role = boto3.client("iam").get_role(RoleName="smartdoor-local")["Role"]["Arn"]
        lambda_client = boto3.client("lambda", region_name=REGION)
        arns = {}
        for name in ("open_session", "sample_door", "stream_processor", "stream_match", "process_snapshot"):
            arns[name] = lambda_client.create_function(
                FunctionName=name,
                Runtime="python3.13",
                Role=role,
                Handler=f"{name}.handler.handler",
                Code={"ZipFile": placeholder_package()},
            )["FunctionArn"]
        substitutions = {"VisitsTableName": self.door.names["visits"]}
        substitutions |= {placeholder: arns[name] for placeholder, name in SESSION_FUNCTIONS.items()}
        self.state_machine_arn = self.door.sfn.create_state_machine(
            name="SmartDoor-doorbell_session",
            definition=render_definition(workflow_path(SESSION_WORKFLOW), substitutions),
            roleArn=role,
            type="EXPRESS",
        )["stateMachineArn"]
        self.door.state_machines[SESSION_WORKFLOW] = self.state_machine_arn
        return self

    def configure(self, **settings: str) -> None:
        """(Re-)register the functions with these environment overrides (e.g. MAX_FRAMES_PER_DAY="2")."""
        self.settings |= settings
        names = self.door.names
        writer = PumpedWriter(self.pump or (lambda: None))
        common = {
            "POWERTOOLS_METRICS_NAMESPACE": "SmartDoor",
            "DOOR_ID": DOOR_ID,
            "VISITS_TABLE": names["visits"],
        }
        face_search = {
            "FACE_SEARCH_STREAM_NAME": FACE_SEARCH_STREAM,
            "COLLECTION_ID": "SmartDoor-front-door",
            "ALERTS_TOPIC_ARN": names["alerts_topic"],
            "FACE_MATCH_THRESHOLD": "90",
        }
        environments: dict[str, dict[str, str]] = {
            "open_session": {
                "FACE_SOURCE": "images",
                "SESSION_SECONDS": "30",
                "SAMPLING_INTERVAL_SECONDS": "0",
            },
            "sample_door": face_search
            | {
                "VIDEO_STREAM_ARN": VIDEO_STREAM_ARN,
                "SAMPLING_INTERVAL_SECONDS": "0",
                "MAX_FRAMES_PER_SESSION": "15",
                "MAX_FRAMES_PER_DAY": "1000",
                "MAX_EMPTY_SAMPLES": "5",
            },
            "stream_processor": {"STREAM_PROCESSOR_NAME": PROCESSOR_NAME},
            "stream_match": {
                "EVENT_BUS_NAME": names["bus"],
                "VIDEO_STREAM_ARN": VIDEO_STREAM_ARN,
                "MIN_FRAMES_FOR_DECISION": "2",
            },
            "process_snapshot": face_search
            | {"PHOTOS_BUCKET": names["photos"], "MAX_FRAMES_PER_DAY": "1000"},
        }
        overrides: dict[str, dict[str, Any]] = {
            "sample_door": {"camera": self.camera, "engine": self.door.engine, "writer": writer},
            "stream_processor": {"processor": self.processor},
            "process_snapshot": {"engine": self.door.engine, "writer": writer},
        }
        for name, environment in environments.items():
            environment |= {key: value for key, value in self.settings.items() if key in environment}
            self.door.runtime.register(
                LocalFunction(
                    name=name,
                    handler=f"{name}.handler.handler",
                    environment=(environment if name == "stream_processor" else common | environment)
                    | {"POWERTOOLS_SERVICE_NAME": name},
                    overrides=overrides.get(name, {}),
                )
            )

    # ------------------------------------------------------------------ running

    def ring(self, detail_type: str = "DoorbellPressed", door_id: str = DOOR_ID) -> str:
        """What the bus rule does with a DoorbellPressed / MotionDetected event."""
        return self.door.sfn.start_execution(
            stateMachineArn=self.state_machine_arn,
            name=f"ring-{uuid.uuid4().hex[:12]}",
            input=json.dumps(door_event(detail_type, door_id)),
        )["executionArn"]

    def upload_snapshot(self, key: str, body: bytes) -> dict[str, Any]:
        """An edge device's upload, then what the S3 -> EventBridge rule does with it."""
        bucket = self.door.names["photos"]
        boto3.client("s3", region_name=REGION).put_object(Bucket=bucket, Key=key, Body=body)
        result, failed = self.door.runtime.invoke("process_snapshot", object_created(bucket, key))
        assert not failed, result
        return dict(result)

    def session_item(self) -> dict[str, Any] | None:
        return self.door.item("visits", pk=f"DOOR#{DOOR_ID}", sk="SESSION")

    def sample_outputs(self, history: list[dict[str, Any]]) -> list[dict[str, Any]]:
        outputs = []
        for event in history:
            exited = event.get("stateExitedEventDetails")
            if exited and exited["name"] in {"Search the newest camera frame", "Watch the session"}:
                outputs.append(json.loads(exited["output"])["sample"])
        return outputs


@pytest.fixture
def doorbell(door: SmartDoorOnMoto) -> Iterator[Doorbell]:
    yield Doorbell(door=door).deploy()
