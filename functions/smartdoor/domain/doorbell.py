"""Doorbell sessions: face search without streaming video, a few seconds at a time.

A ring (POST /doors/{doorId}/ring, a `DoorbellPressed` or `MotionDetected` event) opens a
session for the door; the session samples the door camera every `sampling_interval_seconds`
until it ends. Rules (pure; the adapters are passed in):

- One session per door. A ring while a session is live extends it (ends
  `session_seconds` after this ring, never more than `max_session_seconds` after it began) and
  resets its run of empty samples; otherwise a new session starts. A session is live while it
  is ACTIVE, not past its end and its sampler has shown life within `stale_after_seconds`
  (a sampler that died does not swallow later rings).
- Each sample: stop if the session is over (time up), the visit it feeds is decided (the match
  function decided everyone it saw and nobody is pending), it has sent
  `max_frames_per_session` frames, or `max_empty_samples` searched frames in a row had no
  face. Otherwise take the newest camera frame not searched yet, reserve it against the
  deployment's daily budget (`max_frames_per_day`; the first refusal of a day emails the owner,
  once), search it, and write one face-search record (an empty one when there is no face).
- Every write of the session item is conditional on the version read; a conflicting write (a
  ring extending the session while a sample runs) is re-read and re-applied.
- With faceSource=streamProcessor the session starts Rekognition's stream processor and, rather
  than sampling, watches the session every `watch_interval_seconds` until it should stop; the
  workflow then stops the processor.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from smartdoor.domain.face_search_records import ImageSource, OutgoingRecord, face_search_record
from smartdoor.domain.visits import VisitState
from smartdoor.errors import InvalidImage, NoFaceInPhoto, SmartDoorError, TransientError

# Express executions end after 5 minutes: a session, extensions included, ends well before.
MAX_SESSION_SECONDS = 240
# SearchFacesByImage: how many collection faces to return for the searched face.
MAX_MATCHES = 10


class FaceSource(StrEnum):
    IMAGES = "images"
    STREAM_PROCESSOR = "streamProcessor"


class Trigger(StrEnum):
    """What opened or extended a session: the detail-type of the bus event."""

    DOORBELL_PRESSED = "DoorbellPressed"
    MOTION_DETECTED = "MotionDetected"


class SessionStatus(StrEnum):
    ACTIVE = "ACTIVE"
    ENDED = "ENDED"


class StopReason(StrEnum):
    TIME_UP = "time-up"
    VISIT_DECIDED = "visit-decided"
    NO_FACE = "no-face"
    SESSION_FRAME_CAP = "session-frame-cap"
    DAILY_FRAME_CAP = "daily-frame-cap"
    SUPERSEDED = "superseded"  # the door's session is another one now (this one was judged dead)
    FAILED = "failed"  # the workflow failed; the session was closed so the next ring starts afresh


class UnknownDoor(SmartDoorError):
    """A ring, event or upload names a door this deployment does not serve."""


class SessionContended(TransientError):
    """The door's session item kept changing under us; retry."""


class VersionConflict(SmartDoorError):
    """The session item changed after it was read; read it again."""


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """Session limits; defaults equal the CDK defaults (cdk_app/config.py)."""

    session_seconds: int = 30
    sampling_interval_seconds: int = 1
    max_frames_per_session: int = 15
    max_frames_per_day: int = 1000
    max_empty_samples: int = 5
    max_session_seconds: int = MAX_SESSION_SECONDS
    watch_interval_seconds: int = 5
    face_match_threshold: float = 90.0

    def __post_init__(self) -> None:
        if not 1 <= self.session_seconds <= self.max_session_seconds <= MAX_SESSION_SECONDS:
            raise ValueError(f"session_seconds must be 1-{self.max_session_seconds}")
        if not 0 <= self.sampling_interval_seconds <= 60:
            raise ValueError("sampling_interval_seconds must be 0-60")
        if not 1 <= self.watch_interval_seconds <= 60:
            raise ValueError("watch_interval_seconds must be 1-60")
        if self.max_frames_per_session < 1 or self.max_frames_per_day < 1 or self.max_empty_samples < 1:
            raise ValueError("frame limits and max_empty_samples must be at least 1")
        if not 0 <= self.face_match_threshold <= 100:
            raise ValueError("face_match_threshold is a percentage")

    @property
    def stale_after_seconds(self) -> int:
        """A live sampler writes at least this often (a sample or a watch, plus its Lambda time)."""
        return 3 * max(self.sampling_interval_seconds, self.watch_interval_seconds) + 15


@dataclass(frozen=True, slots=True)
class Session:
    door_id: str
    session_id: str
    trigger: str
    started_at: float
    ends_at: float
    heartbeat_at: float
    status: SessionStatus = SessionStatus.ACTIVE
    rings: int = 1
    frames_sent: int = 0
    empty_samples: int = 0
    first_frame_time: float | None = None  # frame (producer) time of the first frame searched
    last_image_at: float | None = None  # camera server time of the last frame searched
    ended_reason: str | None = None
    ended_at: float | None = None

    def is_live(self, now: float, policy: SessionPolicy) -> bool:
        return (
            self.status is SessionStatus.ACTIVE
            and now < self.ends_at
            and now - self.heartbeat_at <= policy.stale_after_seconds
        )

    def to_item(self) -> dict[str, Any]:
        """JSON-ready attributes (the store adds keys, version and TTL)."""
        item: dict[str, Any] = {
            "doorId": self.door_id,
            "sessionId": self.session_id,
            "trigger": self.trigger,
            "startedAt": self.started_at,
            "endsAt": self.ends_at,
            "heartbeatAt": self.heartbeat_at,
            "status": self.status.value,
            "rings": self.rings,
            "framesSent": self.frames_sent,
            "emptySamples": self.empty_samples,
        }
        optional = {
            "firstFrameTime": self.first_frame_time,
            "lastImageAt": self.last_image_at,
            "endedReason": self.ended_reason,
            "endedAt": self.ended_at,
        }
        item.update({key: value for key, value in optional.items() if value is not None})
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Session:
        def number(name: str) -> float | None:
            return None if item.get(name) is None else float(item[name])

        return cls(
            door_id=str(item["doorId"]),
            session_id=str(item["sessionId"]),
            trigger=str(item.get("trigger", "")),
            started_at=float(item["startedAt"]),
            ends_at=float(item["endsAt"]),
            heartbeat_at=float(item["heartbeatAt"]),
            status=SessionStatus(item["status"]),
            rings=int(item.get("rings", 1)),
            frames_sent=int(item.get("framesSent", 0)),
            empty_samples=int(item.get("emptySamples", 0)),
            first_frame_time=number("firstFrameTime"),
            last_image_at=number("lastImageAt"),
            ended_reason=None if item.get("endedReason") is None else str(item["endedReason"]),
            ended_at=number("endedAt"),
        )


@dataclass(frozen=True, slots=True)
class StoredSession:
    session: Session
    version: int


# ---------------------------------------------------------------------------- pure rules


def new_session(door_id: str, session_id: str, trigger: str, now: float, policy: SessionPolicy) -> Session:
    return Session(
        door_id=door_id,
        session_id=session_id,
        trigger=trigger,
        started_at=now,
        ends_at=now + policy.session_seconds,
        heartbeat_at=now,
    )


def extended(session: Session, now: float, policy: SessionPolicy) -> Session:
    """The session after another ring: it lasts `session_seconds` from now, within its hard limit."""
    ends_at = min(
        max(session.ends_at, now + policy.session_seconds), session.started_at + policy.max_session_seconds
    )
    return replace(session, ends_at=ends_at, rings=session.rings + 1, empty_samples=0)


def visit_settled(visit: VisitState | None, session: Session) -> bool:
    """The match function decided the visit this session feeds, and nobody in it is pending."""
    if visit is None or visit.door_id != session.door_id:
        return False
    since = session.first_frame_time if session.first_frame_time is not None else session.started_at
    return visit.last_frame_at >= since and bool(visit.decided) and not visit.tallies


def stop_reason(
    session: Session, visit: VisitState | None, now: float, policy: SessionPolicy
) -> StopReason | None:
    """Why the session should stop now, or None to keep going."""
    if now >= session.ends_at:
        return StopReason.TIME_UP
    if visit_settled(visit, session):
        return StopReason.VISIT_DECIDED
    if session.frames_sent >= policy.max_frames_per_session:
        return StopReason.SESSION_FRAME_CAP
    if session.empty_samples >= policy.max_empty_samples:
        return StopReason.NO_FACE
    return None


def budget_day(now: float) -> str:
    """The UTC day a frame is counted against."""
    return datetime.fromtimestamp(now, tz=UTC).strftime("%Y-%m-%d")


def new_session_id(door_id: str, now: float) -> str:
    """`<doorId>-<start ms>-<8 hex>`: readable, unique, valid in a Step Functions execution name."""
    return f"{door_id}-{round(now * 1000)}-{uuid.uuid4().hex[:8]}"


# ---------------------------------------------------------------------------- ports


class SessionStore(Protocol):
    def load(self, door_id: str) -> StoredSession | None: ...

    def save(self, session: Session, expected_version: int | None) -> int:
        """Write if the stored version is still `expected_version` (None: no item). Raises VersionConflict."""
        ...


class FrameBudget(Protocol):
    def reserve(self, day: str, cap: int) -> bool:
        """Count one frame against the day; False (and nothing counted) if the day's cap is reached."""
        ...

    def claim_cap_alert(self, day: str) -> bool:
        """True exactly once per day: the caller sends the cap email."""
        ...

    def release_cap_alert(self, day: str) -> None:
        """The email could not be sent: let the next refusal try again."""
        ...


class VisitReader(Protocol):
    def load(self, door_id: str) -> Any:
        """The door's stored visit (`.state` is a VisitState), or None."""
        ...


class OwnerEmail(Protocol):
    def send_email(self, subject: str, body: str) -> str: ...


class FaceSearch(Protocol):
    def search(self, image: Any, threshold: float, max_faces: int) -> dict[str, Any]: ...


class FrameSource(Protocol):
    def newest_frame(self, stream_arn: str, now: float, after: float | None) -> Any:
        """A CameraFrame (`.jpeg`, `.source`, `.server_time`, `.frame_time`) or None."""
        ...


class RecordSink(Protocol):
    def write(self, records: Any) -> list[str]: ...


# ---------------------------------------------------------------------------- ringing


@dataclass(frozen=True, slots=True)
class RingOutcome:
    session: Session
    started: bool  # False: an existing session was extended


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


@dataclass(frozen=True, slots=True)
class SampleOutcome:
    keep_going: bool
    wait_seconds: int
    frames_sent: int
    reason: StopReason | None = None
    searched: bool = False  # a frame went to Rekognition in this sample
    face_found: bool = False

    def to_output(self) -> dict[str, Any]:
        output: dict[str, Any] = {
            "continue": self.keep_going,
            "waitSeconds": self.wait_seconds,
            "framesSent": self.frames_sent,
            "searched": self.searched,
            "faceFound": self.face_found,
        }
        if self.reason is not None:
            output["reason"] = self.reason.value
        return output


@dataclass(frozen=True)
class SessionWorld:
    """Everything a sample talks to."""

    sessions: SessionStore
    budget: FrameBudget
    visits: VisitReader
    owner: OwnerEmail
    camera: FrameSource | None = None
    engine: FaceSearch | None = None
    writer: RecordSink | None = None


def _ended_reason(session: Session) -> StopReason:
    try:
        return StopReason(session.ended_reason or "")
    except ValueError:  # "failed", or a reason from a newer version
        return StopReason.TIME_UP


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


def reserve_frame(
    now: float, *, budget: FrameBudget, owner: OwnerEmail, policy: SessionPolicy, log: Any
) -> bool:
    """Count one frame against today's budget; the first refusal of the day emails the owner."""
    day = budget_day(now)
    if budget.reserve(day, policy.max_frames_per_day):
        return True
    if budget.claim_cap_alert(day):
        try:
            owner.send_email(
                "Smart Door: daily face-search limit reached",
                f"Smart Door has sent {policy.max_frames_per_day} images to face search today ({day}, UTC), "
                "its daily limit (maxFramesPerDay). Doorbell sessions and snapshots are not searched "
                "until the day ends (UTC). Raise maxFramesPerDay in the deployment's configuration "
                "if this is expected.",
            )
        except Exception as error:
            budget.release_cap_alert(day)
            log.warning("Could not email the daily-limit alert", extra={"error_type": type(error).__name__})
    return False


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
    """One sample of a session in `images` mode (see the module docstring)."""
    assert world.camera is not None and world.engine is not None and world.writer is not None
    searched_frame: Any = None
    face_found = False
    for _ in range(MAX_WRITE_CONFLICTS):
        stored = world.sessions.load(door_id)
        if stored is None or stored.session.session_id != session_id:
            return SampleOutcome(False, 0, 0, reason=StopReason.SUPERSEDED)
        session = stored.session
        if session.status is SessionStatus.ENDED:
            return SampleOutcome(False, 0, session.frames_sent, reason=_ended_reason(session))
        moment = now()

        if searched_frame is None:
            visit = _visit_state(world.visits, door_id) if session.frames_sent else None
            reason = stop_reason(session, visit, moment, policy)
            if reason is not None:
                ended = _end(stored, reason, moment, world)
                if ended is None:
                    continue
                return ended
            frame = world.camera.newest_frame(stream_arn, moment, session.last_image_at)
            if frame is None:
                try:
                    world.sessions.save(replace(session, heartbeat_at=moment), stored.version)
                except VersionConflict:
                    continue
                log.info("No new camera frame yet", extra={"door_id": door_id})
                return SampleOutcome(True, policy.sampling_interval_seconds, session.frames_sent)
            if not reserve_frame(moment, budget=world.budget, owner=world.owner, policy=policy, log=log):
                ended = _end(stored, StopReason.DAILY_FRAME_CAP, moment, world)
                if ended is None:
                    continue
                return ended
            try:
                answer: dict[str, Any] | None = world.engine.search(
                    frame.jpeg, policy.face_match_threshold, MAX_MATCHES
                )
            except NoFaceInPhoto:
                answer = None
            except InvalidImage:  # a frame Rekognition cannot decode counts as a frame without a face
                log.warning("Rekognition could not read a camera frame", extra={"door_id": door_id})
                answer = None
            face_found = answer is not None
            record = face_search_record(answer, door_id=door_id, source=frame.source)
            world.writer.write([OutgoingRecord(partition_key=door_id, data=record)])
            searched_frame = frame

        # The frame is searched and written: record the progress (re-applied after a conflict).
        progressed = replace(
            session,
            heartbeat_at=moment,
            frames_sent=session.frames_sent + 1,
            empty_samples=0 if face_found else session.empty_samples + 1,
            first_frame_time=session.first_frame_time
            if session.first_frame_time is not None
            else searched_frame.frame_time,
            last_image_at=searched_frame.server_time,
        )
        try:
            version = world.sessions.save(progressed, stored.version)
        except VersionConflict:
            continue
        log.info(
            "Searched a camera frame",
            extra={"door_id": door_id, "face_found": face_found, "frames_sent": progressed.frames_sent},
        )
        # Stop now rather than one interval later when the frame used up the session's budget.
        reason = stop_reason(progressed, None, moment, policy)
        if reason in (StopReason.SESSION_FRAME_CAP, StopReason.NO_FACE):
            assert reason is not None
            ended = _end(StoredSession(progressed, version), reason, moment, world)
            if ended is not None:
                return replace(ended, searched=True, face_found=face_found)
        return SampleOutcome(
            True,
            policy.sampling_interval_seconds,
            progressed.frames_sent,
            searched=True,
            face_found=face_found,
        )
    raise SessionContended(f"the session of door {door_id} kept changing")


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
            return SampleOutcome(False, 0, 0, reason=_ended_reason(session))
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


__all__ = [
    "FaceSource",
    "ImageSource",
    "RingOutcome",
    "SampleOutcome",
    "Session",
    "SessionPolicy",
    "SessionStatus",
    "StopReason",
    "Trigger",
    "ring",
    "sample",
    "watch",
]
