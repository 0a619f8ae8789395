"""Records built from SearchFacesByImage answers: the stream processor's format, read back by the parser."""

from __future__ import annotations

import json
from typing import Any

import pytest

from smartdoor.domain.face_search_records import (
    StoredImageSource,
    VideoFrameSource,
    face_search_record,
)
from smartdoor.domain.quality import QualityGate
from smartdoor.domain.records import parse_record
from smartdoor.domain.visits import MatchRules, observe
from tests.fakes import FakeFaceEngine
from tests.fixtures.face_search import STREAM_ARN, load

FRAGMENT = VideoFrameSource(
    stream_arn=STREAM_ARN,
    fragment_number="91343852333289682796718532614445757584843717700",
    producer_timestamp=1_700_000_200.0,
    server_timestamp=1_700_000_200.8,
    frame_offset_seconds=0.5,
)
SNAPSHOT = StoredImageSource(
    bucket="smartdoor-photos-123456789012",
    key="snapshots/back-door/1700000100250-ab12cd34.jpg",
    frame_time=1_700_000_100.25,
)


def answer(visitor_id: str | None = "visitor-carol", similarity: float = 98.7) -> dict[str, Any]:
    """A SearchFacesByImage response as Rekognition answers it (the fake engine's shapes)."""
    engine = FakeFaceEngine(
        known={visitor_id: ["44444444-4444-4444-8444-444444444444"]} if visitor_id else {}
    )
    if visitor_id:
        engine.will_match(visitor_id, similarity=similarity)
    return engine.search(b"jpeg", threshold=90, max_faces=10)


def parse(record: dict[str, Any]) -> Any:
    return parse_record(json.dumps(record).encode(), {})


def test_a_video_frame_record_has_the_stream_processor_shape_and_the_door() -> None:
    # GIVEN a SearchFacesByImage answer that matched a known visitor on a KVS frame
    record = face_search_record(answer(), door_id="front-door", source=FRAGMENT)

    # THEN the record has the same keys as the documented session record fixture
    fixture = load("doorbell_session_record")
    assert set(record) == set(fixture) | {"StreamProcessorInformation"}
    assert set(record["InputInformation"]["KinesisVideo"]) == set(fixture["InputInformation"]["KinesisVideo"])
    assert set(record["FaceSearchResponse"][0]) == {"DetectedFace", "MatchedFaces"}
    match = record["FaceSearchResponse"][0]["MatchedFaces"][0]
    assert set(match["Face"]) == set(fixture["FaceSearchResponse"][0]["MatchedFaces"][0]["Face"])
    assert "IndexFacesModelVersion" not in match["Face"]

    # AND the match function reads it as a frame of that door at producer time + offset
    frame = parse(record)
    assert frame.door_id == "front-door"
    assert frame.frame_time == pytest.approx(1_700_000_200.5, abs=1e-3)
    assert frame.location.source == "kvs"
    assert frame.location.fragment_number == FRAGMENT.fragment_number
    assert frame.location.server_timestamp == pytest.approx(1_700_000_200.8, abs=1e-3)
    (face,) = frame.faces
    assert face.DetectedFace.BoundingBox.Width == pytest.approx(0.2)
    assert face.DetectedFace.Confidence == pytest.approx(99.9)
    assert face.DetectedFace.Quality is None
    assert face.MatchedFaces[0].Face.ExternalImageId == "visitor-carol"
    assert face.MatchedFaces[0].Similarity == pytest.approx(98.7)
    assert not frame.single_image


def test_a_frame_without_a_face_is_an_empty_record_not_an_error() -> None:
    record = face_search_record(None, door_id="front-door", source=FRAGMENT)

    assert record["FaceSearchResponse"] == []
    frame = parse(record)
    assert frame.faces == ()
    assert frame.frame_time == pytest.approx(FRAGMENT.frame_time, abs=1e-3)


def test_a_snapshot_record_names_the_stored_image_and_decides_alone() -> None:
    # GIVEN an unmatched face in an uploaded snapshot
    record = face_search_record(answer(None), door_id="back-door", source=SNAPSHOT, single_image=True)

    # THEN there is no KinesisVideo, the S3 location and frame time are there
    assert "InputInformation" not in record
    assert record["s3Key"] == SNAPSHOT.key and record["s3Bucket"] == SNAPSHOT.bucket
    frame = parse(record)
    assert frame.location.source == "s3"
    assert frame.location.s3_key == SNAPSHOT.key
    assert frame.frame_time == pytest.approx(SNAPSHOT.frame_time, abs=1e-3)
    assert frame.single_image

    # AND with the default two-frame rule, this one record decides the visit
    observation = observe(None, frame, MatchRules(min_frames_for_decision=2))
    assert [e.detail_type.value for e in observation.emissions] == ["UnknownFaceDetected"]
    assert observation.emissions[0].detail.frame.s3_key == SNAPSHOT.key


def test_an_ordinary_frame_still_needs_the_configured_number_of_frames() -> None:
    frame = parse(face_search_record(answer(None), door_id="front-door", source=FRAGMENT))

    assert observe(None, frame, MatchRules(min_frames_for_decision=2)).emissions == ()


def test_quality_when_known_is_carried_and_judged_by_the_gate() -> None:
    record = face_search_record(
        answer(None), door_id="front-door", source=FRAGMENT, quality={"Brightness": 70.0, "Sharpness": 5.0}
    )

    frame = parse(record)
    assert frame.faces[0].DetectedFace.Quality is not None
    assert QualityGate().skip_reason(frame.faces[0].DetectedFace) is not None  # too blurred


@pytest.mark.parametrize(
    "door_id", ["", "front door", "door/../x", "d" * 65], ids=["empty", "space", "slash", "too long"]
)
def test_a_door_id_the_match_function_would_refuse_is_refused_here(door_id: str) -> None:
    with pytest.raises(ValueError, match="door_id"):
        face_search_record(None, door_id=door_id, source=FRAGMENT)


def test_an_answer_that_is_not_search_faces_by_image_is_refused() -> None:
    with pytest.raises(ValueError, match="SearchedFaceBoundingBox"):
        face_search_record({"FaceMatches": []}, door_id="front-door", source=FRAGMENT)


@pytest.mark.parametrize(
    "build",
    [
        lambda: VideoFrameSource(STREAM_ARN, "", 1.0, 1.0),
        lambda: VideoFrameSource(STREAM_ARN, "1", float("nan"), 1.0),
        lambda: VideoFrameSource(STREAM_ARN, "1", 1.0, 1.0, -0.1),
        lambda: StoredImageSource("bucket", "", 1.0),
        lambda: StoredImageSource("bucket", "key", float("inf")),
    ],
    ids=["no fragment", "nan time", "negative offset", "no key", "infinite time"],
)
def test_sources_refuse_values_that_would_make_a_malformed_record(build: Any) -> None:
    with pytest.raises(ValueError):
        build()


def test_a_single_image_flag_that_is_not_a_boolean_makes_the_record_malformed() -> None:
    from smartdoor.domain.records import MalformedRecord

    record = face_search_record(None, door_id="back-door", source=SNAPSHOT)
    record["singleImage"] = "yes"
    with pytest.raises(MalformedRecord):
        parse(record)
