"""smartdoor replay: a trace of face-search records in, exactly the match function's events out.

The records run through the real stream_match handler on an ephemeral local stack (moto in the
test's process, nothing listening); the output is every event put on the bus, one JSON object
per line, in order.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from smartdoor_local.cli import main
from smartdoor_local.replay import TraceError, default_stream_arn, read_trace

STREAM = "arn:aws:kinesisvideo:us-east-1:123456789012:stream/front-door/1700000000000"
T0 = 1_700_000_000.0
BOX = {"Width": 0.2, "Height": 0.3, "Left": 0.4, "Top": 0.3}


def frame(
    producer: float, similarities: list[float] = (), door_id: str | None = None, **face: Any
) -> dict[str, Any]:
    """A stream-processor record: one face, matching Anna's collection face at `similarities`."""
    record: dict[str, Any] = {
        "InputInformation": {
            "KinesisVideo": {
                "StreamArn": STREAM,
                "FragmentNumber": f"9134385233318143239268206260774392014626457{int(producer) % 10000:04d}",
                "ServerTimestamp": producer + 0.25,
                "ProducerTimestamp": producer,
                "FrameOffsetInSeconds": 0.5,
            }
        },
        "StreamProcessorInformation": {"Status": "RUNNING"},
        "FaceSearchResponse": [
            {
                "DetectedFace": {
                    "BoundingBox": BOX,
                    "Confidence": face.get("confidence", 99.9),
                    "Quality": {"Brightness": 60.0, "Sharpness": face.get("sharpness", 80.0)},
                },
                "MatchedFaces": [
                    {
                        "Similarity": similarity,
                        "Face": {
                            "FaceId": "f-anna",
                            "ExternalImageId": "vis-anna",
                            "ImageId": "i-anna",
                            "Confidence": 99.9,
                            "BoundingBox": {"Width": 0.5, "Height": 0.5, "Left": 0.2, "Top": 0.2},
                        },
                    }
                    for similarity in similarities
                ],
            }
        ],
    }
    if door_id:
        record["doorId"] = door_id
    return record


def location(producer: float) -> dict[str, Any]:
    return {
        "source": "kvs",
        "frameTime": producer + 0.5,
        "streamArn": STREAM,
        "fragmentNumber": f"9134385233318143239268206260774392014626457{int(producer) % 10000:04d}",
        "producerTimestamp": producer,
        "serverTimestamp": producer + 0.25,
        "frameOffsetInSeconds": 0.5,
    }


# Anna at the door for three frames (best sighting: the second, 99.1 %); five minutes later an
# unknown face for two frames.
A_DAY = [
    frame(T0, [98.0]),
    frame(T0 + 1, [99.1]),
    frame(T0 + 2, [99.0]),
    frame(T0 + 300),
    frame(T0 + 301),
]
ANNA_KNOWN = {
    "detail-type": "KnownFaceDetected",
    "detail": {
        "version": "1",
        "visitId": "front-door-1700000000500",
        "doorId": "front-door",
        "detectedAt": "2023-11-14T22:13:21.500Z",
        "frame": location(T0 + 1),
        "boundingBox": BOX,
        "confidence": 99.9,
        "faceId": "f-anna",
        "visitorId": "vis-anna",
        "similarity": 99.1,
    },
}
STRANGER = {
    "detail-type": "UnknownFaceDetected",
    "detail": {
        "version": "1",
        "visitId": "front-door-1700000300500",
        "doorId": "front-door",
        "detectedAt": "2023-11-14T22:18:20.500Z",
        "frame": location(T0 + 300),
        "boundingBox": BOX,
        "confidence": 99.9,
    },
}


def write_trace(path: Path, records: list[dict[str, Any]], extra_lines: list[str] = ()) -> Path:
    path.write_text("\n".join([*(json.dumps(r) for r in records), *extra_lines]) + "\n", encoding="utf-8")
    return path


def replay_events(
    capsys: pytest.CaptureFixture[str], trace: Path, *options: str
) -> tuple[int, list[dict[str, Any]], str]:
    status = main(["replay", str(trace), *options])
    captured = capsys.readouterr()
    return status, [json.loads(line) for line in captured.out.splitlines()], captured.err


def test_a_recorded_day_gives_exactly_the_match_functions_events(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, events, err = replay_events(capsys, write_trace(tmp_path / "day.jsonl", A_DAY))
    assert status == 0
    assert events == [ANNA_KNOWN, STRANGER]
    assert "5 records in, 2 events out" in err


def test_a_stricter_threshold_turns_anna_into_a_stranger(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, events, _ = replay_events(
        capsys, write_trace(tmp_path / "day.jsonl", A_DAY), "--threshold", "99.5"
    )
    assert status == 0
    # Unknown from her first frame on: the best unknown face is the first (same confidence and size).
    first_visit = dict(STRANGER["detail"], visitId="front-door-1700000000500")
    first_visit |= {"detectedAt": "2023-11-14T22:13:20.500Z", "frame": location(T0)}
    assert events == [{"detail-type": "UnknownFaceDetected", "detail": first_visit}, STRANGER]


def test_more_frames_per_decision_and_a_shorter_gap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = write_trace(tmp_path / "day.jsonl", A_DAY)
    status, events, _ = replay_events(capsys, trace, "--min-frames", "3")
    assert status == 0
    # Anna is seen three times: known on the third frame; the stranger's two frames decide nothing.
    assert [e["detail-type"] for e in events] == ["KnownFaceDetected"]
    assert events[0]["detail"]["similarity"] == 99.1

    status, events, _ = replay_events(capsys, trace, "--visit-gap", "0.5")
    # Frames 1 s apart are each a new visit: nobody reaches two frames.
    assert (status, events) == (0, [])


def test_the_quality_gate_is_tunable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blurred = [frame(T0, [99.0], sharpness=15.0), frame(T0 + 1, [99.0], sharpness=15.0)]
    trace = write_trace(tmp_path / "blurred.jsonl", blurred)
    assert replay_events(capsys, trace)[1] == []
    status, events, _ = replay_events(capsys, trace, "--min-sharpness", "10")
    assert status == 0 and [e["detail"]["visitorId"] for e in events] == ["vis-anna"]


def test_records_with_a_door_id_need_no_stream(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = [frame(T0, [99.0], door_id="back-door"), frame(T0 + 1, [99.0], door_id="back-door")]
    status, events, _ = replay_events(capsys, write_trace(tmp_path / "back.jsonl", records))
    assert status == 0
    assert [(e["detail-type"], e["detail"]["doorId"], e["detail"]["visitId"]) for e in events] == [
        ("KnownFaceDetected", "back-door", "back-door-1700000000500")
    ]


def test_malformed_records_are_skipped_as_the_lambda_skips_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = frame(T0 + 0.5, [99.0])
    del broken["FaceSearchResponse"]
    trace = write_trace(tmp_path / "day.jsonl", [A_DAY[0], broken, *A_DAY[1:]], extra_lines=["", "   "])
    status, events, err = replay_events(capsys, trace)
    assert status == 0
    assert events == [ANNA_KNOWN, STRANGER]
    assert "line 2: skipped by the match function (malformed record" in err


@pytest.mark.parametrize(
    ("line", "problem"), [("{not json", "line 2 is not JSON"), ("[1, 2]", "line 2 is not a JSON object")]
)
def test_a_trace_that_is_not_json_lines_is_refused_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, problem: str
) -> None:
    trace = tmp_path / "bad.jsonl"
    trace.write_text(json.dumps(A_DAY[0]) + "\n" + line + "\n", encoding="utf-8")
    status = main(["replay", str(trace)])
    captured = capsys.readouterr()
    assert status == 2
    assert captured.out == ""
    assert problem in captured.err


def test_a_missing_trace_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(tmp_path / "nowhere.jsonl")]) == 2
    assert "no such trace file" in capsys.readouterr().err


def test_reading_a_trace() -> None:
    assert read_trace(["", json.dumps({"a": 1}), "  "]) == [(2, {"a": 1})]
    with pytest.raises(TraceError, match="line 1"):
        read_trace(["nope"])
    assert default_stream_arn([{"doorId": "x"}, A_DAY[0]]) == STREAM
    assert default_stream_arn([{"doorId": "x"}]) is None


def test_the_command_needs_no_server(tmp_path: Path) -> None:
    """The installed console script, in its own process, with nothing else running."""
    trace = write_trace(tmp_path / "day.jsonl", A_DAY)
    command = Path(sys.executable).with_name("smartdoor")  # make install puts it beside python
    done = subprocess.run(  # noqa: S603 - our own console script, fixed arguments
        [str(command), "replay", str(trace)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert [json.loads(line) for line in done.stdout.splitlines()] == [ANNA_KNOWN, STRANGER]


def test_why_records_decided_nothing_is_said(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN Anna's day with one frame delivered twice (Kinesis is at-least-once), an empty frame and a
    # blurred one
    records = [A_DAY[0], A_DAY[1], A_DAY[1], frame(T0 + 1.5, [99.0], sharpness=5.0), *A_DAY[2:]]
    records.insert(1, {**frame(T0 + 0.2), "FaceSearchResponse": []})
    status, events, err = replay_events(capsys, write_trace(tmp_path / "day.jsonl", records))

    # THEN the events are the same, and stderr says which records were dropped, and why
    assert status == 0 and events == [ANNA_KNOWN, STRANGER]
    assert (
        "1 record dropped as duplicates: a frame at or before the last one counted for its door "
        "(sent twice, or out of order): line 4"
    ) in err
    assert "1 record dropped by the quality gate, every face below it (1 blurry): line 5" in err
    assert "1 record without a face (nobody in the frame)" in err


SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "front-door-day.jsonl"


def test_the_sample_trace_replays_as_documented(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN the trace shipped in samples/ (docs/local.md walks through it)
    status, events, err = replay_events(capsys, SAMPLE)

    # THEN Anna is known in the morning, the courier unknown at noon, and every drop is explained
    assert status == 0
    assert [(e["detail-type"], e["detail"].get("visitorId"), e["detail"]["detectedAt"]) for e in events] == [
        ("KnownFaceDetected", "vis-3f2a9c41d07b8e65", "2026-01-07T07:30:02.000Z"),
        ("UnknownFaceDetected", None, "2026-01-07T12:30:01.000Z"),
    ]
    assert "18 records in, 2 events out" in err
    assert "2 records dropped as duplicates" in err and "lines 6, 13" in err
    assert (
        "5 records dropped by the quality gate, every face below it "
        "(1 blurry, 1 low-confidence, 2 too-dark, 1 too-small): lines 3, 9, 10, 16, 17"
    ) in err
    assert "5 records without a face" in err
    assert "line 15: skipped by the match function (malformed record: bad-shape)" in err
    # AND with a looser brightness gate the evening's two dark frames become one more unknown visit
    status, events, _ = replay_events(capsys, SAMPLE, "--min-brightness", "5")
    assert [e["detail-type"] for e in events] == [
        "KnownFaceDetected",
        "UnknownFaceDetected",
        "UnknownFaceDetected",
    ]
