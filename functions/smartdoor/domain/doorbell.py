"""Doorbell sessions: face search without streaming video, a few seconds at a time.

A ring (POST /doors/{doorId}/ring, a `DoorbellPressed` or `MotionDetected` event) opens a
session for the door; the session samples the door camera every `sampling_interval_seconds`
until it ends. The rules, pure (`smartdoor.services.doorbell_session` runs them on the ports):

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

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from smartdoor.domain.face_search_records import ImageSource
from smartdoor.domain.visits import VisitState

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


# ---------------------------------------------------------------------------- outcomes


@dataclass(frozen=True, slots=True)
class RingOutcome:
    session: Session
    started: bool  # False: an existing session was extended


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


def ended_reason(session: Session) -> StopReason:
    try:
        return StopReason(session.ended_reason or "")
    except ValueError:  # "failed", or a reason from a newer version
        return StopReason.TIME_UP


__all__ = [
    "FaceSource",
    "ImageSource",
    "RingOutcome",
    "SampleOutcome",
    "Session",
    "SessionPolicy",
    "SessionStatus",
    "StopReason",
    "StoredSession",
    "Trigger",
    "budget_day",
    "ended_reason",
    "extended",
    "new_session",
    "new_session_id",
    "stop_reason",
]
