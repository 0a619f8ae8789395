"""Doorbell session rules on in-memory adapters: one session per door, extension, limits, the daily cap."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from smartdoor.adapters.event_bus import RecordingEventBus
from smartdoor.adapters.visit_store import InMemoryVisitStore
from smartdoor.domain.doorbell import (
    MAX_SESSION_SECONDS,
    SampleOutcome,
    SessionPolicy,
    SessionStatus,
    StopReason,
    budget_day,
)
from smartdoor.domain.records import parse_record
from smartdoor.domain.visits import MatchRules
from smartdoor.errors import InvalidImage, SessionContended, TransientError
from smartdoor.observability import logger
from smartdoor.services.doorbell_session import SessionWorld, ring, sample, watch
from smartdoor.services.visit_matching import BatchStats, VisitMatcher
from tests.fakes import FakeFaceEngine
from tests.fakes.doorbell import (
    STREAM_ARN,
    FakeClock,
    FakeDoorCamera,
    InMemoryFrameBudget,
    InMemorySessionStore,
    RecordingOwnerEmail,
    RecordingRecordWriter,
)

DOOR = "front-door"
RING = "DoorbellPressed"


class Door:
    """One door's session world on in-memory adapters, with the match function reading the records."""

    def __init__(self, policy: SessionPolicy | None = None, *, match: bool = True) -> None:
        self.policy = policy or SessionPolicy(sampling_interval_seconds=1)
        self.clock = FakeClock()
        self.sessions = InMemorySessionStore()
        self.budget = InMemoryFrameBudget()
        self.visits = InMemoryVisitStore(clock=self.clock)
        self.bus = RecordingEventBus()
        self.owner = RecordingOwnerEmail()
        self.camera = FakeDoorCamera()
        self.engine = FakeFaceEngine()
        self._matcher = VisitMatcher(MatchRules(min_frames_for_decision=2), self.visits, self.bus)
        self._consumed = 0
        self.writer = RecordingRecordWriter(after_write=self._pump if match else None)

    def _pump(self) -> None:
        """What the Kinesis event source mapping does: the match function reads each new record."""
        for payload in self.writer.payloads[self._consumed :]:
            self._matcher.process(parse_record(json.dumps(payload), {}), BatchStats())
            self._consumed += 1

    @property
    def world(self) -> SessionWorld:
        return SessionWorld(
            sessions=self.sessions,
            budget=self.budget,
            visits=self.visits,
            owner=self.owner,
            camera=self.camera,
            engine=self.engine,
            writer=self.writer,
        )

    def ring(self, trigger: str = RING) -> Any:
        return ring(DOOR, trigger, self.clock(), sessions=self.sessions, policy=self.policy)

    def sample(self, session_id: str) -> SampleOutcome:
        outcome = sample(
            DOOR,
            session_id,
            self.clock,
            stream_arn=STREAM_ARN,
            world=self.world,
            policy=self.policy,
            log=logger,
        )
        self.clock.advance(max(outcome.wait_seconds, 1))
        return outcome

    def run(self, session_id: str, limit: int = 100) -> list[SampleOutcome]:
        """Sample until the session stops, as the workflow's loop does."""
        outcomes = []
        for _ in range(limit):
            outcomes.append(self.sample(session_id))
            if not outcomes[-1].keep_going:
                return outcomes
        raise AssertionError("the session never stopped")

    def events(self) -> list[str]:
        return [event.detail_type for event in self.bus.published]


# ---------------------------------------------------------------------------- ringing


def test_a_ring_opens_one_session_and_a_second_ring_extends_it() -> None:
    door = Door(SessionPolicy(session_seconds=30))

    first = door.ring()
    door.clock.advance(10)
    second = door.ring("MotionDetected")

    assert first.started and not second.started
    assert second.session.session_id == first.session.session_id
    assert second.session.ends_at == pytest.approx(door.clock.now + 30, abs=1e-3)
    assert second.session.rings == 2
    assert list(door.sessions.items) == [DOOR]


def test_extension_never_goes_past_the_hard_limit_and_a_ring_after_it_starts_afresh() -> None:
    # GIVEN a session rung again every 50 s while its sampler keeps it alive
    door = Door(SessionPolicy(session_seconds=60, watch_interval_seconds=60))
    opened = door.ring().session
    for _ in range(4):
        door.clock.advance(50)
        stored = door.sessions.items[DOOR]
        door.sessions.save(replace(stored.session, heartbeat_at=door.clock.now), stored.version)
        assert not door.ring().started

    # THEN it ends at most MAX_SESSION_SECONDS after it began (Express executions end at 5 minutes)
    assert door.sessions.session(DOOR).ends_at == opened.started_at + MAX_SESSION_SECONDS

    # AND a ring after that starts a new session
    door.clock.advance(50)
    assert door.ring().started


def test_a_ring_extension_resets_the_run_of_empty_samples() -> None:
    door = Door()
    session_id = door.ring().session.session_id
    door.engine.search_finds_no_face(times=3)
    for _ in range(3):
        door.sample(session_id)
    assert door.sessions.session(DOOR).empty_samples == 3

    door.ring()

    assert door.sessions.session(DOOR).empty_samples == 0


def test_a_ring_after_the_session_ended_starts_a_new_one() -> None:
    door = Door(SessionPolicy(session_seconds=5))
    first = door.ring().session.session_id
    door.clock.advance(6)
    assert door.sample(first).reason is StopReason.TIME_UP

    second = door.ring()

    assert second.started and second.session.session_id != first


def test_a_session_whose_sampler_died_does_not_swallow_rings() -> None:
    # GIVEN a session that is ACTIVE and not past its end, but nobody has sampled it for long
    door = Door(SessionPolicy(session_seconds=240, sampling_interval_seconds=1, watch_interval_seconds=5))
    dead = door.ring().session.session_id
    door.clock.advance(door.policy.stale_after_seconds + 1)

    # WHEN someone rings
    fresh = door.ring()

    # THEN a new session starts, and the old sampler (if it ever wakes up) stops without a write
    assert fresh.started
    saves = door.sessions.saves
    assert door.sample(dead).reason is StopReason.SUPERSEDED
    assert door.sessions.saves == saves


def test_a_ring_that_keeps_losing_the_race_is_retried_by_the_workflow() -> None:
    door = Door()
    door.ring()
    for _ in range(10):
        door.sessions.interfere(lambda store: store.save(store.session(DOOR), store.items[DOOR].version))

    with pytest.raises(SessionContended):
        door.ring()


# ---------------------------------------------------------------------------- sampling


def test_each_sample_writes_one_record_with_the_door_and_the_frames_own_timestamps() -> None:
    door = Door(match=False)
    session_id = door.ring().session.session_id
    door.engine.will_match("vis-anna", similarity=97.5)

    outcome = door.sample(session_id)

    assert outcome == SampleOutcome(True, 1, 1, searched=True, face_found=True)
    (record,) = door.writer.records
    assert record.partition_key == DOOR
    frame = door.camera.frames[0]
    video = record.data["InputInformation"]["KinesisVideo"]
    assert video["FragmentNumber"] == frame.source.fragment_number
    assert video["ProducerTimestamp"] + video["FrameOffsetInSeconds"] == pytest.approx(
        frame.frame_time, abs=1e-3
    )
    assert record.data["doorId"] == DOOR
    assert record.data["FaceSearchResponse"][0]["MatchedFaces"][0]["Face"]["ExternalImageId"] == "vis-anna"
    (search,) = door.engine.calls_to("search")
    assert search.image == door.camera.jpeg
    assert search.params == {"threshold": 90.0, "max_faces": 10}


def test_the_same_frame_is_never_searched_twice() -> None:
    door = Door(match=False)
    session_id = door.ring().session.session_id
    door.sample(session_id)

    door.clock.advance(-1)  # the next sample asks for the same moment again
    outcome = door.sample(session_id)

    assert not outcome.searched and outcome.keep_going
    assert len(door.engine.calls_to("search")) == 1
    assert door.camera.calls[-1][2] == door.camera.frames[0].server_time


def test_no_new_frame_keeps_the_session_going_without_searching() -> None:
    door = Door()
    session_id = door.ring().session.session_id
    door.camera.goes_dark(times=2)

    outcomes = [door.sample(session_id), door.sample(session_id)]

    assert [o.keep_going for o in outcomes] == [True, True]
    assert door.engine.calls == [] and door.writer.records == []
    assert door.sessions.session(DOOR).heartbeat_at == pytest.approx(door.clock.now - 1, abs=1e-3)


def test_a_frame_without_a_face_is_an_empty_record_and_several_in_a_row_end_the_session() -> None:
    door = Door(SessionPolicy(max_empty_samples=3))
    session_id = door.ring().session.session_id
    door.engine.search_finds_no_face(times=10)

    outcomes = door.run(session_id)

    assert [o.face_found for o in outcomes] == [False, False, False]
    assert outcomes[-1].reason is StopReason.NO_FACE
    assert [r.data["FaceSearchResponse"] for r in door.writer.records] == [[], [], []]
    assert door.sessions.session(DOOR).status is SessionStatus.ENDED
    assert door.sessions.session(DOOR).ended_reason == "no-face"


def test_a_frame_rekognition_cannot_read_counts_as_a_frame_without_a_face() -> None:
    class Unreadable(FakeFaceEngine):
        def search(self, image: Any, threshold: float, max_faces: int) -> dict[str, Any]:
            raise InvalidImage("InvalidImageFormatException")

    door = Door()
    door.engine = Unreadable()
    session_id = door.ring().session.session_id

    outcome = door.sample(session_id)

    assert outcome.keep_going and outcome.searched and not outcome.face_found
    assert door.writer.payloads[0]["FaceSearchResponse"] == []


def test_the_session_stops_once_the_match_function_decided_the_visit() -> None:
    # GIVEN a stranger at the door: every frame has one good unmatched face
    door = Door()
    session_id = door.ring().session.session_id

    outcomes = door.run(session_id)

    # THEN two frames decide the visit, one UnknownFaceDetected, and the next sample stops
    assert door.events() == ["UnknownFaceDetected"]
    assert [o.searched for o in outcomes] == [True, True, False]
    assert outcomes[-1].reason is StopReason.VISIT_DECIDED
    assert len(door.writer.records) == 2


def test_a_visit_decided_before_the_ring_does_not_stop_a_new_session_that_saw_nobody_yet() -> None:
    door = Door()
    first = door.ring().session.session_id
    door.run(first)
    door.clock.advance(10)
    second = door.ring().session.session_id
    door.engine.search_finds_no_face(times=1)

    outcome = door.sample(second)

    assert outcome.keep_going


def test_a_known_visitor_and_a_stranger_together_keep_the_session_until_both_are_decided() -> None:
    class TwoPeople(FakeFaceEngine):
        """Frames alternate: the known visitor's face is the largest, then the stranger's."""

        def __init__(self) -> None:
            super().__init__(known={"vis-anna": ["face-anna"]})
            self.turn = 0

        def search(self, image: Any, threshold: float, max_faces: int) -> dict[str, Any]:
            self.turn += 1
            if self.turn % 2:
                self.will_match("vis-anna")
            return super().search(image, threshold, max_faces)

    door = Door()
    door.engine = TwoPeople()
    session_id = door.ring().session.session_id

    outcomes = door.run(session_id)

    assert sorted(door.events()) == ["KnownFaceDetected", "UnknownFaceDetected"]
    assert outcomes[-1].reason is StopReason.VISIT_DECIDED
    assert sum(o.searched for o in outcomes) == 4


def test_the_session_frame_cap_ends_the_session_at_the_frame_that_reaches_it() -> None:
    door = Door(SessionPolicy(max_frames_per_session=4), match=False)
    session_id = door.ring().session.session_id

    outcomes = door.run(session_id)

    assert len(door.writer.records) == 4 == len(door.engine.calls_to("search"))
    assert outcomes[-1].reason is StopReason.SESSION_FRAME_CAP and outcomes[-1].searched
    assert len(outcomes) == 4  # no extra sample after the cap


def test_time_up_ends_the_session() -> None:
    door = Door(SessionPolicy(session_seconds=5), match=False)
    session_id = door.ring().session.session_id

    outcomes = door.run(session_id)

    assert outcomes[-1].reason is StopReason.TIME_UP
    assert sum(o.searched for o in outcomes) == 5


def test_a_ring_during_a_sample_is_kept_and_the_sample_is_recorded() -> None:
    # GIVEN a sample in flight when a ring extends the session (between the sample's read and its write)
    door = Door(SessionPolicy(session_seconds=30), match=False)
    session_id = door.ring().session.session_id
    door.clock.advance(20)
    ring_time = door.clock.now

    def ring_now(store: InMemorySessionStore) -> None:
        ring(DOOR, RING, ring_time, sessions=store, policy=door.policy)

    door.sessions.interfere(ring_now)  # right after the sample's read, before its progress write

    outcome = door.sample(session_id)

    # THEN both survive: the extension and the frame the sample sent
    session = door.sessions.session(DOOR)
    assert outcome.searched and outcome.keep_going
    assert session.ends_at == pytest.approx(ring_time + 30, abs=1e-3)
    assert session.rings == 2
    assert session.frames_sent == 1
    assert len(door.engine.calls_to("search")) == 1  # the frame was not searched again


def test_a_failed_record_write_fails_the_sample_and_its_retry_searches_the_frame_again() -> None:
    door = Door(match=False)
    session_id = door.ring().session.session_id
    door.writer.fail_next()

    with pytest.raises(TransientError):
        door.sample(session_id)
    assert door.sessions.session(DOOR).frames_sent == 0

    door.sample(session_id)
    assert len(door.writer.records) == 1
    assert door.sessions.session(DOOR).frames_sent == 1


# ---------------------------------------------------------------------------- daily cap


def test_the_daily_cap_stops_sessions_and_emails_the_owner_once() -> None:
    # GIVEN a daily cap of 3 frames
    door = Door(SessionPolicy(max_frames_per_day=3, max_empty_samples=100), match=False)
    first = door.ring().session.session_id

    # WHEN a session uses it up, and a later session tries again the same day
    outcomes = door.run(first)
    door.clock.advance(60)
    second = door.ring().session.session_id
    later = door.run(second)

    # THEN exactly 3 frames went to face search, both sessions stopped on the cap, one email
    assert len(door.engine.calls_to("search")) == 3
    assert outcomes[-1].reason is StopReason.DAILY_FRAME_CAP
    assert later == [SampleOutcome(False, 0, 0, reason=StopReason.DAILY_FRAME_CAP)]
    assert len(door.owner.sent) == 1
    subject, body = door.owner.sent[0]
    assert "daily face-search limit" in subject and "3" in body and "maxFramesPerDay" in body
    assert door.budget.frames == {budget_day(door.clock.now): 3}


def test_the_cap_email_is_retried_by_the_next_refusal_when_sending_failed() -> None:
    door = Door(SessionPolicy(max_frames_per_day=1), match=False)
    door.owner.failures = 1
    first = door.ring().session.session_id
    door.run(first)
    assert door.owner.sent == []

    door.clock.advance(60)
    door.run(door.ring().session.session_id)

    assert len(door.owner.sent) == 1


def test_the_budget_starts_again_the_next_utc_day() -> None:
    door = Door(SessionPolicy(max_frames_per_day=1), match=False)
    door.run(door.ring().session.session_id)
    door.clock.advance(24 * 3600)

    outcome = door.sample(door.ring().session.session_id)

    assert outcome.searched
    assert sorted(door.budget.frames.values()) == [1, 1]


# ---------------------------------------------------------------------------- watching (stream processor)


def test_watching_waits_until_the_end_then_ends_the_session() -> None:
    door = Door(SessionPolicy(session_seconds=12, watch_interval_seconds=5))
    session_id = door.ring().session.session_id
    waits = []
    while True:
        outcome = watch(DOOR, session_id, door.clock, world=door.world, policy=door.policy)
        if not outcome.keep_going:
            break
        waits.append(outcome.wait_seconds)
        door.clock.advance(outcome.wait_seconds)

    assert waits == [5, 5, 2]
    assert outcome.reason is StopReason.TIME_UP
    assert door.camera.calls == [] and door.engine.calls == []


def test_watching_stops_early_when_the_processor_s_records_decided_the_visit() -> None:
    door = Door(SessionPolicy(session_seconds=30))
    session_id = door.ring().session.session_id
    # the stream processor's records (here: a sampler standing in for it) decide a visit
    door.run(door.ring().session.session_id)

    outcome = watch(DOOR, session_id, door.clock, world=door.world, policy=door.policy)

    assert outcome.reason is StopReason.VISIT_DECIDED


@pytest.mark.parametrize(
    "policy",
    [
        {"session_seconds": 0},
        {"session_seconds": 241},
        {"sampling_interval_seconds": -1},
        {"max_frames_per_session": 0},
        {"max_frames_per_day": 0},
        {"max_empty_samples": 0},
        {"face_match_threshold": 101},
    ],
)
def test_a_policy_outside_its_limits_is_refused(policy: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        SessionPolicy(**policy)
