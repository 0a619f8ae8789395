"""VisitMatcher: stored visits, claims and publishing, on the in-memory adapters."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from typing import Any

import pytest

from smartdoor.adapters.event_bus import RecordingEventBus
from smartdoor.adapters.visit_store import ClaimOutcome, InMemoryVisitStore
from smartdoor.domain.records import Frame, parse_record
from smartdoor.domain.visits import UNKNOWN_KEY, MatchRules, VisitState, visit_id_for
from smartdoor.errors import TransientError, VersionConflict
from smartdoor.models import DetailType
from smartdoor.services.visit_matching import (
    BatchStats,
    EmissionInFlight,
    EventsRejected,
    VisitMatcher,
    VisitStateContended,
)
from tests.fixtures.face_search import (
    DOOR_ID,
    STREAM_ARN,
    VISIT_START,
    blurry_face,
    known_face,
    record,
    unknown_face,
)

DOORS = {STREAM_ARN: DOOR_ID}
RULES = MatchRules()
FIRST_VISIT = visit_id_for(DOOR_ID, VISIT_START)


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def frame_at(t: float, faces: Iterable[dict[str, Any]]) -> Frame:
    return parse_record(json.dumps(record(VISIT_START + t, faces)), DOORS)


def half_seconds(seconds: float, faces: list[dict[str, Any]], start: float = 0.0) -> list[Frame]:
    return [frame_at(start + i / 2, faces) for i in range(int(seconds * 2))]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> InMemoryVisitStore:
    return InMemoryVisitStore(lease_seconds=60, clock=clock)


@pytest.fixture
def bus() -> RecordingEventBus:
    return RecordingEventBus()


def feed(matcher: VisitMatcher, frames: Iterable[Frame]) -> BatchStats:
    stats = BatchStats()
    for frame in frames:
        matcher.process(frame, stats)
    return stats


def published(bus: RecordingEventBus) -> list[tuple[str, dict[str, Any]]]:
    return [(event.detail_type, json.loads(event.detail)) for event in bus.published]


def test_sixty_second_unknown_visit_publishes_one_event_and_stores_the_visit(
    store: InMemoryVisitStore, bus: RecordingEventBus
) -> None:
    # GIVEN 60 seconds of one stranger at 2 frames a second
    matcher = VisitMatcher(RULES, store, bus)

    stats = feed(matcher, half_seconds(60, [unknown_face()]))

    # THEN one event went out, its claim is EMITTED, and the visit is stored
    assert [detail_type for detail_type, _ in published(bus)] == ["UnknownFaceDetected"]
    _, detail = published(bus)[0]
    assert detail["visitId"] == FIRST_VISIT
    assert detail["frame"]["source"] == "kvs"
    assert store.emitted() == {(FIRST_VISIT, UNKNOWN_KEY): "event-1"}
    stored = store.load(DOOR_ID)
    assert stored is not None and stored.version == 120
    assert stored.state.decided == {UNKNOWN_KEY}
    assert (stats.faces, stats.visits_opened, stats.events_emitted, stats.duplicate_frames) == (120, 1, 1, 0)


def test_known_visit_event_detail_is_the_documented_contract(
    store: InMemoryVisitStore, bus: RecordingEventBus
) -> None:
    feed(VisitMatcher(RULES, store, bus), half_seconds(60, [known_face("visitor-alice", "face-a1", 99.2)]))

    ((detail_type, detail),) = published(bus)
    assert detail_type == DetailType.KNOWN_FACE_DETECTED
    assert detail["faceId"] == "face-a1"
    assert detail["visitorId"] == "visitor-alice"
    assert detail["similarity"] == 99.2
    assert detail["version"] == "1"
    assert {"visitId", "doorId", "detectedAt", "frame", "boundingBox", "confidence"} <= set(detail)


def test_replaying_the_whole_visit_publishes_nothing_more(
    store: InMemoryVisitStore, bus: RecordingEventBus
) -> None:
    frames = half_seconds(30, [unknown_face(), known_face()])
    matcher = VisitMatcher(RULES, store, bus)
    feed(matcher, frames)

    stats = feed(matcher, frames)

    assert len(bus.published) == 2
    assert stats.duplicate_frames == 60
    assert stats.events_emitted == 0


def test_frames_without_good_faces_never_touch_the_store(bus: RecordingEventBus) -> None:
    class NoStore:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"store.{name} must not be called")

    stats = feed(VisitMatcher(RULES, NoStore(), bus), [frame_at(0, []), frame_at(0.5, [blurry_face()])])

    assert (stats.faces, stats.faces_skipped) == (1, 1)
    assert bus.published == []


def test_rejected_event_releases_its_claim_keeps_old_state_and_the_retry_publishes_once(
    store: InMemoryVisitStore, bus: RecordingEventBus
) -> None:
    # GIVEN the first frame of a stranger is stored, and EventBridge will reject the next entry
    matcher = VisitMatcher(RULES, store, bus)
    feed(matcher, [frame_at(0, [unknown_face()])])
    bus.reject_next(1)
    deciding = frame_at(0.5, [unknown_face()])

    # WHEN the deciding frame is processed THEN its record fails
    with pytest.raises(EventsRejected):
        feed(matcher, [deciding])

    # AND nothing is claimed and the state is still the one before the frame
    assert store.claims == {}
    stored = store.load(DOOR_ID)
    assert stored is not None and stored.version == 1 and stored.state.tallies[UNKNOWN_KEY].frames == 1

    # WHEN the record is retried THEN the event goes out exactly once
    feed(matcher, [deciding])
    assert len(bus.published) == 1
    assert store.emitted() == {(FIRST_VISIT, UNKNOWN_KEY): "event-1"}


def test_bus_outage_fails_the_record_and_releases_the_claim(
    store: InMemoryVisitStore, bus: RecordingEventBus
) -> None:
    matcher = VisitMatcher(RULES, store, bus)
    feed(matcher, [frame_at(0, [unknown_face()])])
    bus.fail_next(1)

    with pytest.raises(TransientError):
        feed(matcher, [frame_at(0.5, [unknown_face()])])

    assert store.claims == {}
    feed(matcher, [frame_at(0.5, [unknown_face()])])
    assert len(bus.published) == 1


def test_partial_rejection_fails_the_record_but_keeps_what_went_out(
    store: InMemoryVisitStore, bus: RecordingEventBus
) -> None:
    # GIVEN a frame deciding both a known visitor and a stranger, and one of the two entries rejected
    matcher = VisitMatcher(RULES, store, bus)
    faces = [known_face(left=0.1), unknown_face(left=0.6)]
    feed(matcher, [frame_at(0, faces)])
    bus.reject_next(1)

    with pytest.raises(EventsRejected):
        feed(matcher, [frame_at(0.5, faces)])
    assert len(bus.published) == 1

    # WHEN retried THEN only the rejected one is published; the other is a suppressed duplicate
    stats = feed(matcher, [frame_at(0.5, faces)])
    assert sorted(t for t, _ in published(bus)) == ["KnownFaceDetected", "UnknownFaceDetected"]
    assert (stats.events_emitted, stats.duplicates_suppressed) == (1, 1)


def test_claim_held_by_a_live_invocation_fails_the_record_until_the_lease_ends(
    store: InMemoryVisitStore, bus: RecordingEventBus, clock: Clock
) -> None:
    # GIVEN another invocation claimed the stranger's event and has not published yet
    matcher = VisitMatcher(RULES, store, bus)
    feed(matcher, [frame_at(0, [unknown_face()])])
    assert store.claim(FIRST_VISIT, UNKNOWN_KEY, "other-invocation") is ClaimOutcome.CLAIMED

    # WHEN this invocation decides the same event THEN it neither publishes nor stores
    with pytest.raises(EmissionInFlight):
        feed(matcher, [frame_at(0.5, [unknown_face()])])
    assert bus.published == []
    stored = store.load(DOOR_ID)
    assert stored is not None and stored.version == 1

    # WHEN the holder died and its lease ran out THEN the retry takes over and publishes once
    clock.now += 61
    feed(matcher, [frame_at(0.5, [unknown_face()])])
    assert len(bus.published) == 1
    assert store.mark_emitted(FIRST_VISIT, UNKNOWN_KEY, "other-invocation", "late") is False


def test_event_already_emitted_elsewhere_is_suppressed_and_the_decision_stored(
    store: InMemoryVisitStore, bus: RecordingEventBus
) -> None:
    # GIVEN another invocation already published the stranger's event for this visit
    store.claim(FIRST_VISIT, UNKNOWN_KEY, "other")
    store.mark_emitted(FIRST_VISIT, UNKNOWN_KEY, "other", "event-elsewhere")

    stats = feed(VisitMatcher(RULES, store, bus), half_seconds(2, [unknown_face()]))

    assert bus.published == []
    assert stats.duplicates_suppressed == 1
    stored = store.load(DOOR_ID)
    assert stored is not None and stored.state.decided == {UNKNOWN_KEY}


class ConcurrentWriterStore(InMemoryVisitStore):
    """Another invocation rewrites the door's stored state between our read and our write, `times` times."""

    def __init__(self, times: int, **options: Any) -> None:
        super().__init__(**options)
        self.times = times
        self.saves = 0

    def save(self, state: VisitState, expected_version: int | None) -> int:
        self.saves += 1
        if self.times > 0:
            self.times -= 1
            current = self.visits[state.door_id]
            super().save(current.state, current.version)
        return super().save(state, expected_version)


def test_version_conflict_reapplies_the_frame_without_a_second_event(bus: RecordingEventBus) -> None:
    store = ConcurrentWriterStore(times=0)
    matcher = VisitMatcher(RULES, store, bus)
    feed(matcher, [frame_at(0, [unknown_face()])])
    store.times = 1

    feed(matcher, [frame_at(0.5, [unknown_face()])])

    assert len(bus.published) == 1
    assert store.saves == 3  # first frame, the conflicting attempt, the successful retry
    stored = store.load(DOOR_ID)
    assert stored is not None and stored.state.decided == {UNKNOWN_KEY}


def test_endless_conflicts_fail_the_record_as_transient(bus: RecordingEventBus) -> None:
    store = ConcurrentWriterStore(times=0)
    matcher = VisitMatcher(RULES, store, bus)
    feed(matcher, [frame_at(0, [unknown_face()])])
    store.times = 100

    with pytest.raises(VisitStateContended):
        feed(matcher, [frame_at(0.5, [unknown_face()])])
    assert len(bus.published) == 1  # the repeated attempts found the event already claimed
    assert issubclass(VisitStateContended, TransientError)


def test_failing_to_mark_a_claim_emitted_does_not_fail_the_record(bus: RecordingEventBus) -> None:
    class FlakyMarkStore(InMemoryVisitStore):
        def mark_emitted(self, visit_id: str, key: str, token: str, event_id: str) -> bool:
            raise TransientError("throttled")

    store = FlakyMarkStore()
    feed(VisitMatcher(RULES, store, bus), half_seconds(5, [unknown_face()]))

    assert len(bus.published) == 1
    stored = store.load(DOOR_ID)
    assert stored is not None and stored.state.decided == {UNKNOWN_KEY}


def test_store_outage_while_claiming_releases_claims_already_taken(bus: RecordingEventBus) -> None:
    class SecondClaimFails(InMemoryVisitStore):
        def claim(self, visit_id: str, key: str, token: str) -> ClaimOutcome:
            if self.claims:
                raise TransientError("throttled")
            return super().claim(visit_id, key, token)

    store = SecondClaimFails()
    matcher = VisitMatcher(RULES, store, bus)
    faces = [known_face(left=0.1), unknown_face(left=0.6)]
    feed(matcher, [frame_at(0, faces)])

    with pytest.raises(TransientError):
        feed(matcher, [frame_at(0.5, faces)])

    assert store.claims == {}
    assert bus.published == []


def test_concurrent_invocations_on_one_door_publish_each_event_once() -> None:
    # GIVEN four invocations processing the same visit's frames at the same time
    store = InMemoryVisitStore()
    bus = RecordingEventBus()
    frames = half_seconds(20, [known_face(left=0.1), unknown_face(left=0.6)])
    errors: list[BaseException] = []

    def worker() -> None:
        matcher = VisitMatcher(RULES, store, bus)
        for frame in frames:
            for _attempt in range(1000):  # Kinesis retries a failed record, a little later
                try:
                    matcher.process(frame, BatchStats())
                    break
                except (TransientError, VersionConflict):
                    time.sleep(0.001)
            else:
                errors.append(RuntimeError("record never succeeded"))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # THEN each event of the visit went out exactly once
    assert errors == []
    assert sorted(t for t, _ in published(bus)) == ["KnownFaceDetected", "UnknownFaceDetected"]
