"""Parsing face-search records (Rekognition's format plus the doorbell-session fields)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from smartdoor.domain.records import MalformedRecord, parse_record
from tests.fixtures.face_search import (
    DOOR_ID,
    PUBLISHED_EXAMPLE_STREAM_ARN,
    STREAM_ARN,
    VISIT_START,
    known_face,
    load,
    record,
    snapshot,
)

DOORS = {STREAM_ARN: DOOR_ID, PUBLISHED_EXAMPLE_STREAM_ARN: "example-door"}


def parse(data: dict[str, Any]) -> Any:
    return parse_record(json.dumps(data).encode(), DOORS)


def test_published_example_parses_with_frame_time_and_kvs_location() -> None:
    # GIVEN the record shaped like AWS's published example
    data = load("aws_published_example")

    # WHEN it is parsed
    frame = parse(data)

    # THEN the frame time is ProducerTimestamp + FrameOffsetInSeconds and the location is the fragment
    assert frame.door_id == "example-door"
    assert frame.frame_time == pytest.approx(1510552593.193 + 2)
    assert frame.location.source == "kvs"
    assert frame.location.stream_arn == PUBLISHED_EXAMPLE_STREAM_ARN
    assert frame.location.fragment_number == "91343852333289682796718532614445757584843717598"
    assert frame.location.server_timestamp == pytest.approx(1510552593.455)
    (result,) = frame.faces
    assert result.DetectedFace.Confidence == pytest.approx(99.975174)
    assert result.DetectedFace.BoundingBox.Width == pytest.approx(0.05625)
    assert result.DetectedFace.Quality is not None
    assert result.DetectedFace.Quality.Sharpness == pytest.approx(96.09616)
    assert result.MatchedFaces[0].Face.ExternalImageId == "matchedImage.jpeg"


def test_scientific_notation_strings_and_numbers_are_read_as_floats() -> None:
    # GIVEN timestamps, ratios, scores as "1.510552593455E9"-style strings; a numeric fragment number
    frame = parse(load("scientific_notation"))

    # THEN every value is the float it denotes
    assert frame.location.server_timestamp == pytest.approx(1510552593.455)
    assert frame.frame_time == pytest.approx(1510552593.193 + 0.25)
    assert frame.location.fragment_number == "91343852333289682796718532614445757584843717598"
    face = frame.faces[0].DetectedFace
    assert face.Confidence == pytest.approx(99.9)
    assert face.BoundingBox.Height == pytest.approx(0.25)
    assert face.Quality is not None and face.Quality.Brightness == pytest.approx(60.0)


def test_builder_records_in_scientific_notation_keep_millisecond_frame_times() -> None:
    frame = parse(record(VISIT_START + 3.5, [known_face()], scientific=True))
    assert frame.frame_time == pytest.approx(VISIT_START + 3.5, abs=1e-6)


def test_record_without_faces_is_a_frame_without_faces() -> None:
    frame = parse(load("no_faces"))
    assert frame.faces == ()
    assert frame.frame_time == pytest.approx(1_700_000_000.5)


def test_several_matches_of_one_face_are_all_kept() -> None:
    frame = parse(load("several_matches_one_person"))
    matches = frame.faces[0].MatchedFaces
    assert [m.Face.ExternalImageId for m in matches] == ["visitor-alice", "visitor-alice", "visitor-bob"]


def test_snapshot_record_uses_door_id_s3_location_and_frame_time() -> None:
    # GIVEN an edge-device snapshot record: no KinesisVideo, a doorId, an S3 key and a frameTime
    frame = parse(load("snapshot_record"))

    # THEN the door comes from the record and the location is the stored image
    assert frame.door_id == "back-door"
    assert frame.frame_time == pytest.approx(1700000100.25)
    assert frame.location.source == "s3"
    assert frame.location.s3_bucket == "smartdoor-photos-123456789012"
    assert frame.location.s3_key == "snapshots/back-door/1700000100250.jpg"
    assert frame.location.stream_arn is None


def test_door_id_in_record_wins_over_stream_mapping() -> None:
    # GIVEN a doorbell-session record from a stream no door is configured for
    data = load("doorbell_session_record")
    data["InputInformation"]["KinesisVideo"]["StreamArn"] = "arn:aws:kinesisvideo:us-east-1:1:stream/other/1"

    frame = parse(data)

    assert frame.door_id == "front-door"
    assert frame.location.source == "kvs"


def test_kinesis_video_frame_time_wins_over_frame_time_field() -> None:
    data = record(VISIT_START, [known_face()], door_id="front-door")
    data["frameTime"] = VISIT_START + 999
    assert parse(data).frame_time == pytest.approx(VISIT_START)


def test_unmapped_stream_is_malformed() -> None:
    data = record(VISIT_START, [known_face()], stream_arn="arn:aws:kinesisvideo:us-east-1:1:stream/unknown/1")
    with pytest.raises(MalformedRecord) as raised:
        parse(data)
    assert raised.value.reason == "unmapped-stream"


def test_not_json_is_malformed() -> None:
    with pytest.raises(MalformedRecord) as raised:
        parse_record(b"\x89PNG not json at all", DOORS)
    assert raised.value.reason == "not-json"


@pytest.mark.parametrize(
    "breakage",
    [
        pytest.param(lambda d: d.pop("FaceSearchResponse"), id="no FaceSearchResponse"),
        pytest.param(lambda d: d.update(FaceSearchResponse={"a": 1}), id="FaceSearchResponse not a list"),
        pytest.param(lambda d: d.pop("InputInformation"), id="no KinesisVideo and no snapshot fields"),
        pytest.param(
            lambda d: d["FaceSearchResponse"][0]["DetectedFace"].pop("BoundingBox"),
            id="face without bounding box",
        ),
        pytest.param(
            lambda d: d["FaceSearchResponse"][0]["DetectedFace"]["BoundingBox"].update(Width=1.7),
            id="box wider than 1",
        ),
        pytest.param(lambda d: d["FaceSearchResponse"][0]["DetectedFace"].update(Confidence="NaN"), id="NaN"),
        pytest.param(
            lambda d: d["FaceSearchResponse"][0]["DetectedFace"].update(Confidence=True), id="boolean"
        ),
        pytest.param(
            lambda d: d["FaceSearchResponse"][0]["DetectedFace"].update(Confidence="high"), id="word"
        ),
        pytest.param(
            lambda d: d["InputInformation"]["KinesisVideo"].pop("ProducerTimestamp"), id="no timestamp"
        ),
        pytest.param(lambda d: d.update(doorId="front door/../x"), id="door id with odd characters"),
        pytest.param(lambda d: d.update(doorId="d" * 65), id="door id too long"),
        pytest.param(
            lambda d: d["FaceSearchResponse"][0]["MatchedFaces"][0].pop("Face"), id="match without face"
        ),
    ],
)
def test_wrong_shape_is_malformed(breakage: Any) -> None:
    # GIVEN a good record with one thing broken
    data = record(VISIT_START, [known_face()])
    breakage(data)

    # WHEN it is parsed THEN it is rejected as bad-shape
    with pytest.raises(MalformedRecord) as raised:
        parse(data)
    assert raised.value.reason == "bad-shape"


def test_snapshot_without_frame_time_is_malformed() -> None:
    data = snapshot(VISIT_START, [known_face()])
    del data["frameTime"]
    with pytest.raises(MalformedRecord) as raised:
        parse(data)
    assert raised.value.reason == "bad-shape"
    assert "KinesisVideo" in raised.value.detail


@pytest.mark.parametrize("value", ["+15551234567", "call me on 5551234567"])
def test_malformed_detail_names_the_field_but_never_echoes_the_value(value: str) -> None:
    # GIVEN a record whose bad value looks like something personal
    data = record(VISIT_START, [known_face()])
    data["FaceSearchResponse"][0]["DetectedFace"]["Confidence"] = value

    with pytest.raises(MalformedRecord) as raised:
        parse(data)

    # THEN the explanation points at the field, and the value appears nowhere
    assert "FaceSearchResponse.0.DetectedFace.Confidence" in raised.value.detail
    assert "5551234567" not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


@pytest.mark.parametrize(
    ("value", "explanation"),
    [
        (True, "valid number"),
        ("NaN", "finite"),
        ("Infinity", "finite"),
        (150, "percentage"),
        ("1.5E2", "percentage"),
    ],
)
def test_number_problems_are_explained_once_per_field(value: Any, explanation: str) -> None:
    data = record(VISIT_START, [known_face()])
    data["FaceSearchResponse"][0]["DetectedFace"]["Confidence"] = value

    with pytest.raises(MalformedRecord) as raised:
        parse(data)

    assert raised.value.detail.count("FaceSearchResponse.0.DetectedFace.Confidence") == 1
    assert explanation in raised.value.detail
