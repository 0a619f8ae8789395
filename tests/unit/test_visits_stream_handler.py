"""The stream_match handler on in-memory adapters: Kinesis batches in, events and logged counts out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from smartdoor.adapters.event_bus import RecordingEventBus
from smartdoor.adapters.visit_store import InMemoryVisitStore
from smartdoor.domain.visits import visit_id_for
from smartdoor.settings import reset_settings_cache
from stream_match.handler import handler
from tests.fixtures.counts import logged_counts
from tests.fixtures.face_search import (
    DOOR_ID,
    STREAM_ARN,
    VISIT_START,
    LambdaContext,
    RawPayload,
    blurry_face,
    failed_sequence_numbers,
    kinesis_event,
    known_face,
    record,
    sequence_number,
    snapshot,
    tiny_face,
    unknown_face,
    visit,
)


@pytest.fixture(autouse=True)
def settings_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("VISITS_TABLE", "smartdoor-visits")
    monkeypatch.setenv("EVENT_BUS_NAME", "smartdoor")
    monkeypatch.setenv("DOOR_ID", DOOR_ID)
    monkeypatch.setenv("VIDEO_STREAM_ARN", STREAM_ARN)
    reset_settings_cache()
    yield
    reset_settings_cache()


@pytest.fixture
def store() -> InMemoryVisitStore:
    return InMemoryVisitStore()


@pytest.fixture
def bus() -> RecordingEventBus:
    return RecordingEventBus()


def invoke(event: dict[str, Any], store: InMemoryVisitStore, bus: RecordingEventBus) -> dict[str, Any]:
    return handler(event, LambdaContext(), store=store, bus=bus)


def detail_types(bus: RecordingEventBus) -> list[str]:
    return [event.detail_type for event in bus.published]


def test_sixty_second_unknown_visit_in_one_batch_gives_one_event(
    store: InMemoryVisitStore, bus: RecordingEventBus, caplog: pytest.LogCaptureFixture
) -> None:
    response = invoke(kinesis_event(visit(60, 2, lambda i: [unknown_face()])), store, bus)

    assert response == {"batchItemFailures": []}
    assert detail_types(bus) == ["UnknownFaceDetected"]
    counts = logged_counts(caplog.records)
    assert counts["Records"] == 120
    assert counts["Faces"] == 120
    assert counts["VisitsOpened"] == 1
    assert counts["EventsEmitted"] == 1


def test_known_visit_split_over_many_batches_gives_one_event(
    store: InMemoryVisitStore, bus: RecordingEventBus
) -> None:
    records = visit(60, 2, lambda i: [known_face("visitor-alice", "face-a1", 99.2)])
    for start in range(0, len(records), 7):
        assert invoke(kinesis_event(records[start : start + 7], first_sequence=start), store, bus) == {
            "batchItemFailures": []
        }

    (event,) = bus.published
    detail = json.loads(event.detail)
    assert (event.detail_type, detail["faceId"], detail["visitorId"], detail["similarity"]) == (
        "KnownFaceDetected",
        "face-a1",
        "visitor-alice",
        99.2,
    )


def test_tiny_or_blurry_faces_alone_give_nothing(
    store: InMemoryVisitStore, bus: RecordingEventBus, caplog: pytest.LogCaptureFixture
) -> None:
    event = kinesis_event(visit(60, 2, lambda i: [tiny_face()] if i % 2 else [blurry_face()]))

    assert invoke(event, store, bus) == {"batchItemFailures": []}

    assert bus.published == []
    assert store.visits == {}
    counts = logged_counts(caplog.records)
    assert counts["FacesSkippedByGate"] == 120
    assert counts["VisitsOpened"] == 0


def test_a_batch_of_empty_frames_writes_no_info_line(
    store: InMemoryVisitStore, bus: RecordingEventBus, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a stream processor's records with nobody at the door (two a second, faces or not)
    event = kinesis_event(visit(10, 2, lambda i: []))

    assert invoke(event, store, bus) == {"batchItemFailures": []}

    # THEN nothing is logged at INFO: an idle camera adds no log ingestion
    assert [r.getMessage() for r in caplog.records if r.levelname == "INFO"] == []
    assert logged_counts(caplog.records) == {}


def test_malformed_records_in_the_middle_lose_none_of_their_neighbours_effects(
    store: InMemoryVisitStore,
    bus: RecordingEventBus,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # GIVEN a batch where the only two frames of a stranger surround bad records of every kind
    secret = "+15551234567"
    payloads: list[Any] = [
        record(VISIT_START, [unknown_face()]),
        RawPayload("this is not base64!"),
        b"{not json",
        {"FaceSearchResponse": "nope", "note": secret},
        record(VISIT_START + 0.2, [unknown_face()], stream_arn="arn:aws:kinesisvideo:us-east-1:1:stream/x/1"),
        record(VISIT_START + 0.5, [unknown_face()]),
    ]

    response = invoke(kinesis_event(payloads), store, bus)

    # THEN the batch succeeds, the two good frames decided the event, the bad ones were counted
    assert response == {"batchItemFailures": []}
    assert detail_types(bus) == ["UnknownFaceDetected"]
    stored = store.load(DOOR_ID)
    assert stored is not None and stored.state.last_frame_at == pytest.approx(VISIT_START + 0.5)
    assert logged_counts(caplog.records)["MalformedRecords"] == 4
    skipped = [r for r in caplog.records if r.getMessage() == "Skipped a malformed face-search record"]
    assert sorted(r.__dict__["reason"] for r in skipped) == [
        "bad-shape",
        "not-base64",
        "not-json",
        "unmapped-stream",
    ]
    # AND no payload was dumped into the logs
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert secret not in logged
    assert "this is not base64" not in logged
    assert "FaceSearchResponse" in logged  # the field that was wrong is named


def test_transient_failure_fails_only_its_own_door_and_the_retry_completes(store: InMemoryVisitStore) -> None:
    # GIVEN a batch with two doors, and the bus down for the first publish
    bus = RecordingEventBus()
    bus.fail_next(1)
    payloads = [
        record(VISIT_START, [unknown_face()]),  # 1 front door
        snapshot(VISIT_START + 0.1, [unknown_face()]),  # 2 back door
        record(VISIT_START + 0.5, [unknown_face()]),  # 3 front door: decides -> publish fails
        snapshot(VISIT_START + 0.6, [unknown_face()]),  # 4 back door: decides -> publishes
        record(VISIT_START + 1.0, [unknown_face()]),  # 5 front door: after a failure of its door
    ]

    response = invoke(kinesis_event(payloads), store, bus)

    # THEN the failed record and the later one of the same door are reported, the back door went through
    assert failed_sequence_numbers(response) == [sequence_number(3), sequence_number(5)]
    assert [json.loads(e.detail)["doorId"] for e in bus.published] == ["back-door"]
    front = store.load(DOOR_ID)
    assert front is not None and front.state.last_frame_at == pytest.approx(VISIT_START)

    # WHEN Kinesis retries from the first failure (everything after it comes again)
    retry = invoke(kinesis_event(payloads[2:], first_sequence=3), store, bus)

    # THEN the front door's event goes out once and the back door's is not repeated
    assert retry == {"batchItemFailures": []}
    assert sorted(json.loads(e.detail)["doorId"] for e in bus.published) == ["back-door", "front-door"]


def test_rejected_entries_fail_their_record(store: InMemoryVisitStore, bus: RecordingEventBus) -> None:
    bus.reject_next(1)
    payloads = [record(VISIT_START, [unknown_face()]), record(VISIT_START + 0.5, [unknown_face()])]

    response = invoke(kinesis_event(payloads), store, bus)

    assert failed_sequence_numbers(response) == [sequence_number(2)]
    assert bus.published == []
    assert store.claims == {}


def test_a_later_visit_gives_new_events(store: InMemoryVisitStore, bus: RecordingEventBus) -> None:
    first = visit(10, 2, lambda i: [unknown_face()])
    later = visit(10, 2, lambda i: [unknown_face()], start=VISIT_START + 300)

    invoke(kinesis_event(first), store, bus)
    invoke(kinesis_event(later, first_sequence=100), store, bus)

    visit_ids = [json.loads(e.detail)["visitId"] for e in bus.published]
    assert visit_ids == [visit_id_for(DOOR_ID, VISIT_START), visit_id_for(DOOR_ID, VISIT_START + 300)]


def test_whole_batch_of_failures_is_reported_record_by_record(
    store: InMemoryVisitStore, bus: RecordingEventBus
) -> None:
    # GIVEN a stranger's first frame counted, and another invocation holding the claim on the event
    invoke(kinesis_event([record(VISIT_START, [unknown_face()])]), store, bus)
    store.claim(visit_id_for(DOOR_ID, VISIT_START), "unknown", "another-invocation")

    # WHEN a batch whose only record decides that event arrives
    response = invoke(
        kinesis_event([record(VISIT_START + 0.5, [unknown_face()])], first_sequence=2), store, bus
    )

    # THEN the handler returns the failure instead of raising, so Kinesis retries just that record
    assert failed_sequence_numbers(response) == [sequence_number(2)]
    assert bus.published == []


def test_settings_rules_reach_the_decision(
    monkeypatch: pytest.MonkeyPatch, store: InMemoryVisitStore, bus: RecordingEventBus
) -> None:
    # GIVEN a deployment that needs 5 frames and a 99.5 similarity
    monkeypatch.setenv("MIN_FRAMES_FOR_DECISION", "5")
    monkeypatch.setenv("FACE_MATCH_THRESHOLD", "99.5")
    reset_settings_cache()
    records = visit(2, 2, lambda i: [known_face(similarity=99.2)])  # 4 frames below the threshold

    invoke(kinesis_event(records), store, bus)
    assert bus.published == []

    invoke(
        kinesis_event([record(VISIT_START + 2, [known_face(similarity=99.2)])], first_sequence=9), store, bus
    )
    assert detail_types(bus) == ["UnknownFaceDetected"]
