"""One decision per person per visit, also across unknown -> approved (issue: the visitor who stays).

The unknown-visitor workflow writes two items the match function reads (adapters/visit_store.py):
the approved person's known-visitor claim before their face is enrolled, and `approvedVisitorId`
on its own claim once they are saved. Here those writes are made as the workflow makes them, on
the in-memory store, and the match function is fed what the camera keeps sending.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pytest

from smartdoor.adapters.event_bus import RecordingEventBus
from smartdoor.adapters.visit_store import UNKNOWN_WORKFLOW_SK, InMemoryVisitStore, known_workflow_sk
from smartdoor.domain.records import Frame, parse_record
from smartdoor.domain.visits import UNKNOWN_KEY, MatchRules, VisitState, visit_id_for, visitor_key
from smartdoor.services.visit_matching import BatchStats, VisitMatcher
from tests.fixtures.face_search import DOOR_ID, STREAM_ARN, VISIT_START, known_face, record, unknown_face

DOORS = {STREAM_ARN: DOOR_ID}
RULES = MatchRules()
FIRST_VISIT = visit_id_for(DOOR_ID, VISIT_START)
ANNA = "vis-anna"


def frames(start: float, seconds: float, faces: list[dict[str, Any]]) -> list[Frame]:
    """Two frames a second from `start` (seconds after VISIT_START)."""
    return [
        parse_record(json.dumps(record(VISIT_START + start + i / 2, faces)), DOORS)
        for i in range(int(seconds * 2))
    ]


def feed(matcher: VisitMatcher, batch: Iterable[Frame]) -> BatchStats:
    stats = BatchStats()
    for frame in batch:
        matcher.process(frame, stats)
    return stats


def events(bus: RecordingEventBus) -> list[tuple[str, dict[str, Any]]]:
    return [(event.detail_type, json.loads(event.detail)) for event in bus.published]


def owner_approves(store: InMemoryVisitStore, visit_id: str, visitor_id: str, at: str | None = None) -> None:
    """What the unknown-visitor workflow writes on approval, in its order (`at`: approvedAt)."""
    store.workflow_claims[(visit_id, known_workflow_sk(visitor_id))] = {"decidedBy": "approval"}
    approved = {"approvedVisitorId": visitor_id} | ({"approvedAt": at} if at else {})
    store.workflow_claims[(visit_id, UNKNOWN_WORKFLOW_SK)] = approved


def iso(seconds_after_start: float) -> str:
    return datetime.fromtimestamp(VISIT_START + seconds_after_start, UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture
def store() -> InMemoryVisitStore:
    return InMemoryVisitStore()


@pytest.fixture
def bus() -> RecordingEventBus:
    return RecordingEventBus()


def test_an_approved_visitor_who_stays_is_not_announced_again_in_that_visit(
    store: InMemoryVisitStore, bus: RecordingEventBus
) -> None:
    # GIVEN a stranger at the door, announced once
    matcher = VisitMatcher(RULES, store, bus)
    feed(matcher, frames(0, 10, [unknown_face()]))
    assert [t for t, _ in events(bus)] == ["UnknownFaceDetected"]

    # WHEN the owner approves her and she stays in front of the camera, now matching her new face
    owner_approves(store, FIRST_VISIT, ANNA)
    stats = feed(matcher, frames(10, 60, [known_face(ANNA, "face-anna", 99.5)]))

    # THEN nothing more is announced: no KnownFaceDetected, so no second code
    assert [t for t, _ in events(bus)] == ["UnknownFaceDetected"]
    assert stats.duplicates_suppressed == 1
    stored = store.load(DOOR_ID)
    assert stored is not None and stored.state.visit_id == FIRST_VISIT
    assert visitor_key(ANNA) in stored.state.decided


def test_after_the_visit_gap_the_approved_visitor_is_a_known_visitor_again(
    store: InMemoryVisitStore, bus: RecordingEventBus
) -> None:
    matcher = VisitMatcher(RULES, store, bus)
    feed(matcher, frames(0, 5, [unknown_face()]))
    owner_approves(store, FIRST_VISIT, ANNA)
    feed(matcher, frames(5, 5, [known_face(ANNA, "face-anna", 99.5)]))

    # WHEN she comes back after more than the visit gap
    later = 10 + RULES.visit_gap_seconds + 1
    feed(matcher, frames(later, 5, [known_face(ANNA, "face-anna", 99.5)]))

    # THEN the new visit announces her once, as known
    assert [(t, d["visitId"]) for t, d in events(bus)] == [
        ("UnknownFaceDetected", FIRST_VISIT),
        ("KnownFaceDetected", visit_id_for(DOOR_ID, VISIT_START + later)),
    ]


def test_a_denied_stranger_who_stays_gets_one_decision(
    store: InMemoryVisitStore, bus: RecordingEventBus
) -> None:
    # GIVEN a stranger announced once, and the owner denied (no approvedVisitorId is ever written)
    matcher = VisitMatcher(RULES, store, bus)
    feed(matcher, frames(0, 5, [unknown_face()]))
    store.workflow_claims[(FIRST_VISIT, UNKNOWN_WORKFLOW_SK)] = {"executionName": "unknown-1"}

    # WHEN the stranger stays ten minutes
    feed(matcher, frames(5, 600, [unknown_face()]))

    # THEN there was one decision in the whole visit
    assert [t for t, _ in events(bus)] == ["UnknownFaceDetected"]
    stored = store.load(DOOR_ID)
    assert stored is not None and stored.state.visit_id == FIRST_VISIT


def test_a_known_visitor_who_stays_ten_minutes_is_announced_once(
    store: InMemoryVisitStore, bus: RecordingEventBus
) -> None:
    feed(VisitMatcher(RULES, store, bus), frames(0, 600, [known_face(ANNA, "face-anna", 99.5)]))

    assert [t for t, _ in events(bus)] == ["KnownFaceDetected"]


def test_a_second_stranger_after_an_approval_is_announced_in_a_new_visit(
    store: InMemoryVisitStore, bus: RecordingEventBus
) -> None:
    # GIVEN the first stranger approved, and she is still at the door
    matcher = VisitMatcher(RULES, store, bus)
    feed(matcher, frames(0, 5, [unknown_face()]))
    owner_approves(store, FIRST_VISIT, ANNA)
    feed(matcher, frames(5, 5, [known_face(ANNA, "face-anna", 99.5)]))

    # WHEN somebody nobody knows joins her
    feed(matcher, frames(10, 30, [known_face(ANNA, "face-anna", 99.5), unknown_face()]))

    # THEN the newcomer is announced once, in a visit of their own that keeps Anna decided
    announced = events(bus)
    assert [t for t, _ in announced] == ["UnknownFaceDetected", "UnknownFaceDetected"]
    second_visit = announced[1][1]["visitId"]
    assert second_visit != FIRST_VISIT
    stored = store.load(DOOR_ID)
    assert stored is not None and stored.state.visit_id == second_visit
    assert {UNKNOWN_KEY, visitor_key(ANNA)} <= stored.state.decided
    # AND Anna's known-visitor claim is taken in the new visit too, so the newcomer's workflow
    # (whose second look may find Anna) can never issue her a second code
    assert store.known_visitor_handled(second_visit, ANNA)


def test_a_second_stranger_waits_while_the_first_approval_is_pending(
    store: InMemoryVisitStore, bus: RecordingEventBus
) -> None:
    matcher = VisitMatcher(RULES, store, bus)
    feed(matcher, frames(0, 5, [unknown_face()]))

    # WHEN more unknown faces come before the owner decided
    feed(matcher, frames(5, 20, [unknown_face()]))
    assert [t for t, _ in events(bus)] == ["UnknownFaceDetected"]

    # THEN, once the owner approves, a stranger still there is announced on the next frames
    owner_approves(store, FIRST_VISIT, ANNA)
    feed(matcher, frames(25, 2, [unknown_face()]))
    assert [t for t, _ in events(bus)] == ["UnknownFaceDetected", "UnknownFaceDetected"]


def test_frames_from_before_the_approval_never_announce_a_newcomer(
    store: InMemoryVisitStore, bus: RecordingEventBus
) -> None:
    # GIVEN the first stranger announced, and one more frame of her counted while the owner decides
    matcher = VisitMatcher(RULES, store, bus)
    feed(matcher, frames(0, 1.5, [unknown_face(width=0.4, height=0.5)]))
    # WHEN the owner approves at +5 s, she is known from then on, and a smaller newcomer joins her
    owner_approves(store, FIRST_VISIT, ANNA, at=iso(5))
    feed(matcher, frames(6, 0.5, [known_face(ANNA, "face-anna", 99.5)]))
    feed(matcher, frames(7, 0.5, [known_face(ANNA, "face-anna", 99.5), unknown_face()]))
    assert [t for t, _ in events(bus)] == ["UnknownFaceDetected"]  # 1 old frame + 1 new: not yet
    feed(matcher, frames(8, 1, [known_face(ANNA, "face-anna", 99.5), unknown_face()]))

    # THEN the newcomer is announced on frames after the approval, never on her own old frame
    announced = events(bus)
    assert [t for t, _ in announced] == ["UnknownFaceDetected", "UnknownFaceDetected"]
    assert announced[1][1]["frame"]["frameTime"] >= VISIT_START + 7
    assert announced[1][1]["boundingBox"]["Width"] == 0.2


def test_the_later_stranger_count_survives_the_stored_state() -> None:
    state = VisitState(door_id=DOOR_ID, visit_id=FIRST_VISIT, started_at=1.0, last_frame_at=2.0)
    assert VisitState.from_dict(state.to_dict()) == state
    store, bus = InMemoryVisitStore(), RecordingEventBus()
    matcher = VisitMatcher(RULES, store, bus)
    feed(matcher, frames(0, 1.5, [unknown_face()]))  # decided after 2 frames, then 1 more
    stored = store.load(DOOR_ID)
    assert stored is not None and stored.state.later_stranger is not None
    assert stored.state.later_stranger.frames == 1
    assert VisitState.from_dict(json.loads(json.dumps(stored.state.to_dict()))) == stored.state
