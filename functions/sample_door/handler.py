"""Doorbell session task: one sample of the door's session.

Input `{doorId, sessionId, mode}`: `mode` "sample" (faceSource=images) searches the newest
camera frame and writes one face-search record; "watch" (faceSource=streamProcessor) only
checks whether the session should go on while the stream processor searches. Output
`{continue, waitSeconds, framesSent, searched, faceFound[, reason]}` (smartdoor.domain.doorbell).
Errors: `TransientError`, `RecordsNotWritten`, `SessionContended` (retried by the workflow).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any, Literal

from aws_lambda_powertools.utilities.typing import LambdaContext

from smartdoor.adapters.door_camera import DoorCamera, KvsDoorCamera
from smartdoor.adapters.face_engine import FaceEngine, RekognitionFaceEngine
from smartdoor.adapters.notifications import SnsNotifier
from smartdoor.adapters.record_writer import KinesisRecordWriter, RecordWriter
from smartdoor.adapters.session_store import DynamoFrameBudget, DynamoSessionStore
from smartdoor.adapters.visit_store import DynamoVisitStore
from smartdoor.domain.doorbell import SessionPolicy
from smartdoor.domain.records import DOOR_ID_PATTERN
from smartdoor.observability import log_counts, logger
from smartdoor.ports import FrameBudget, OwnerEmail, SessionStore, VisitReader
from smartdoor.process_cache import process_cache
from smartdoor.schema import Meta, Model, field
from smartdoor.services.doorbell_session import SessionWorld, sample, watch
from smartdoor.settings import FunctionSettings, load_settings


class SampleDoorSettings(FunctionSettings):
    visits_table: Annotated[str, Meta(min_length=1)] = field(name="VISITS_TABLE")
    door_id: Annotated[str, Meta(pattern=DOOR_ID_PATTERN.pattern)] = field(name="DOOR_ID")
    alerts_topic_arn: Annotated[str, Meta(min_length=1)] = field(name="ALERTS_TOPIC_ARN")
    # Needed to sample (faceSource=images); a streamProcessor deployment only watches.
    video_stream_arn: str | None = field(default=None, name="VIDEO_STREAM_ARN")
    face_search_stream_name: str | None = field(default=None, name="FACE_SEARCH_STREAM_NAME")
    collection_id: str | None = field(default=None, name="COLLECTION_ID")
    face_match_threshold: Annotated[float, Meta(ge=0, le=100)] = field(
        default=90.0, name="FACE_MATCH_THRESHOLD"
    )
    sampling_interval_seconds: Annotated[int, Meta(ge=0, le=60)] = field(
        default=1, name="SAMPLING_INTERVAL_SECONDS"
    )
    max_frames_per_session: Annotated[int, Meta(ge=1, le=1000)] = field(
        default=15, name="MAX_FRAMES_PER_SESSION"
    )
    max_frames_per_day: Annotated[int, Meta(ge=1, le=1000000)] = field(
        default=1000, name="MAX_FRAMES_PER_DAY"
    )
    max_empty_samples: Annotated[int, Meta(ge=1, le=1000)] = field(default=5, name="MAX_EMPTY_SAMPLES")

    def policy(self) -> SessionPolicy:
        return SessionPolicy(
            sampling_interval_seconds=self.sampling_interval_seconds,
            max_frames_per_session=self.max_frames_per_session,
            max_frames_per_day=self.max_frames_per_day,
            max_empty_samples=self.max_empty_samples,
            face_match_threshold=self.face_match_threshold,
        )


class SampleRequest(Model):
    doorId: Annotated[str, Meta(pattern=DOOR_ID_PATTERN.pattern)]
    sessionId: Annotated[str, Meta(min_length=1, max_length=128)]
    mode: Literal["sample", "watch"] = "sample"


class SamplingNotConfigured(ValueError):
    """mode "sample" needs VIDEO_STREAM_ARN, FACE_SEARCH_STREAM_NAME and COLLECTION_ID."""


@process_cache
def _camera() -> DoorCamera:
    # One per process: it remembers the stream's data endpoints across invocations.
    return KvsDoorCamera()


@logger.inject_lambda_context(clear_state=True)
def handler(
    event: dict[str, Any],
    context: LambdaContext,
    sessions: SessionStore | None = None,
    budget: FrameBudget | None = None,
    visits: VisitReader | None = None,
    owner: OwnerEmail | None = None,
    camera: DoorCamera | None = None,
    engine: FaceEngine | None = None,
    writer: RecordWriter | None = None,
    clock: Callable[[], float] = time.time,
) -> dict[str, Any]:
    settings = load_settings(SampleDoorSettings)
    request = SampleRequest.parse(event)
    logger.append_keys(door_id=request.doorId, session_id=request.sessionId)
    common: dict[str, Any] = {
        "sessions": sessions or DynamoSessionStore(settings.visits_table),
        "budget": budget or DynamoFrameBudget(settings.visits_table),
        "visits": visits or DynamoVisitStore(settings.visits_table),
        "owner": owner or SnsNotifier(settings.alerts_topic_arn),
    }
    if request.mode == "watch":
        outcome = watch(
            request.doorId, request.sessionId, clock, world=SessionWorld(**common), policy=settings.policy()
        )
    else:
        if not (settings.video_stream_arn and settings.face_search_stream_name and settings.collection_id):
            raise SamplingNotConfigured(
                "sampling needs VIDEO_STREAM_ARN, FACE_SEARCH_STREAM_NAME, COLLECTION_ID"
            )
        world = SessionWorld(
            **common,
            camera=camera or _camera(),
            engine=engine or RekognitionFaceEngine(settings.collection_id),
            writer=writer or KinesisRecordWriter(settings.face_search_stream_name),
        )
        outcome = sample(
            request.doorId,
            request.sessionId,
            clock,
            stream_arn=settings.video_stream_arn,
            world=world,
            policy=settings.policy(),
            log=logger,
        )
    if not outcome.keep_going:
        log_counts(
            "Doorbell session ended",
            {"SessionsEnded": 1, "FramesSent": outcome.frames_sent},
            reason=outcome.reason.value if outcome.reason else None,
        )
    return outcome.to_output()
