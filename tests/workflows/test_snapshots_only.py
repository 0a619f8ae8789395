"""faceSource=snapshots on moto: no Kinesis Data Stream. process_snapshot hands its record to the
match function with Lambda Invoke (smartdoor.adapters.match_invoker, the real boto3 call served
by the local Lambda runtime), the match function emits UnknownFaceDetected, and the
unknown-visitor workflow takes the visitor's photo from the uploaded snapshot."""

from __future__ import annotations

import dataclasses
import time

import boto3

from smartdoor.domain.snapshots import snapshot_key
from smartdoor_local.lambda_runtime import Invocation
from tests.fakes import make_jpeg
from tests.fakes.images import open_image
from tests.workflows.conftest import DOOR_ID, REGION, SmartDoorOnMoto
from tests.workflows.doorbell_world import Doorbell, doorbell, object_created

__all__ = ["doorbell"]  # the fixture


def _snapshots_only(doorbell: Doorbell) -> None:
    """Re-register process_snapshot as faceSource=snapshots deploys it: no stream name, the match
    function's name, and no writer override (it builds its LambdaMatchWriter)."""
    runtime = doorbell.door.runtime
    current = runtime.function("process_snapshot")
    environment = {k: v for k, v in current.environment.items() if k != "FACE_SEARCH_STREAM_NAME"}
    environment["MATCH_FUNCTION_NAME"] = "stream_match"
    overrides = {k: v for k, v in current.overrides.items() if k != "writer"}
    runtime.register(dataclasses.replace(current, environment=environment, overrides=overrides))


def test_an_uploaded_snapshot_reaches_the_owner_without_any_stream(
    doorbell: Doorbell, door: SmartDoorOnMoto
) -> None:
    _snapshots_only(doorbell)
    key = snapshot_key(DOOR_ID, time.time())

    # WHEN the door agent uploads one JPEG of a stranger
    result = doorbell.upload_snapshot(key, make_jpeg(1024, 768))

    # THEN the match function ran on it, invoked directly, and nothing went through Kinesis
    assert result["status"] == "SEARCHED"
    assert doorbell.pump is not None and doorbell.pump.delivered == []
    matches = runtime_invocations(door, "stream_match")
    assert len(matches) == 1 and not matches[0].failed
    (event,) = door.bus_events("UnknownFaceDetected")
    frame = event["detail"]["frame"]
    assert (frame["source"], frame["s3Bucket"], frame["s3Key"]) == ("s3", door.names["photos"], key)

    # WHEN the unknown-visitor workflow runs on that event
    execution = door.start("unknown_visitor", event)
    door.wait_for_owner(execution)

    # THEN the visit's frame is the uploaded snapshot (KVS never asked) and the owner is asked
    assert door.frames.calls == []
    visit_id = event["detail"]["visitId"]
    stored = (
        boto3.client("s3", region_name=REGION)
        .get_object(Bucket=door.names["photos"], Key=f"visits/{visit_id}/frame.jpg")["Body"]
        .read()
    )
    assert open_image(stored).size == (1024, 768)
    (approval,) = door.items("approvals")
    assert approval["visitId"] == visit_id and approval["status"] == "PENDING"


def test_a_failing_match_fails_the_snapshot_for_eventbridge_to_retry(
    doorbell: Doorbell, door: SmartDoorOnMoto
) -> None:
    _snapshots_only(doorbell)
    runtime = door.runtime
    match = runtime.function("stream_match")
    # The match function cannot reach its bus (a name that does not exist on moto).
    runtime.register(
        dataclasses.replace(match, environment={**match.environment, "EVENT_BUS_NAME": "no-such-bus"})
    )
    bucket = door.names["photos"]
    key = snapshot_key(DOOR_ID, time.time())
    boto3.client("s3", region_name=REGION).put_object(Bucket=bucket, Key=key, Body=make_jpeg())

    result, failed = runtime.invoke("process_snapshot", object_created(bucket, key))

    assert failed and result["errorType"] == "RecordsNotWritten"
    assert door.bus_events("UnknownFaceDetected") == []


def runtime_invocations(door: SmartDoorOnMoto, name: str) -> list[Invocation]:
    return [i for i in door.runtime.invocations if i.function_name == name]
