"""The doorbell session state machine (workflows/doorbell_session.asl.json) on moto, with the real
handlers of open_session, sample_door, stream_processor and stream_match; KVS, Rekognition and
the stream processor are fakes. Records go through moto's Kinesis to the match function."""

from __future__ import annotations

import time
from typing import Any

from smartdoor.domain.doorbell import budget_day
from smartdoor.domain.records import parse_record
from smartdoor_local.workflows import wait_for_state
from tests.fakes import FakeFaceEngine
from tests.workflows.conftest import DOOR_ID, VIDEO_STREAM_ARN, SmartDoorOnMoto
from tests.workflows.doorbell_world import Doorbell, doorbell

__all__ = ["doorbell"]  # the fixture

OPEN = "Open or extend the door's session"
SEARCH = "Search the newest camera frame"
KEEP = "Keep sampling?"
WAIT = "Wait for the next sample"


class TinyFaces(FakeFaceEngine):
    """Every frame shows a face too small to count (a passer-by far away): nothing is ever decided."""

    def search(self, image: Any, threshold: float, max_faces: int) -> dict[str, Any]:
        answer = super().search(image, threshold, max_faces)
        answer["SearchedFaceBoundingBox"] = {"Width": 0.03, "Height": 0.04, "Left": 0.1, "Top": 0.1}
        return answer


def test_a_ring_searches_frames_until_the_match_function_decides_the_visit(
    doorbell: Doorbell, door: SmartDoorOnMoto
) -> None:
    # GIVEN a stranger at the door, and a ring
    execution = doorbell.ring()

    # WHEN the session runs
    finished = door.finish(execution)

    # THEN two frames went to face search, and the third sample saw the visit decided and stopped
    assert finished.status == "SUCCEEDED"
    assert finished.states == [
        OPEN,
        "New session?",
        SEARCH,
        KEEP,
        WAIT,
        SEARCH,
        KEEP,
        WAIT,
        SEARCH,
        KEEP,
        "Session over",
    ]
    outputs = doorbell.sample_outputs(finished.history)
    assert [o["searched"] for o in outputs] == [True, True, False]
    assert outputs[-1]["result"]["reason"] == "visit-decided"
    # AND the records in Kinesis are the stream processor's format, the door's, with the frames' times
    assert doorbell.pump is not None
    assert [r["PartitionKey"] for r in doorbell.pump.delivered] == [DOOR_ID, DOOR_ID]
    frames = [parse_record(r["Data"], {}) for r in doorbell.pump.delivered]
    assert [f.frame_time for f in frames] == [frame.frame_time for frame in doorbell.camera.frames]
    assert all(f.location.stream_arn == VIDEO_STREAM_ARN for f in frames)
    # AND the match function turned them into exactly one UnknownFaceDetected
    (event,) = door.bus_events("UnknownFaceDetected")
    assert event["detail"]["doorId"] == DOOR_ID
    assert event["detail"]["frame"]["source"] == "kvs"
    assert door.bus_events("KnownFaceDetected") == []
    session = doorbell.session_item()
    assert session is not None and (session["status"], session["endedReason"]) == ("ENDED", "visit-decided")


def test_the_unknown_visitor_workflow_runs_on_a_session_s_event_with_the_kvs_frame(
    doorbell: Doorbell, door: SmartDoorOnMoto
) -> None:
    # GIVEN the UnknownFaceDetected a session produced
    door.finish(doorbell.ring())
    (event,) = door.bus_events("UnknownFaceDetected")

    # WHEN the bus hands it to the unknown-visitor workflow
    execution = door.start("unknown_visitor", event)
    door.wait_for_owner(execution)

    # THEN the frame was fetched from KVS at the frame's own producer time, and the owner asked
    ((stream_arn, frame_time),) = door.frames.calls
    assert stream_arn == VIDEO_STREAM_ARN
    assert frame_time == event["detail"]["frame"]["frameTime"]


def test_a_ring_during_a_session_extends_it_and_the_second_execution_ends_at_once(
    doorbell: Doorbell, door: SmartDoorOnMoto
) -> None:
    # GIVEN a 2-second session sampling every second, with nothing in front of the camera yet
    doorbell.configure(SESSION_SECONDS="2", SAMPLING_INTERVAL_SECONDS="1")
    doorbell.camera.goes_dark(times=1000)
    first = doorbell.ring()
    wait_for_state(door.sfn, first, WAIT)
    opened = doorbell.session_item()
    assert opened is not None

    # WHEN someone rings again while it runs
    time.sleep(1)
    second = door.finish(doorbell.ring("MotionDetected"))

    # THEN the second execution only extended the session
    assert second.status == "SUCCEEDED"
    assert second.states == [OPEN, "New session?", "Running session extended"]
    assert second.state_output(OPEN)["session"]["sessionId"] == opened["sessionId"]
    # AND the first one kept sampling until the extended end
    finished = door.finish(first)
    assert finished.status == "SUCCEEDED"
    session = doorbell.session_item()
    assert session is not None
    assert session["rings"] == 2 and session["endsAt"] > opened["endsAt"]
    assert session["endedReason"] == "time-up"
    assert len(door.sfn.list_executions(stateMachineArn=doorbell.state_machine_arn)["executions"]) == 2


def test_several_samples_without_a_face_end_the_session(doorbell: Doorbell, door: SmartDoorOnMoto) -> None:
    doorbell.configure(MAX_EMPTY_SAMPLES="3")
    door.engine.search_finds_no_face(times=100)

    finished = door.finish(doorbell.ring())

    outputs = doorbell.sample_outputs(finished.history)
    assert [o["faceFound"] for o in outputs] == [False, False, False]
    assert outputs[-1]["result"]["reason"] == "no-face"
    assert doorbell.pump is not None
    assert [p["FaceSearchResponse"] for p in doorbell.pump.payloads] == [[], [], []]
    assert door.bus_events() == []


def test_a_session_sends_at_most_max_frames_per_session(doorbell: Doorbell, door: SmartDoorOnMoto) -> None:
    doorbell.configure(MAX_FRAMES_PER_SESSION="4")
    door.engine = TinyFaces()
    doorbell.configure()  # re-register with the new engine

    finished = door.finish(doorbell.ring())

    outputs = doorbell.sample_outputs(finished.history)
    assert len(door.engine.calls_to("search")) == 4 == len(outputs)
    assert outputs[-1]["result"]["reason"] == "session-frame-cap"
    assert door.bus_events() == []


def test_the_daily_cap_stops_sessions_and_emails_the_owner_once(
    doorbell: Doorbell, door: SmartDoorOnMoto
) -> None:
    # GIVEN a deployment allowed 3 frames a day, and faces that never decide anything
    doorbell.configure(MAX_FRAMES_PER_DAY="3")
    door.engine = TinyFaces()
    doorbell.configure()

    # WHEN two sessions run the same day
    first = door.finish(doorbell.ring())
    second = door.finish(doorbell.ring())

    # THEN 3 frames were searched in all, both stopped on the cap, and the owner got one email
    assert len(door.engine.calls_to("search")) == 3
    assert doorbell.sample_outputs(first.history)[-1]["result"]["reason"] == "daily-frame-cap"
    assert doorbell.sample_outputs(second.history) == [
        {
            "continue": False,
            "waitSeconds": 0,
            "framesSent": 0,
            "searched": False,
            "faceFound": False,
            "result": {
                "continue": False,
                "waitSeconds": 0,
                "framesSent": 0,
                "searched": False,
                "faceFound": False,
                "reason": "daily-frame-cap",
            },
        }
    ]
    emails = [e for e in door.emails() if "daily face-search limit" in e.subject]
    assert len(emails) == 1
    budget = door.item("visits", pk=f"BUDGET#{budget_day(time.time())}", sk="FRAMES")
    assert budget is not None and budget["frames"] == 3


def test_with_a_stream_processor_the_session_runs_it_for_the_session_only(
    doorbell: Doorbell, door: SmartDoorOnMoto
) -> None:
    # GIVEN faceSource=streamProcessor and a 2-second session
    doorbell.configure(FACE_SOURCE="streamProcessor", SESSION_SECONDS="2")

    finished = door.finish(doorbell.ring())

    # THEN the processor was started, the session watched until its end, and the processor stopped
    assert finished.status == "SUCCEEDED"
    assert finished.states[:3] == [OPEN, "New session?", "Start the stream processor"]
    assert finished.states[-2:] == ["Stop the stream processor", "Session over"]
    assert "Watch the session" in finished.states and SEARCH not in finished.states
    assert doorbell.processor.actions == ["start", "stop"] and doorbell.processor.status == "STOPPED"
    assert door.engine.calls == [] and doorbell.camera.calls == []
    session = doorbell.session_item()
    assert session is not None and session["endedReason"] == "time-up"


def test_a_processor_still_stopping_is_retried_until_it_starts(
    doorbell: Doorbell, door: SmartDoorOnMoto
) -> None:
    doorbell.configure(FACE_SOURCE="streamProcessor", SESSION_SECONDS="1")
    doorbell.processor.busy_times = 1

    finished = door.finish(doorbell.ring())

    assert finished.status == "SUCCEEDED"
    assert finished.failures_of("Start the stream processor") == ["ProcessorBusy"]
    assert doorbell.processor.actions == ["start", "start", "stop"]


def test_a_failed_sample_closes_the_session_so_the_next_ring_starts_afresh(
    doorbell: Doorbell, door: SmartDoorOnMoto
) -> None:
    # GIVEN face search failing in a way no retry fixes
    class Broken(FakeFaceEngine):
        def search(self, image: Any, threshold: float, max_faces: int) -> dict[str, Any]:
            raise RuntimeError("AccessDeniedException: not allowed to search")

    healthy = door.engine
    door.engine = Broken()
    doorbell.configure()

    finished = door.finish(doorbell.ring())

    # THEN the session is closed and the execution failed, saying so
    assert finished.status == "FAILED"
    assert finished.states[-2:] == ["Close the session after a failure", "Session failed"]
    closed = doorbell.session_item()
    assert closed is not None and (closed["status"], closed["endedReason"]) == ("ENDED", "failed")

    # AND the next ring starts a new session
    door.engine = healthy
    doorbell.configure()
    retried = door.finish(doorbell.ring())
    assert retried.state_output(OPEN)["session"]["started"] is True
    assert retried.state_output(OPEN)["session"]["sessionId"] != closed["sessionId"]


def test_an_event_for_another_door_opens_nothing(doorbell: Doorbell, door: SmartDoorOnMoto) -> None:
    finished = door.finish(doorbell.ring(door_id="garage"))

    assert finished.status == "FAILED"
    assert finished.states == [OPEN, "Not a door event of this deployment"]
    assert finished.description.get("error") == "SmartDoor.NotThisDoor"
    assert doorbell.session_item() is None
