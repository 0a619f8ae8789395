"""Doorbell sessions: ring (open or extend the door's session), sample (search one camera frame)
and watch (a stream-processor session) — the rules are `smartdoor.domain.doorbell`'s.

Every write of the session item is conditional on the version read; a conflicting write (a
ring extending the session while a sample runs) is re-read and re-applied, at most
`MAX_WRITE_CONFLICTS` times before `SessionContended` (the workflow retries it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from smartdoor.domain.doorbell import (
    MAX_MATCHES,
    RingOutcome,
    SampleOutcome,
    SessionPolicy,
    SessionStatus,
    StopReason,
    StoredSession,
    ended_reason,
    extended,
    new_session,
    new_session_id,
    stop_reason,
)
from smartdoor.domain.face_search_records import OutgoingRecord, face_search_record
from smartdoor.domain.visits import VisitState
from smartdoor.errors import InvalidImage, NoFaceInPhoto, SessionContended, VersionConflict
from smartdoor.services.frame_budget import reserve_frame

if TYPE_CHECKING:
    from smartdoor.ports import (
        DoorCamera,
        FaceSearch,
        FrameBudget,
        OwnerEmail,
        RecordWriter,
        SessionStore,
        VisitReader,
    )


# ---------------------------------------------------------------------------- ringing


MAX_WRITE_CONFLICTS = 5


def ring(
    door_id: str,
    trigger: str,
    now: float,
    *,
    sessions: SessionStore,
    policy: SessionPolicy,
    new_id: Callable[[str, float], str] = new_session_id,
) -> RingOutcome:
    """Start the door's session, or extend the live one."""
    for _ in range(MAX_WRITE_CONFLICTS):
        stored = sessions.load(door_id)
        try:
            if stored is None or not stored.session.is_live(now, policy):
                session = new_session(door_id, new_id(door_id, now), trigger, now, policy)
                sessions.save(session, None if stored is None else stored.version)
                return RingOutcome(session, started=True)
            session = extended(stored.session, now, policy)
            sessions.save(session, stored.version)
            return RingOutcome(session, started=False)
        except VersionConflict:
            continue
    raise SessionContended(f"the session of door {door_id} kept changing")


# ---------------------------------------------------------------------------- sampling


@dataclass(frozen=True)
class SessionWorld:
    """Everything a sample talks to."""

    sessions: SessionStore
    budget: FrameBudget
    visits: VisitReader
    owner: OwnerEmail
    camera: DoorCamera | None = None
    engine: FaceSearch | None = None
    writer: RecordWriter | None = None


def _visit_state(visits: VisitReader, door_id: str) -> VisitState | None:
    stored = visits.load(door_id)
    return None if stored is None else stored.state


def _end(stored: StoredSession, reason: StopReason, now: float, world: SessionWorld) -> SampleOutcome | None:
    """End the session for `reason`. None: the session changed meanwhile; the caller looks again."""
    ended = replace(
        stored.session, status=SessionStatus.ENDED, ended_reason=reason.value, ended_at=now, heartbeat_at=now
    )
    try:
        world.sessions.save(ended, stored.version)
    except VersionConflict:
        return None
    return SampleOutcome(False, 0, ended.frames_sent, reason=reason)


@dataclass(frozen=True, slots=True)
class _Searched:
    """A frame this sample searched and wrote a record for (kept across write conflicts)."""

    frame: Any  # a CameraFrame
    face_found: bool


def sample(
    door_id: str,
    session_id: str,
    now: Callable[[], float],
    *,
    stream_arn: str,
    world: SessionWorld,
    policy: SessionPolicy,
    log: Any,
) -> SampleOutcome:
    """One sample of a session in `images` mode (see the module docstring).

    A write conflict re-reads the session and tries again; once a frame is searched it is never
    searched twice: only its progress is re-applied to the session read again.
    """
    assert world.camera is not None and world.engine is not None and world.writer is not None
    searched: _Searched | None = None
    for _ in range(MAX_WRITE_CONFLICTS):
        stored = world.sessions.load(door_id)
        if stored is None or stored.session.session_id != session_id:
            return SampleOutcome(False, 0, 0, reason=StopReason.SUPERSEDED)
        if stored.session.status is SessionStatus.ENDED:
            return SampleOutcome(False, 0, stored.session.frames_sent, reason=ended_reason(stored.session))
        moment = now()
        if searched is None:
            step = _search_next_frame(
                door_id, stored, moment, stream_arn=stream_arn, world=world, policy=policy, log=log
            )
            if not isinstance(step, _Searched):
                if step is None:
                    continue
                return step
            searched = step
        outcome = _record_progress(door_id, stored, searched, moment, world=world, policy=policy, log=log)
        if outcome is not None:
            return outcome
    raise SessionContended(f"the session of door {door_id} kept changing")


def _search_next_frame(
    door_id: str,
    stored: StoredSession,
    moment: float,
    *,
    stream_arn: str,
    world: SessionWorld,
    policy: SessionPolicy,
    log: Any,
) -> SampleOutcome | _Searched | None:
    """Stop the session, wait for a frame, or search the newest one. None: a write conflict."""
    assert world.camera is not None
    session = stored.session
    visit = _visit_state(world.visits, door_id) if session.frames_sent else None
    reason = stop_reason(session, visit, moment, policy)
    if reason is not None:
        return _end(stored, reason, moment, world)
    frame = world.camera.newest_frame(stream_arn, moment, session.last_image_at)
    if frame is None:
        return _no_new_frame(door_id, stored, moment, world=world, policy=policy, log=log)
    if not reserve_frame(moment, budget=world.budget, owner=world.owner, policy=policy, log=log):
        return _end(stored, StopReason.DAILY_FRAME_CAP, moment, world)
    return _Searched(frame, _search_and_write(door_id, frame, world=world, policy=policy, log=log))


def _no_new_frame(
    door_id: str,
    stored: StoredSession,
    moment: float,
    *,
    world: SessionWorld,
    policy: SessionPolicy,
    log: Any,
) -> SampleOutcome | None:
    """The camera has nothing newer: show the sampler is alive and look again later."""
    try:
        world.sessions.save(replace(stored.session, heartbeat_at=moment), stored.version)
    except VersionConflict:
        return None
    log.info("No new camera frame yet", extra={"door_id": door_id})
    return SampleOutcome(True, policy.sampling_interval_seconds, stored.session.frames_sent)


def _search_and_write(
    door_id: str, frame: Any, *, world: SessionWorld, policy: SessionPolicy, log: Any
) -> bool:
    """Search the frame and write its face-search record (an empty one without a face); True: a face."""
    assert world.engine is not None and world.writer is not None
    try:
        answer: dict[str, Any] | None = world.engine.search(
            frame.jpeg, policy.face_match_threshold, MAX_MATCHES
        )
    except NoFaceInPhoto:
        answer = None
    except InvalidImage:  # a frame Rekognition cannot decode counts as a frame without a face
        log.warning("Rekognition could not read a camera frame", extra={"door_id": door_id})
        answer = None
    record = face_search_record(answer, door_id=door_id, source=frame.source)
    world.writer.write([OutgoingRecord(partition_key=door_id, data=record)])
    return answer is not None


def _record_progress(
    door_id: str,
    stored: StoredSession,
    searched: _Searched,
    moment: float,
    *,
    world: SessionWorld,
    policy: SessionPolicy,
    log: Any,
) -> SampleOutcome | None:
    """Count the searched frame in the session; end it at once if that used up its budget.
    None: a write conflict (the caller re-reads and re-applies)."""
    session = stored.session
    progressed = replace(
        session,
        heartbeat_at=moment,
        frames_sent=session.frames_sent + 1,
        empty_samples=0 if searched.face_found else session.empty_samples + 1,
        first_frame_time=session.first_frame_time
        if session.first_frame_time is not None
        else searched.frame.frame_time,
        last_image_at=searched.frame.server_time,
    )
    try:
        version = world.sessions.save(progressed, stored.version)
    except VersionConflict:
        return None
    log.info(
        "Searched a camera frame",
        extra={"door_id": door_id, "face_found": searched.face_found, "frames_sent": progressed.frames_sent},
    )
    # Stop now rather than one interval later when the frame used up the session's budget.
    reason = stop_reason(progressed, None, moment, policy)
    if reason in (StopReason.SESSION_FRAME_CAP, StopReason.NO_FACE):
        assert reason is not None
        ended = _end(StoredSession(progressed, version), reason, moment, world)
        if ended is not None:
            return replace(ended, searched=True, face_found=searched.face_found)
    return SampleOutcome(
        True,
        policy.sampling_interval_seconds,
        progressed.frames_sent,
        searched=True,
        face_found=searched.face_found,
    )


def watch(
    door_id: str,
    session_id: str,
    now: Callable[[], float],
    *,
    world: SessionWorld,
    policy: SessionPolicy,
) -> SampleOutcome:
    """One check of a session in `streamProcessor` mode: the processor searches, the session watches."""
    for _ in range(MAX_WRITE_CONFLICTS):
        stored = world.sessions.load(door_id)
        if stored is None or stored.session.session_id != session_id:
            return SampleOutcome(False, 0, 0, reason=StopReason.SUPERSEDED)
        session = stored.session
        if session.status is SessionStatus.ENDED:
            return SampleOutcome(False, 0, 0, reason=ended_reason(session))
        moment = now()
        reason = stop_reason(session, _visit_state(world.visits, door_id), moment, policy)
        if reason is not None:
            ended = _end(stored, reason, moment, world)
            if ended is None:
                continue
            return ended
        try:
            world.sessions.save(replace(session, heartbeat_at=moment), stored.version)
        except VersionConflict:
            continue
        wait = max(1, min(policy.watch_interval_seconds, math.ceil(session.ends_at - moment)))
        return SampleOutcome(True, wait, 0)
    raise SessionContended(f"the session of door {door_id} kept changing")
