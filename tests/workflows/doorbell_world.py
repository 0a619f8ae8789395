"""The doorbell session on moto, on top of the `door` deployment of tests/workflows/conftest.py.

The `door` world already holds everything the template describes (the face-search stream, the
session state machine, its functions); `doorbell` gives the session functions their stand-ins
(KVS: FakeDoorCamera, Rekognition: the door's FakeFaceEngine, the stream processor:
FakeStreamProcessor), samples without a pause (the one environment override,
smartdoor_local.emulation.overrides.TEST_WORLD_OVERRIDES), and plays the template's Kinesis event
source mapping with a pump: after every record write, the new records are read back from moto
with GetRecords and handed to the mapping's function (the real stream_match handler), as the
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
from smartdoor_local.emulation.overrides import TEST_WORLD_OVERRIDES
from tests.fakes.doorbell import FakeDoorCamera, FakeStreamProcessor
from tests.workflows.conftest import ACCOUNT, DOOR_ID, REGION, SmartDoorOnMoto, matches

SESSION_WORKFLOW = "doorbell_session"


class KinesisPump:
    """Plays Lambda's Kinesis event source mapping: new records -> the real stream_match handler."""

    def __init__(self, doorbell: Doorbell) -> None:
        self._doorbell = doorbell
        refs = doorbell.door.deployer.refs.refs
        (mapping,) = doorbell.door.model.stream_mappings()  # the face-search stream -> stream_match
        self.stream, self.function = refs[mapping.stream], refs[mapping.function]
        self.batch_size = mapping.batch_size
        self._iterator: str | None = None
        self.delivered: list[dict[str, Any]] = []  # every record, as GetRecords returned it

    def _shard_iterator(self) -> str:
        if self._iterator is None:
            kinesis = boto3.client("kinesis", region_name=REGION)
            shard = kinesis.describe_stream(StreamName=self.stream)["StreamDescription"]["Shards"][0]
            self._iterator = kinesis.get_shard_iterator(
                StreamName=self.stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
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
        for start in range(0, len(records), self.batch_size):
            batch = kinesis_event(records[start : start + self.batch_size], self.stream)
            result, failed = self._doorbell.door.runtime.invoke(self.function, batch)
            assert not failed and result == {"batchItemFailures": []}, f"{self.function} failed: {result}"

    @property
    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(record["Data"]) for record in self.delivered]


def kinesis_event(records: list[dict[str, Any]], stream: str) -> dict[str, Any]:
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
                "eventSourceARN": f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{stream}",
            }
            for record in records
        ]
    }


class PumpedWriter:
    """The real Kinesis writer (on moto), then the pump."""

    def __init__(self, stream: str, pump: Callable[[], None]) -> None:
        self._writer = KinesisRecordWriter(stream)
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
        self.pump = KinesisPump(self)
        self.configure()
        self.state_machine_arn = self.door.state_machine(SESSION_WORKFLOW)
        return self

    def configure(self, **settings: str) -> None:
        """(Re-)register the functions with these environment overrides (e.g. MAX_FRAMES_PER_DAY="2"),
        each in the functions whose template sets it."""
        self.settings |= settings
        self.door.settings = dict(TEST_WORLD_OVERRIDES) | self.settings
        writer = PumpedWriter(self.door.names["face_search_stream"], self.pump or (lambda: None))
        engine = self.door.engine
        self.door.register_functions(
            self.door.adapter_overrides()
            | {
                "sample_door": {"camera": self.camera, "engine": engine, "writer": writer},
                "stream_processor": {"processor": self.processor},
                "process_snapshot": {"engine": engine, "writer": writer},
            }
        )

    # ------------------------------------------------------------------ running

    def ring(self, detail_type: str = "DoorbellPressed", door_id: str = DOOR_ID) -> str:
        """What the bus rule does with a DoorbellPressed / MotionDetected event."""
        return self.door.start(
            SESSION_WORKFLOW, door_event(detail_type, door_id), name=f"ring-{uuid.uuid4().hex[:12]}"
        )

    def upload_snapshot(self, key: str, body: bytes) -> dict[str, Any]:
        """An edge device's upload, then what the S3 -> EventBridge rule does with it."""
        bucket = self.door.names["photos"]
        boto3.client("s3", region_name=REGION).put_object(Bucket=bucket, Key=key, Body=body)
        event = object_created(bucket, key)
        result, failed = self.door.runtime.invoke(self._snapshot_target(event), event)
        assert not failed, result
        return dict(result)

    def _snapshot_target(self, event: dict[str, Any]) -> str:
        """The function the template's S3 rule invokes for `event` (it must match one)."""
        intrinsics = self.door.deployer.intrinsics
        refs = self.door.deployer.refs.refs
        targets = [
            refs[target.logical_id]
            for rule in self.door.model.rules()
            if matches(intrinsics.resolve(rule.pattern), event)
            for target in rule.targets
        ]
        assert len(targets) == 1, f"the template's rules invoke {targets} for this upload"
        return targets[0]

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
