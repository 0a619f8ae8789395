"""The real OpenCV source playing a --video file written in the test, and its clear errors."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from smartdoor_door.agent import Agent, pump_frames
from smartdoor_door.camera import CameraError, OpenCvSource, open_source
from smartdoor_door.motion import MotionDetector
from tests.door.conftest import door_scene, with_face, with_sensor_noise
from tests.door.test_motion_and_bursts import FakeClock, RecordingApi


def write_video(path: Path, frames: list[np.ndarray], fps: float = 15.0) -> Path:
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (width, height))
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def porch_video(path: Path, *, visitor: bool) -> Path:
    rng = np.random.default_rng(11)
    scene = door_scene()
    frames = [with_sensor_noise(scene, rng) for _ in range(30)]
    if visitor:
        frames += [with_sensor_noise(with_face(scene, x), rng) for x in range(-20, 160, 10)]
        frames += [with_sensor_noise(with_face(scene, 160), rng) for _ in range(30)]
    return write_video(path, frames)


def play(path: Path) -> tuple[RecordingApi, int]:
    api, clock = RecordingApi(), FakeClock()
    agent = Agent(api, MotionDetector(0.02, 15.0), burst_frames=6, upload_frames=3, clock=clock)  # type: ignore[arg-type]
    source = open_source("opencv", 0, path)
    try:
        count = pump_frames(source, agent, threading.Event(), frame_interval=1 / 15, sleep=_advance(clock))
    finally:
        source.close()
    return api, count


def _advance(clock: FakeClock):  # type: ignore[no-untyped-def]
    def sleep(seconds: float) -> None:
        clock.now += seconds

    return sleep


def test_a_video_of_a_visitor_played_as_the_camera_uploads_one_burst(tmp_path: Path) -> None:
    # GIVEN an MJPG .avi of a still porch, then a visitor walking up
    video = porch_video(tmp_path / "porch.avi", visitor=True)
    # WHEN it is played through the real OpenCV source
    api, count = play(video)
    # THEN every frame was read, and one burst of three JPEGs went out
    assert count == 30 + 18 + 30
    assert len(api.snapshots) == 3
    assert all(jpeg.startswith(b"\xff\xd8\xff") for jpeg in api.snapshots)


def test_a_video_of_an_empty_porch_uploads_nothing(tmp_path: Path) -> None:
    api, count = play(porch_video(tmp_path / "empty.avi", visitor=False))
    assert count == 30
    assert api.snapshots == []


def test_a_missing_video_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CameraError, match="no video file at"):
        OpenCvSource.video(tmp_path / "nope.avi")


def test_a_file_that_is_not_a_video_is_a_clear_error(tmp_path: Path) -> None:
    text = tmp_path / "notes.avi"
    text.write_text("not a video")
    with pytest.raises(CameraError, match="cannot play"):
        OpenCvSource.video(text)


def test_no_camera_at_an_index_is_a_clear_error() -> None:
    with pytest.raises(CameraError, match="no camera at index 63"):
        OpenCvSource.device(63)


def test_picamera2_absent_is_a_clear_error() -> None:
    try:
        import picamera2  # noqa: F401
    except ImportError:
        with pytest.raises(CameraError, match="picamera2 is not installed"):
            open_source("picamera2", 0, None)
    else:
        pytest.skip("picamera2 is installed here: this test is for machines without it")
