"""Doorbell session task: open the door's session, or extend the one that is running.

Input: the `DoorbellPressed` / `MotionDetected` EventBridge event (the session workflow's
execution input). Output `{doorId, sessionId, started, endsAt, faceSource}`: `started` is False
when a live session was extended (the workflow then ends: the running execution keeps
sampling). Errors: `InvalidDoorEvent` (not such an event), `UnknownDoor` (a door this
deployment does not serve), `TransientError`/`SessionContended` (retried).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from smartdoor.adapters.session_store import DynamoSessionStore
from smartdoor.domain.doorbell import FaceSource, SessionPolicy, Trigger
from smartdoor.domain.records import DOOR_ID_PATTERN
from smartdoor.domain.times import iso_utc
from smartdoor.errors import SmartDoorError, UnknownDoor
from smartdoor.models import DoorActivityDetail
from smartdoor.observability import log_counts, logger
from smartdoor.ports import SessionStore
from smartdoor.schema import Meta, ValidationError, field, where
from smartdoor.services.doorbell_session import ring
from smartdoor.settings import FunctionSettings, load_settings


class InvalidDoorEvent(SmartDoorError):
    """The input is not a DoorbellPressed / MotionDetected event with a valid detail."""


class OpenSessionSettings(FunctionSettings):
    visits_table: Annotated[str, Meta(min_length=1)] = field(name="VISITS_TABLE")
    door_id: Annotated[str, Meta(pattern=DOOR_ID_PATTERN.pattern)] = field(name="DOOR_ID")
    face_source: FaceSource = field(default=FaceSource.IMAGES, name="FACE_SOURCE")
    session_seconds: Annotated[int, Meta(ge=1, le=240)] = field(default=30, name="SESSION_SECONDS")
    sampling_interval_seconds: Annotated[int, Meta(ge=0, le=60)] = field(
        default=1, name="SAMPLING_INTERVAL_SECONDS"
    )

    def policy(self) -> SessionPolicy:
        return SessionPolicy(
            session_seconds=self.session_seconds, sampling_interval_seconds=self.sampling_interval_seconds
        )


def parse_event(event: Any) -> tuple[Trigger, DoorActivityDetail]:
    if not isinstance(event, dict):
        raise InvalidDoorEvent("the input is not an EventBridge event")
    try:
        trigger = Trigger(str(event.get("detail-type")))
    except ValueError:
        raise InvalidDoorEvent("detail-type must be DoorbellPressed or MotionDetected") from None
    try:
        detail = DoorActivityDetail.parse(event.get("detail"))
    except ValidationError as error:
        raise InvalidDoorEvent(f"the event detail is not valid: {where(error) or 'detail'}") from None
    return trigger, detail


@logger.inject_lambda_context(clear_state=True)
def handler(
    event: dict[str, Any],
    context: LambdaContext,
    sessions: SessionStore | None = None,
    clock: Callable[[], float] = time.time,
) -> dict[str, Any]:
    settings = load_settings(OpenSessionSettings)
    trigger, detail = parse_event(event)
    logger.append_keys(door_id=detail.door_id)
    if detail.door_id != settings.door_id:
        raise UnknownDoor(f"this deployment serves door {settings.door_id}, not {detail.door_id}")
    outcome = ring(
        detail.door_id,
        trigger.value,
        clock(),
        sessions=sessions or DynamoSessionStore(settings.visits_table),
        policy=settings.policy(),
    )
    session = outcome.session
    log_counts(
        "Doorbell session started" if outcome.started else "Doorbell session extended",
        {"SessionsStarted": int(outcome.started), "SessionsExtended": int(not outcome.started)},
        session_id=session.session_id,
        trigger=trigger.value,
        ends_at=iso_utc(session.ends_at),
    )
    return {
        "doorId": session.door_id,
        "sessionId": session.session_id,
        "started": outcome.started,
        "endsAt": iso_utc(session.ends_at),
        "faceSource": settings.face_source.value,
    }
