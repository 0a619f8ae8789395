"""Visits and decisions: from analysed frames to at most one event per person per visit.

Pure rules, no I/O. `observe(state, frame, rules)` takes a door's current visit state and one
frame, and returns the next state and the events the frame decides. The caller stores the
state (with optimistic locking) and publishes the events (claiming each one first).

- Visit: per door. It begins with the first good face (one that passes the quality gate) and
  lasts while good faces keep coming at most `visit_gap_seconds` apart. Times are frame times,
  never arrival times, so a replay of the stream decides exactly as the live run did.
- Duplicates: a frame at or before the last frame the visit counted is a retry of something
  already counted (Kinesis delivers at least once) and changes nothing.
- Known person: a face matched at >= `face_match_threshold`; the person is its
  ExternalImageId (= visitorId), so several collection faces of one person count together.
  In each frame a face counts for its best-matching person only, and a person counts once.
  A person seen in >= `min_frames_for_decision` frames of the visit gives one
  KnownFaceDetected carrying the best sighting so far (highest similarity).
- Unknown: frames with at least one good face that matches nobody at the threshold. After
  >= `min_frames_for_decision` such frames, one UnknownFaceDetected for the visit with the
  best unmatched face so far (highest confidence, then largest box).
- Single images: a frame marked `singleImage` (an edge device's snapshot) counts as
  `min_frames_for_decision` frames, so one snapshot decides.
- Decided people (and the unknown) get nothing more in that visit; a later visit starts over.
- A stranger after the unknown was decided: good unknown faces keep being counted (apart from
  the tallies, so a doorbell session still settles). When they reach the decision count,
  `Observation.later_stranger` carries that count (best sighting, first frame) and the count
  starts again; the caller asks whether the owner approved the visit's first stranger (who is
  then enrolled, so an unknown face now is somebody else) and, if so and the count began after
  the approval (frames before it may show the first stranger, not yet enrolled),
  `split_for_stranger` starts a new visit for the newcomer that keeps everyone already decided,
  the approved person included.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from smartdoor.domain.quality import QualityGate, SkipReason
from smartdoor.domain.records import FaceDetail, FaceMatch, FaceSearchResult, Frame
from smartdoor.domain.times import iso_utc
from smartdoor.models import BoundingBox, DetailType, FaceEventDetail, FrameLocation, KnownFaceDetail

UNKNOWN_KEY = "unknown"
STATE_SCHEMA = 1


def visitor_key(visitor_id: str) -> str:
    return f"visitor#{visitor_id}"


def visit_id_for(door_id: str, start_time: float) -> str:
    """Deterministic from door and first frame: a replay yields the same id.

    Door ids are at most 64 of [A-Za-z0-9_-], so this is a valid fragment of a Step Functions
    execution name (<= 80 characters).
    """
    return f"{door_id}-{round(start_time * 1000)}"


@dataclass(frozen=True, slots=True)
class MatchRules:
    """Decision rules; defaults equal the CDK defaults (cdk_app/config.py)."""

    face_match_threshold: float = 90.0
    min_frames_for_decision: int = 2
    visit_gap_seconds: float = 120.0
    gate: QualityGate = field(default_factory=QualityGate)

    def __post_init__(self) -> None:
        if self.min_frames_for_decision < 1:
            raise ValueError("min_frames_for_decision must be at least 1")
        if self.visit_gap_seconds <= 0:
            raise ValueError("visit_gap_seconds must be positive")


class RuleSettings(Protocol):
    """The decision settings, by the names both these settings and the local stack's config use."""

    @property
    def face_match_threshold(self) -> float: ...
    @property
    def min_frames_for_decision(self) -> int: ...
    @property
    def visit_gap_seconds(self) -> float: ...
    @property
    def min_face_confidence(self) -> float: ...
    @property
    def min_face_size_ratio(self) -> float: ...
    @property
    def min_face_sharpness(self) -> float: ...
    @property
    def min_face_brightness(self) -> float: ...


def match_rules(settings: RuleSettings) -> MatchRules:
    return MatchRules(
        face_match_threshold=settings.face_match_threshold,
        min_frames_for_decision=settings.min_frames_for_decision,
        visit_gap_seconds=settings.visit_gap_seconds,
        gate=QualityGate(
            min_confidence=settings.min_face_confidence,
            min_size_ratio=settings.min_face_size_ratio,
            min_sharpness=settings.min_face_sharpness,
            min_brightness=settings.min_face_brightness,
        ),
    )


@dataclass(frozen=True, slots=True)
class Sighting:
    """One good face in one frame: what an event reports about it."""

    frame_time: float
    location: FrameLocation
    bounding_box: BoundingBox
    confidence: float
    face_id: str | None = None
    visitor_id: str | None = None
    similarity: float | None = None

    @property
    def rank(self) -> tuple[float, ...]:
        """As `_rank`: similarity for a known person; confidence, then box area, for the unknown."""
        if self.visitor_id is not None and self.similarity is not None:
            return (self.similarity,)
        return (self.confidence, self.bounding_box.Width * self.bounding_box.Height)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "frameTime": self.frame_time,
            "location": self.location.to_wire(),
            "boundingBox": self.bounding_box.to_dict(),
            "confidence": self.confidence,
        }
        if self.visitor_id is not None:
            data.update(faceId=self.face_id, visitorId=self.visitor_id, similarity=self.similarity)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Sighting:
        return cls(
            frame_time=float(data["frameTime"]),
            location=FrameLocation.parse(data["location"]),
            bounding_box=BoundingBox.parse(data["boundingBox"]),
            confidence=float(data["confidence"]),
            face_id=data.get("faceId"),
            visitor_id=data.get("visitorId"),
            similarity=None if data.get("similarity") is None else float(data["similarity"]),
        )


@dataclass(frozen=True, slots=True)
class Tally:
    """Frames counted so far for one undecided person (or the unknown), their best sighting, and
    the frame time of the first frame counted."""

    frames: int
    best: Sighting
    since: float


@dataclass(frozen=True, slots=True)
class VisitState:
    """A door's current visit. Immutable: `observe` returns a new one."""

    door_id: str
    visit_id: str
    started_at: float
    last_frame_at: float
    tallies: Mapping[str, Tally] = field(default_factory=dict)
    decided: frozenset[str] = frozenset()
    later_stranger: Tally | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "schema": STATE_SCHEMA,
            "doorId": self.door_id,
            "visitId": self.visit_id,
            "startedAt": self.started_at,
            "lastFrameAt": self.last_frame_at,
            "tallies": {key: _tally_to_dict(tally) for key, tally in self.tallies.items()},
            "decided": sorted(self.decided),
        }
        if self.later_stranger is not None:
            data["laterStranger"] = _tally_to_dict(self.later_stranger)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VisitState:
        if data.get("schema") != STATE_SCHEMA:
            raise ValueError(f"unsupported visit state schema {data.get('schema')!r}")
        return cls(
            door_id=str(data["doorId"]),
            visit_id=str(data["visitId"]),
            started_at=float(data["startedAt"]),
            last_frame_at=float(data["lastFrameAt"]),
            tallies={key: _tally_from_dict(value) for key, value in data["tallies"].items()},
            decided=frozenset(data["decided"]),
            later_stranger=_tally_from_dict(data["laterStranger"]) if data.get("laterStranger") else None,
        )


def _tally_to_dict(tally: Tally) -> dict[str, Any]:
    return {"frames": tally.frames, "best": tally.best.to_dict(), "since": tally.since}


def _tally_from_dict(data: Mapping[str, Any]) -> Tally:
    best = Sighting.from_dict(data["best"])
    # States stored before `since` existed: the best sighting's frame is the earliest one known.
    return Tally(frames=int(data["frames"]), best=best, since=float(data.get("since", best.frame_time)))


@dataclass(frozen=True, slots=True)
class Emission:
    """An event a frame decided. `key` names who it is about within the visit."""

    key: str
    detail_type: DetailType
    detail: FaceEventDetail

    @property
    def visit_id(self) -> str:
        return self.detail.visit_id


@dataclass(frozen=True, slots=True)
class Observation:
    """The outcome of one frame.

    `state` is what to store when `changed` (else the input state, untouched); `emissions` are
    the events to publish before storing it. `later_stranger`: the count of a stranger seen
    often enough after the visit's unknown was decided (see `split_for_stranger`).
    """

    state: VisitState | None
    changed: bool = False
    emissions: tuple[Emission, ...] = ()
    faces: int = 0
    skipped: Mapping[SkipReason, int] = field(default_factory=dict)
    opened_visit: bool = False
    duplicate_frame: bool = False
    later_stranger: Tally | None = None

    @property
    def good_faces(self) -> int:
        return self.faces - sum(self.skipped.values())


def screen(
    faces: Iterable[FaceSearchResult], gate: QualityGate
) -> tuple[list[FaceSearchResult], dict[SkipReason, int]]:
    """Split a frame's faces into good ones and counts of skipped ones by reason."""
    good: list[FaceSearchResult] = []
    skipped: dict[SkipReason, int] = {}
    for result in faces:
        reason = gate.skip_reason(result.DetectedFace)
        if reason is None:
            good.append(result)
        else:
            skipped[reason] = skipped.get(reason, 0) + 1
    return good, skipped


def _best_match(matches: Iterable[FaceMatch], threshold: float) -> FaceMatch | None:
    best: FaceMatch | None = None
    for match in matches:
        eligible = match.Similarity >= threshold and match.Face.ExternalImageId
        if eligible and (best is None or match.Similarity > best.Similarity):
            best = match
    return best


def _rank(face: FaceDetail, match: FaceMatch | None) -> tuple[float, ...]:
    """Known: higher similarity is better. Unknown: higher confidence, then the larger box."""
    if match is not None:
        return (match.Similarity,)
    return (face.Confidence, face.BoundingBox.Width * face.BoundingBox.Height)


Seen = tuple[FaceDetail, FaceMatch | None]


def _frame_people(good: list[FaceSearchResult], threshold: float) -> dict[str, Seen]:
    """Who this frame shows: each face counts for its best-matching person (or the unknown),
    and each person (and the unknown) keeps only their best face of the frame."""
    people: dict[str, Seen] = {}
    for result in good:
        face = result.DetectedFace
        match = _best_match(result.MatchedFaces, threshold)
        key = UNKNOWN_KEY if match is None else visitor_key(match.Face.ExternalImageId or "")
        previous = people.get(key)
        if previous is None or _rank(face, match) > _rank(*previous):
            people[key] = (face, match)
    return people


def _sighting(frame: Frame, face: FaceDetail, match: FaceMatch | None) -> Sighting:
    if match is None:
        return Sighting(frame.frame_time, frame.location, face.BoundingBox.box(), face.Confidence)
    return Sighting(
        frame.frame_time,
        frame.location,
        face.BoundingBox.box(),
        face.Confidence,
        face_id=match.Face.FaceId,
        visitor_id=match.Face.ExternalImageId,
        similarity=match.Similarity,
    )


def _emission(state: VisitState, key: str, sighting: Sighting) -> Emission:
    common: dict[str, Any] = {
        "visit_id": state.visit_id,
        "door_id": state.door_id,
        "detected_at": iso_utc(sighting.frame_time),
        "frame": sighting.location,
        "bounding_box": sighting.bounding_box,
        "confidence": sighting.confidence,
    }
    if key == UNKNOWN_KEY:
        return Emission(key, DetailType.UNKNOWN_FACE_DETECTED, FaceEventDetail(**common))
    assert sighting.face_id and sighting.visitor_id and sighting.similarity is not None  # known sightings
    detail = KnownFaceDetail(
        **common,
        face_id=sighting.face_id,
        visitor_id=sighting.visitor_id,
        similarity=sighting.similarity,
    )
    return Emission(key, DetailType.KNOWN_FACE_DETECTED, detail)


def observe(
    state: VisitState | None,
    frame: Frame,
    rules: MatchRules,
    screened: tuple[list[FaceSearchResult], dict[SkipReason, int]] | None = None,
) -> Observation:
    """Apply one frame to a door's visit state (None: the door has no stored visit).

    `screened` is `screen(frame.faces, rules.gate)` when the caller already has it.
    """
    if state is not None and state.door_id != frame.door_id:
        raise ValueError("the visit state belongs to another door")
    good, skipped = screened if screened is not None else screen(frame.faces, rules.gate)
    faces = len(frame.faces)
    if not good:
        return Observation(state=state, faces=faces, skipped=skipped)
    if state is not None and frame.frame_time <= state.last_frame_at:
        return Observation(state=state, faces=faces, skipped=skipped, duplicate_frame=True)

    opened = state is None or frame.frame_time - state.last_frame_at > rules.visit_gap_seconds
    if state is None or opened:
        visit = VisitState(
            door_id=frame.door_id,
            visit_id=visit_id_for(frame.door_id, frame.frame_time),
            started_at=frame.frame_time,
            last_frame_at=frame.frame_time,
        )
    else:
        visit = state

    people = _frame_people(good, rules.face_match_threshold)
    undecided = [(key, seen) for key, seen in people.items() if key not in visit.decided]
    tallies, decisions = _count(visit, undecided, frame, rules)
    later, later_stranger = _count_later_stranger(visit, people.get(UNKNOWN_KEY), frame, rules)
    new_state = VisitState(
        door_id=visit.door_id,
        visit_id=visit.visit_id,
        started_at=visit.started_at,
        last_frame_at=frame.frame_time,
        tallies=tallies,
        decided=visit.decided | {key for key, _ in decisions} if decisions else visit.decided,
        later_stranger=later,
    )
    emissions = tuple(_emission(new_state, key, sighting) for key, sighting in decisions)
    return Observation(
        state=new_state,
        changed=True,
        emissions=emissions,
        faces=faces,
        skipped=skipped,
        opened_visit=opened,
        later_stranger=later_stranger,
    )


def _advance(previous: Tally | None, frame: Frame, seen: Seen, rules: MatchRules) -> Tally:
    """The tally after one more frame showing this person: more frames, the better sighting."""
    face, match = seen
    if previous is None or _rank(face, match) > previous.best.rank:
        best = _sighting(frame, face, match)
    else:
        best = previous.best
    # A single image sent on purpose (a snapshot) has no next frame to confirm it.
    weight = rules.min_frames_for_decision if frame.single_image else 1
    if previous is None:
        return Tally(frames=weight, best=best, since=frame.frame_time)
    return Tally(frames=previous.frames + weight, best=best, since=previous.since)


def _count(
    visit: VisitState, undecided: list[tuple[str, Seen]], frame: Frame, rules: MatchRules
) -> tuple[Mapping[str, Tally], list[tuple[str, Sighting]]]:
    """The visit's tallies after this frame, and who this frame decides (with their best sighting)."""
    if not undecided:  # only the visit's last frame moves (most frames of a long visit)
        return visit.tallies, []
    updated = dict(visit.tallies)
    decisions: list[tuple[str, Sighting]] = []
    for key, seen in undecided:
        tally = _advance(updated.get(key), frame, seen, rules)
        if tally.frames >= rules.min_frames_for_decision:
            decisions.append((key, tally.best))
            updated.pop(key, None)
        else:
            updated[key] = tally
    return updated, decisions


def _count_later_stranger(
    visit: VisitState, seen: Seen | None, frame: Frame, rules: MatchRules
) -> tuple[Tally | None, Tally | None]:
    """Unknown faces after the unknown was decided: (the count to keep, a full count to ask about)."""
    if seen is None or UNKNOWN_KEY not in visit.decided:
        return visit.later_stranger, None
    tally = _advance(visit.later_stranger, frame, seen, rules)
    if tally.frames >= rules.min_frames_for_decision:
        return None, tally
    return tally, None


def split_for_stranger(state: VisitState, sighting: Sighting, approved_visitor_id: str) -> Observation:
    """A new visit for a stranger who came after the owner approved the visit's first one.

    Everyone decided stays decided (the approved person too: they are enrolled now, and their
    code was issued for the first visit); undecided tallies carry over; the newcomer is announced
    at once, on the frames already counted.
    """
    decided = state.decided | {visitor_key(approved_visitor_id), UNKNOWN_KEY}
    visit = VisitState(
        door_id=state.door_id,
        visit_id=visit_id_for(state.door_id, state.last_frame_at),
        started_at=state.last_frame_at,
        last_frame_at=state.last_frame_at,
        tallies=state.tallies,
        decided=decided,
    )
    return Observation(
        state=visit,
        changed=True,
        emissions=(_emission(visit, UNKNOWN_KEY, sighting),),
        opened_visit=True,
    )


def decided_visitors(state: VisitState) -> list[str]:
    """The visitor ids decided in this visit."""
    prefix = visitor_key("")
    return sorted(key.removeprefix(prefix) for key in state.decided if key.startswith(prefix))


def without_visitor(state: VisitState, visitor_id: str) -> VisitState:
    """The visit as if the person had never been counted in it (`smartdoor visitors forget`):
    their tally and their decision go. Their face is gone from the collection by then, so they
    cannot be counted again."""
    key = visitor_key(visitor_id)
    return VisitState(
        door_id=state.door_id,
        visit_id=state.visit_id,
        started_at=state.started_at,
        last_frame_at=state.last_frame_at,
        tallies={name: tally for name, tally in state.tallies.items() if name != key},
        decided=state.decided - {key},
        later_stranger=state.later_stranger,
    )
