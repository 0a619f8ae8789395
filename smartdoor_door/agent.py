"""The door agent's loop: frames in, motion or a ring out as a few sharp snapshots.

Nothing is uploaded unless motion was seen or the bell rang (cost and privacy): a still door
sends nothing. Motion or a ring starts a burst of `burst_frames` frames spread over
`burst_seconds` (motion is first seen as someone steps into the picture: a face is usually in
full view a second later); the `upload_frames` sharpest of them go to the snapshot route. A
ring also goes to the ring route, exactly once per press. Uploads run on a worker thread so the
camera keeps being read while the API is slow or being retried.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

import numpy as np

from smartdoor_door.camera import FrameSource, encode_jpeg
from smartdoor_door.motion import MotionDetector
from smartdoor_door.sharpness import sharpest
from smartdoor_door.uploads import ApiError, DoorApi

logger = logging.getLogger(__name__)
Job = Callable[[], None]


def run_now(job: Job) -> None:
    job()


class Worker:
    """One background thread running jobs in order (uploads, rings)."""

    def __init__(self) -> None:
        self._jobs: queue.Queue[Job | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="smartdoor-uploads", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, job: Job) -> None:
        self._jobs.put(job)

    def stop(self, timeout: float = 5.0) -> None:
        self._jobs.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                job()
            except Exception:
                logger.exception("an upload job failed")


class Agent:
    def __init__(
        self,
        api: DoorApi,
        detector: MotionDetector,
        *,
        burst_frames: int = 6,
        burst_seconds: float = 2.0,
        upload_frames: int = 3,
        submit: Callable[[Job], None] = run_now,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._api = api
        self._detector = detector
        self._burst_frames = burst_frames
        self._burst_spacing = burst_seconds / max(burst_frames - 1, 1)
        self._last_burst_frame_at = float("-inf")
        self._upload_frames = upload_frames
        self._submit = submit
        self._clock = clock
        self._burst: list[np.ndarray] | None = None
        self._ring_pending = threading.Event()

    def ring(self) -> None:
        """The doorbell was pressed: one ring call, and a burst from the next frame."""
        logger.info("ring")
        self._submit(self._send_ring)
        self._ring_pending.set()

    def on_frame(self, frame: np.ndarray) -> None:
        now = self._clock()
        motion = self._detector.update(frame, now)
        if self._burst is not None:
            self._add_to_burst(frame, now)
        elif motion or self._ring_pending.is_set():
            logger.info("%s: taking %d frames", "motion" if motion else "ring", self._burst_frames)
            self._ring_pending.clear()
            self._detector.quiet_for_cooldown(now)
            self._burst = []
            self._add_to_burst(frame, now)

    def _add_to_burst(self, frame: np.ndarray, now: float) -> None:
        assert self._burst is not None
        if self._burst and now - self._last_burst_frame_at < self._burst_spacing:
            return
        self._last_burst_frame_at = now
        self._burst.append(frame.copy())
        if len(self._burst) < self._burst_frames:
            return
        chosen = sharpest(self._burst, self._upload_frames)
        self._burst = None
        jpegs = [encode_jpeg(frame) for frame in chosen]
        self._submit(lambda: self._upload(jpegs))

    def _upload(self, jpegs: list[bytes]) -> None:
        for jpeg in jpegs:
            try:
                key = self._api.upload_snapshot(jpeg)
            except ApiError as error:
                logger.error("snapshot not sent: %s", error)
                return
            logger.info("snapshot sent: %s (%d bytes)", key, len(jpeg))

    def _send_ring(self) -> None:
        try:
            answer = self._api.ring()
        except ApiError as error:
            logger.error("ring not sent: %s", error)
            return
        logger.info("ring accepted at %s", answer.get("ringAt"))


def pump_frames(
    source: FrameSource,
    agent: Agent,
    stop: threading.Event,
    *,
    frame_interval: float = 0.0,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Feed frames to the agent until `stop` or the end of a video file; the number fed."""
    count = 0
    while not stop.is_set():
        frame = source.read()
        if frame is None:
            logger.info("the video has ended after %d frames", count)
            break
        agent.on_frame(frame)
        count += 1
        if frame_interval:
            sleep(frame_interval)
    return count
