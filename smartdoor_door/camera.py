"""Frame sources: a webcam or a video file through OpenCV, or a Pi camera through picamera2.

Every source yields BGR numpy frames (OpenCV's order) and raises CameraError, with a sentence
for a person, when there is no camera or the file cannot be played.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np


class CameraError(Exception):
    """No camera, or it stopped giving frames."""


class FrameSource(Protocol):
    def read(self) -> np.ndarray | None:
        """The next frame, or None once a video file has ended."""
        ...

    def close(self) -> None: ...


class OpenCvSource:
    """cv2.VideoCapture on a device index (USB or laptop webcam) or a video file."""

    def __init__(self, capture: Any, name: str, *, is_file: bool) -> None:
        self._capture = capture
        self._name = name
        self._is_file = is_file

    @classmethod
    def device(cls, index: int) -> OpenCvSource:
        capture = cv2.VideoCapture(index)
        if not capture.isOpened():
            capture.release()
            raise CameraError(
                f"no camera at index {index}: plug one in, pick another with --camera N, "
                "play a file with --video FILE or run without a camera (--no-camera)"
            )
        return cls(capture, f"camera {index}", is_file=False)

    @classmethod
    def video(cls, path: Path) -> OpenCvSource:
        if not path.is_file():
            raise CameraError(f"no video file at {path}")
        capture = cv2.VideoCapture(str(path))
        ok, _ = capture.read() if capture.isOpened() else (False, None)
        if not ok:
            capture.release()
            raise CameraError(
                f"cannot play {path}: OpenCV reads no frame from it (not a video it can decode)"
            )
        capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
        return cls(capture, str(path), is_file=True)

    def read(self) -> np.ndarray | None:
        ok, frame = self._capture.read()
        if ok:
            return np.asarray(frame)
        if self._is_file:
            return None
        raise CameraError(f"{self._name} stopped giving frames (unplugged?)")

    def close(self) -> None:
        self._capture.release()


class Picamera2Source:
    """The Raspberry Pi camera (libcamera); picamera2 is imported only when asked for."""

    def __init__(self, camera: Any) -> None:
        self._camera = camera

    @classmethod
    def open(cls) -> Picamera2Source:
        try:
            picamera2 = importlib.import_module("picamera2")
        except ImportError:
            raise CameraError(
                "camera.source is picamera2 but picamera2 is not installed "
                "(on Raspberry Pi OS: sudo apt install python3-picamera2)"
            ) from None
        try:
            camera = picamera2.Picamera2()
            camera.configure(
                camera.create_video_configuration(main={"size": (1280, 720), "format": "BGR888"})
            )
            camera.start()
        except (RuntimeError, IndexError) as error:
            raise CameraError(f"no Pi camera found: {error}") from None
        return cls(camera)

    def read(self) -> np.ndarray | None:
        return np.asarray(self._camera.capture_array())

    def close(self) -> None:
        self._camera.stop()


def open_source(source: str, index: int, video: Path | None) -> FrameSource:
    """--video wins, then the configured source."""
    if video is not None:
        return OpenCvSource.video(video)
    if source == "picamera2":
        return Picamera2Source.open()
    return OpenCvSource.device(index)


def encode_jpeg(frame: np.ndarray, quality: int = 90) -> bytes:
    ok, buffer = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise CameraError("could not encode a frame as JPEG")
    return bytes(buffer.tobytes())
