"""Visit grouping and decisions over frames (pure rules, no storage)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import pytest

from smartdoor.domain.quality import SkipReason
from smartdoor.domain.records import Frame, parse_record
from smartdoor.domain.visits import (
    UNKNOWN_KEY,
    Emission,
    MatchRules,
    VisitState,
    iso_utc,
    observe,
    visit_id_for,
    visitor_key,
    without_visitor,
)
from smartdoor.models import DetailType, FaceEventDetail, KnownFaceDetail
from tests.fixtures.face_search import (
    DOOR_ID,
    STREAM_ARN,
    VISIT_START,
    blurry_face,
    face,
    known_face,
    load,
    match,
    record,
    snapshot,
    tiny_face,
    unknown_face,
)

RULES = MatchRules(face_match_threshold=90, min_frames_for_decision=2, visit_gap_seconds=120)
DOORS = {STREAM_ARN: DOOR_ID}


def frame_at(t: float, faces: Iterable[dict[str, Any]], **options: Any) -> Frame:
    return parse_record(json.dumps(record(VISIT_START + t, faces, **options)), DOORS)


def run(
    frames: Iterable[Frame], rules: MatchRules = RULES, state: VisitState | None = None
) -> tuple[VisitState | None, list[Emission]]:
    emissions: list[Emission] = []
    for frame in frames:
        observation = observe(state, frame, rules)
        state = observation.state
        emissions.extend(observation.emissions)
    return state, emissions


def every_half_second(seconds: float, faces: Any, start: float = 0.0) -> list[Frame]:
    return [frame_at(start + i / 2, faces(i) if callable(faces) else faces) for i in range(int(seconds * 2))]


# --- decisions ---------------------------------------------------------------------------


def test_sixty_seconds_of_one_unknown_face_give_exactly_one_unknown_event() -> None:
    # GIVEN one unknown face at 2 frames a second for 60 seconds
    frames = every_half_second(60, [unknown_face()])

    # WHEN all frames are observed
    state, emissions = run(frames)

    # THEN exactly one UnknownFaceDetected, decided on the second frame
    assert [e.detail_type for e in emissions] == [DetailType.UNKNOWN_FACE_DETECTED]
    detail = emissions[0].detail
    assert type(detail) is FaceEventDetail
    assert detail.visit_id == f"{DOOR_ID}-{round(VISIT_START * 1000)}"
    assert detail.door_id == DOOR_ID
    assert state is not None and state.decided == {UNKNOWN_KEY}


def test_sixty_seconds_of_one_known_face_give_one_known_event_with_identity() -> None:
    frames = every_half_second(60, [known_face("visitor-alice", "face-a1", 99.2)])

    _, emissions = run(frames)

    assert len(emissions) == 1
    detail = emissions[0].detail
    assert emissions[0].detail_type is DetailType.KNOWN_FACE_DETECTED
    assert isinstance(detail, KnownFaceDetail)
    assert (detail.face_id, detail.visitor_id, detail.similarity) == ("face-a1", "visitor-alice", 99.2)
    assert detail.frame.source == "kvs" and detail.frame.stream_arn == STREAM_ARN
    assert detail.bounding_box.Width == pytest.approx(0.2)


def test_decision_waits_for_min_frames() -> None:
    rules = MatchRules(min_frames_for_decision=3)
    first_two = every_half_second(1, [unknown_face()])
    state, emissions = run(first_two, rules)
    assert emissions == []
    assert state is not None and state.tallies[UNKNOWN_KEY].frames == 2

    _, more = run([frame_at(1.0, [unknown_face()])], rules, state)
    assert len(more) == 1


def test_one_frame_decides_when_min_frames_is_one() -> None:
    _, emissions = run([frame_at(0, [known_face()])], MatchRules(min_frames_for_decision=1))
    assert len(emissions) == 1


def test_known_event_reports_the_best_similarity_seen_and_its_frame() -> None:
    # GIVEN the person matched at 93 first, then at 99.5 with another collection face
    frames = [
        frame_at(0.0, [known_face("visitor-alice", "face-a1", 93.0)]),
        frame_at(0.5, [known_face("visitor-alice", "face-a2", 99.5)]),
    ]

    _, (emission,) = run(frames)

    detail = emission.detail
    assert isinstance(detail, KnownFaceDetail)
    assert (detail.face_id, detail.similarity) == ("face-a2", 99.5)
    assert detail.frame.frame_time == pytest.approx(VISIT_START + 0.5)
    assert detail.detected_at == iso_utc(VISIT_START + 0.5)


def test_several_face_ids_of_one_person_count_together_across_frames() -> None:
    frames = [
        frame_at(0.0, [known_face("visitor-alice", "face-a1", 96.0)]),
        frame_at(0.5, [known_face("visitor-alice", "face-a2", 95.0)]),
    ]
    _, emissions = run(frames)
    assert [e.key for e in emissions] == [visitor_key("visitor-alice")]


def test_several_matches_in_one_frame_count_as_one_frame_and_best_wins() -> None:
    # GIVEN one frame where the face matches two of Alice's faces and, lower, one of Bob's
    data = load("several_matches_one_person")
    only = parse_record(json.dumps(data), DOORS)

    # WHEN it is the only frame THEN nothing is decided (one frame, even with two Alice matches)
    state, emissions = run([only])
    assert emissions == []
    assert state is not None
    assert set(state.tallies) == {visitor_key("visitor-alice")}
    assert state.tallies[visitor_key("visitor-alice")].frames == 1
    assert state.tallies[visitor_key("visitor-alice")].best.face_id == "22222222-2222-4222-8222-222222222222"

    # AND a second such frame decides Alice with her best similarity, never Bob
    data["InputInformation"]["KinesisVideo"]["FrameOffsetInSeconds"] = 1.0
    _, (emission,) = run([parse_record(json.dumps(data), DOORS)], state=state)
    assert isinstance(emission.detail, KnownFaceDetail)
    assert (emission.detail.visitor_id, emission.detail.similarity) == ("visitor-alice", 99.41)


def test_match_below_threshold_counts_as_unknown() -> None:
    frames = every_half_second(1, [known_face("visitor-alice", "face-a1", 89.9)])
    _, emissions = run(frames)
    assert [e.detail_type for e in emissions] == [DetailType.UNKNOWN_FACE_DETECTED]


def test_threshold_is_configurable() -> None:
    frames = every_half_second(1, [known_face("visitor-alice", "face-a1", 89.9)])
    _, emissions = run(frames, MatchRules(face_match_threshold=85))
    assert [e.detail_type for e in emissions] == [DetailType.KNOWN_FACE_DETECTED]


def test_match_without_external_image_id_names_nobody() -> None:
    faces = [face(matches=[match(None, "face-x", 99.0)])]
    _, emissions = run(every_half_second(1, faces))
    assert [e.detail_type for e in emissions] == [DetailType.UNKNOWN_FACE_DETECTED]


def test_known_and_unknown_together_give_both_events_once() -> None:
    # GIVEN Alice and a stranger in the same frames for 30 seconds
    faces = [known_face("visitor-alice", "face-a1", 98.0, left=0.1), unknown_face(left=0.6)]

    _, emissions = run(every_half_second(30, faces))

    assert sorted(e.detail_type for e in emissions) == [
        DetailType.KNOWN_FACE_DETECTED,
        DetailType.UNKNOWN_FACE_DETECTED,
    ]
    assert len({e.visit_id for e in emissions}) == 1


def test_two_known_people_give_one_event_each() -> None:
    faces = [
        known_face("visitor-alice", "face-a1", 98.0),
        known_face("visitor-bob", "face-b1", 97.0, left=0.6),
    ]
    _, emissions = run(every_half_second(10, faces))
    assert sorted(e.detail.visitor_id for e in emissions if isinstance(e.detail, KnownFaceDetail)) == [
        "visitor-alice",
        "visitor-bob",
    ]
    assert len(emissions) == 2


def test_unknown_frames_count_frames_not_faces() -> None:
    # GIVEN two strangers in a single frame
    _, emissions = run([frame_at(0, [unknown_face(left=0.1), unknown_face(left=0.6)])])
    # THEN one frame is not enough for a decision that needs two frames
    assert emissions == []


def test_unknown_event_carries_the_best_face_highest_confidence_then_size() -> None:
    frames = [
        frame_at(0.0, [unknown_face(confidence=97.0, width=0.4, height=0.5)]),
        frame_at(
            0.5,
            [unknown_face(confidence=99.5, width=0.1, height=0.12), unknown_face(confidence=99.5, width=0.2)],
        ),
    ]

    _, (emission,) = run(frames)

    detail = emission.detail
    assert detail.confidence == pytest.approx(99.5)
    assert detail.bounding_box.Width == pytest.approx(0.2)
    assert detail.frame.frame_time == pytest.approx(VISIT_START + 0.5)


def test_snapshot_frames_report_their_s3_location() -> None:
    frames = [
        parse_record(
            json.dumps(snapshot(VISIT_START + t, [unknown_face(confidence=c)], door_id="back-door")), DOORS
        )
        for t, c in ((0.0, 99.0), (1.0, 99.8))
    ]
    _, (emission,) = run(frames)
    assert emission.detail.door_id == "back-door"
    assert emission.detail.frame.source == "s3"
    assert emission.detail.frame.s3_key == f"snapshots/back-door/{round((VISIT_START + 1.0) * 1000)}.jpg"


# --- quality gate inside a visit -----------------------------------------------------------


def test_tiny_or_blurry_faces_alone_give_nothing_and_open_no_visit() -> None:
    frames = every_half_second(60, lambda i: [tiny_face()] if i % 2 else [blurry_face()])

    state, emissions = run(frames)

    assert emissions == []
    assert state is None


def test_gated_faces_are_counted_by_reason_and_do_not_count_towards_decisions() -> None:
    observation = observe(None, frame_at(0, [tiny_face(), blurry_face(), unknown_face()]), RULES)
    assert observation.faces == 3
    assert observation.good_faces == 1
    assert observation.skipped == {SkipReason.TOO_SMALL: 1, SkipReason.BLURRY: 1}

    state, emissions = run(every_half_second(5, [tiny_face(), known_face(sharpness=3.0)]))
    assert (state, emissions) == (None, [])


def test_frame_without_faces_changes_nothing() -> None:
    state, _ = run([frame_at(0, [unknown_face()])])
    observation = observe(state, frame_at(1, []), RULES)
    assert observation.state is state
    assert not observation.changed
    assert observation.emissions == ()


# --- visits --------------------------------------------------------------------------------


def test_a_later_visit_gives_new_events() -> None:
    # GIVEN a decided visit, then the same stranger again after more than the gap
    first, emissions = run(every_half_second(10, [unknown_face()]))
    assert first is not None
    later = every_half_second(10, [unknown_face()], start=9.5 + 120.01)

    second, more = run(later, state=first)

    assert second is not None
    assert len(emissions) == len(more) == 1
    assert second.visit_id != first.visit_id
    assert more[0].visit_id == visit_id_for(DOOR_ID, VISIT_START + 9.5 + 120.01)


def test_faces_within_the_gap_keep_the_visit_open() -> None:
    # GIVEN good faces exactly visit_gap_seconds apart
    frames = [frame_at(t, [unknown_face()]) for t in (0, 120, 240, 360)]
    state, emissions = run(frames)
    assert state is not None
    assert state.visit_id == visit_id_for(DOOR_ID, VISIT_START)
    assert len(emissions) == 1


def test_frames_without_good_faces_do_not_extend_a_visit() -> None:
    # GIVEN a good face, blurry ones for a while, then a good face 200 s after the first
    frames = [frame_at(0, [unknown_face()])]
    frames += [frame_at(t, [blurry_face()]) for t in range(10, 200, 10)]
    frames.append(frame_at(200, [unknown_face()]))

    state, emissions = run(frames)

    # THEN the last face starts a new visit, and neither visit saw two good frames
    assert state is not None and state.started_at == pytest.approx(VISIT_START + 200)
    assert emissions == []


def test_new_visit_reports_opened() -> None:
    first = observe(None, frame_at(0, [unknown_face()]), RULES)
    again = observe(first.state, frame_at(1, [unknown_face()]), RULES)
    later = observe(again.state, frame_at(500, [unknown_face()]), RULES)
    assert (first.opened_visit, again.opened_visit, later.opened_visit) == (True, False, True)


def test_frame_time_decides_not_arrival_order_of_visits() -> None:
    # GIVEN the same frames replayed into an empty state
    frames = every_half_second(5, [unknown_face()]) + every_half_second(5, [known_face()], start=300)
    live_state, live = run(frames)
    replay_state, replay = run(frames)
    assert [e.detail for e in live] == [e.detail for e in replay]
    assert live_state == replay_state


# --- duplicates ----------------------------------------------------------------------------


def test_a_retried_frame_is_a_duplicate_and_is_not_counted_twice() -> None:
    # GIVEN one frame observed, then the same frame delivered again (Kinesis retry)
    one = frame_at(0, [unknown_face()])
    first = observe(None, one, RULES)

    again = observe(first.state, one, RULES)

    # THEN the retry changes nothing and decides nothing
    assert again.duplicate_frame
    assert again.state is first.state
    assert again.emissions == ()
    assert first.state is not None and first.state.tallies[UNKNOWN_KEY].frames == 1


def test_an_earlier_frame_after_a_later_one_is_a_duplicate() -> None:
    state, _ = run([frame_at(5, [unknown_face()])])
    observation = observe(state, frame_at(4, [unknown_face()]), RULES)
    assert observation.duplicate_frame and observation.emissions == ()


def test_decided_people_get_nothing_more_in_the_visit() -> None:
    state, emissions = run(every_half_second(2, [known_face()]))
    assert len(emissions) == 1
    assert state is not None and visitor_key("visitor-alice") not in state.tallies
    _, more = run(every_half_second(50, [known_face(similarity=99.99)], start=2), state=state)
    assert more == []


def test_a_forgotten_person_leaves_no_trace_in_the_visit_and_the_others_stay() -> None:
    # GIVEN alice decided, bob seen once (not decided yet) and a stranger seen once
    state, _ = run(every_half_second(1, [known_face("visitor-alice")]))
    state, _ = run(
        [frame_at(1.5, [known_face("visitor-bob", "face-b1", 96.0), unknown_face(left=0.6)])], state=state
    )
    assert state is not None and visitor_key("visitor-alice") in state.decided
    assert visitor_key("visitor-bob") in state.tallies

    # WHEN each is forgotten
    without_alice = without_visitor(state, "visitor-alice")
    without_both = without_visitor(without_alice, "visitor-bob")

    # THEN the stored state names neither, and the rest of the visit is as it was
    stored = json.dumps(without_both.to_dict())
    assert "visitor-alice" not in stored and "visitor-bob" not in stored
    assert without_alice.tallies == state.tallies
    assert without_both.decided == without_alice.decided == state.decided - {visitor_key("visitor-alice")}
    assert set(without_both.tallies) == set(state.tallies) - {visitor_key("visitor-bob")}
    assert (without_both.visit_id, without_both.last_frame_at) == (state.visit_id, state.last_frame_at)
    # AND forgetting someone the visit never counted changes nothing
    assert without_visitor(state, "visitor-carol") == state


# --- ids and state -------------------------------------------------------------------------


def test_visit_id_is_deterministic_and_fits_an_execution_name() -> None:
    door = "D" * 64
    visit_id = visit_id_for(door, 4_102_444_800.123)  # year 2100
    assert visit_id == visit_id_for(door, 4_102_444_800.123)
    assert visit_id == f"{door}-4102444800123"
    assert len(visit_id) <= 80
    assert re.fullmatch(r"[A-Za-z0-9_-]+", visit_id)


def test_state_survives_a_json_round_trip() -> None:
    frames = [
        frame_at(0, [known_face("visitor-alice", "face-a1", 97.0), unknown_face(left=0.6)]),
        frame_at(0.5, [known_face("visitor-bob", "face-b1", 96.0)]),
        frame_at(1.0, [known_face("visitor-bob", "face-b1", 96.0)]),
    ]
    state, _ = run(frames)
    assert state is not None

    restored = VisitState.from_dict(json.loads(json.dumps(state.to_dict())))

    assert restored == state
    assert restored.decided == {visitor_key("visitor-bob")}
    # AND the restored state keeps deciding the same way
    next_frame = frame_at(1.5, [known_face("visitor-alice", "face-a1", 97.0)])
    assert observe(restored, next_frame, RULES).emissions == observe(state, next_frame, RULES).emissions


def test_state_with_an_unknown_schema_is_refused() -> None:
    state, _ = run([frame_at(0, [unknown_face()])])
    assert state is not None
    data = state.to_dict() | {"schema": 99}
    with pytest.raises(ValueError, match="schema"):
        VisitState.from_dict(data)


def test_state_of_another_door_is_refused() -> None:
    state, _ = run([frame_at(0, [unknown_face()])])
    other = parse_record(json.dumps(snapshot(VISIT_START + 1, [unknown_face()], door_id="back-door")), DOORS)
    with pytest.raises(ValueError, match="another door"):
        observe(state, other, RULES)


@pytest.mark.parametrize("bad", [{"min_frames_for_decision": 0}, {"visit_gap_seconds": 0}])
def test_rules_refuse_impossible_values(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        MatchRules(**bad)


def test_detected_at_is_iso_utc_with_milliseconds() -> None:
    assert iso_utc(1_700_000_000.25) == "2023-11-14T22:13:20.250Z"
