"""Edge-device snapshots: an S3 "Object Created" event (via EventBridge) in, one face-search record out.

The uploaded JPEG is checked, counted against the daily face-search budget, searched, and
written to the face-search stream as a `singleImage` record with its S3 key
(smartdoor.domain.snapshots). A rejected upload (not a JPEG, empty, too large, too many
pixels, no face, a key or door this deployment does not know, the daily cap) is recorded in
the Visits table, logged and counted (`SnapshotsRejected`), and nothing downstream starts.
Errors that a retry may fix (`TransientError`, `RecordsNotWritten`) fail the invocation:
EventBridge's retry policy and the rule's DLQ take over.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from smartdoor.adapters.face_engine import FaceEngine, RekognitionFaceEngine
from smartdoor.adapters.match_invoker import LambdaMatchWriter
from smartdoor.adapters.notifications import SnsNotifier
from smartdoor.adapters.record_writer import KinesisRecordWriter, RecordWriter
from smartdoor.adapters.session_store import DynamoFrameBudget
from smartdoor.adapters.snapshot_store import DynamoSnapshotLog, S3SnapshotUploads
from smartdoor.domain.doorbell import SessionPolicy
from smartdoor.domain.records import DOOR_ID_PATTERN
from smartdoor.domain.snapshots import SnapshotStatus
from smartdoor.observability import COUNTS_KEY, log_counts, logger
from smartdoor.ports import FrameBudget, OwnerEmail, SnapshotLog, SnapshotObjects
from smartdoor.schema import Meta, Model, field
from smartdoor.services.snapshot_search import SnapshotWorld, process_snapshot
from smartdoor.settings import FunctionSettings, load_settings


class ProcessSnapshotSettings(FunctionSettings):
    visits_table: Annotated[str, Meta(min_length=1)] = field(name="VISITS_TABLE")
    door_id: Annotated[str, Meta(pattern=DOOR_ID_PATTERN.pattern)] = field(name="DOOR_ID")
    photos_bucket: Annotated[str, Meta(min_length=3)] = field(name="PHOTOS_BUCKET")
    collection_id: Annotated[str, Meta(min_length=1)] = field(name="COLLECTION_ID")
    alerts_topic_arn: Annotated[str, Meta(min_length=1)] = field(name="ALERTS_TOPIC_ARN")
    face_match_threshold: Annotated[float, Meta(ge=0, le=100)] = field(
        default=90.0, name="FACE_MATCH_THRESHOLD"
    )
    max_frames_per_day: Annotated[int, Meta(ge=1, le=1000000)] = field(
        default=1000, name="MAX_FRAMES_PER_DAY"
    )
    # Exactly one of the two: the face-search stream, or (faceSource=snapshots, no stream) the
    # match function, invoked with the records directly (smartdoor.adapters.match_invoker).
    face_search_stream_name: str | None = field(default=None, name="FACE_SEARCH_STREAM_NAME")
    match_function_name: str | None = field(default=None, name="MATCH_FUNCTION_NAME")

    def policy(self) -> SessionPolicy:
        return SessionPolicy(
            max_frames_per_day=self.max_frames_per_day, face_match_threshold=self.face_match_threshold
        )


class S3Bucket(Model):
    name: Annotated[str, Meta(min_length=3, max_length=63)]


class S3Object(Model):
    key: Annotated[str, Meta(min_length=1, max_length=1024)]


class ObjectCreatedDetail(Model):
    bucket: S3Bucket
    object: S3Object


class ObjectCreated(Model):
    """The part of S3's EventBridge "Object Created" event this function reads (S3 User Guide,
    "EventBridge event message structure": detail.bucket.name, detail.object.key)."""

    detail: ObjectCreatedDetail


def _record_writer(settings: ProcessSnapshotSettings) -> RecordWriter:
    if settings.match_function_name:
        return LambdaMatchWriter(settings.match_function_name)
    if settings.face_search_stream_name:
        return KinesisRecordWriter(settings.face_search_stream_name)
    raise ValueError("set FACE_SEARCH_STREAM_NAME or MATCH_FUNCTION_NAME")


class ForeignBucket(ValueError):
    """The event names a bucket other than the photos bucket (a misrouted rule): nothing is read."""


@logger.inject_lambda_context(clear_state=True)
def handler(
    event: dict[str, Any],
    context: LambdaContext,
    objects: SnapshotObjects | None = None,
    log: SnapshotLog | None = None,
    engine: FaceEngine | None = None,
    writer: RecordWriter | None = None,
    budget: FrameBudget | None = None,
    owner: OwnerEmail | None = None,
    clock: Callable[[], float] = time.time,
) -> dict[str, Any]:
    settings = load_settings(ProcessSnapshotSettings)
    created = ObjectCreated.parse(event)
    bucket, key = created.detail.bucket.name, created.detail.object.key
    if bucket != settings.photos_bucket:
        raise ForeignBucket(f"snapshots are read from {settings.photos_bucket} only")
    logger.append_keys(s3_key=key)
    world = SnapshotWorld(
        objects=objects or S3SnapshotUploads(settings.photos_bucket),
        log=log or DynamoSnapshotLog(settings.visits_table),
        engine=engine or RekognitionFaceEngine(settings.collection_id),
        writer=writer or _record_writer(settings),
        budget=budget or DynamoFrameBudget(settings.visits_table),
        owner=owner or SnsNotifier(settings.alerts_topic_arn),
    )
    outcome = process_snapshot(
        bucket,
        key,
        clock,
        served_doors={settings.door_id},
        world=world,
        policy=settings.policy(),
        log=logger,
    )
    if outcome.status is SnapshotStatus.REJECTED:
        logger.warning(
            "Snapshot rejected",
            extra={
                "door_id": outcome.door_id,
                "reason": outcome.reason.value if outcome.reason else None,
                "size": outcome.size,
                COUNTS_KEY: {"SnapshotsRejected": 1},
            },
        )
    elif outcome.status is SnapshotStatus.SEARCHED:
        log_counts(
            "Snapshot searched", {"SnapshotsSearched": 1}, door_id=outcome.door_id, matched=outcome.matched
        )
    else:
        logger.info("Snapshot already processed; repeated delivery ignored")
    return outcome.to_item()
