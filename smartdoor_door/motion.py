"""Cheap motion detection on the device: differencing of small grey frames.

Each frame is shrunk to `width` pixels wide, made grey and lightly blurred (sensor noise), then
compared with the previous one. A pixel has changed when it moved by more than
`pixel_threshold` grey levels; motion is seen when the changed pixels are more than
`sensitivity` of the frame (0.02 = 2 %). After a detection the detector stays quiet for
`cooldown_seconds`, so one arrival is one burst of snapshots, not one per frame.
"""

from __future__ import annotations

import cv2
import numpy as np


def small_grey(frame: np.ndarray, width: int) -> np.ndarray:
    height = max(1, round(frame.shape[0] * width / frame.shape[1]))
    small = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
    return np.asarray(cv2.GaussianBlur(grey, (5, 5), 0))


class MotionDetector:
    def __init__(
        self,
        sensitivity: float = 0.02,
        cooldown_seconds: float = 15.0,
        *,
        pixel_threshold: int = 25,
        width: int = 160,
    ) -> None:
        self.sensitivity = sensitivity
        self.cooldown_seconds = cooldown_seconds
        self._pixel_threshold = pixel_threshold
        self._width = width
        self._previous: np.ndarray | None = None
        self._quiet_until = float("-inf")

    def changed_fraction(self, frame: np.ndarray) -> float:
        """The share of pixels that changed since the last frame (0 for the first)."""
        grey = small_grey(frame, self._width)
        previous, self._previous = self._previous, grey
        if previous is None or previous.shape != grey.shape:
            return 0.0
        difference = cv2.absdiff(grey, previous)
        return float(np.count_nonzero(difference > self._pixel_threshold)) / difference.size

    def update(self, frame: np.ndarray, now: float) -> bool:
        """True when this frame shows motion and the cooldown is over."""
        fraction = self.changed_fraction(frame)
        if fraction <= self.sensitivity or now < self._quiet_until:
            return False
        self.quiet_for_cooldown(now)
        return True

    def quiet_for_cooldown(self, now: float) -> None:
        """A burst was taken (motion or a ring): no new motion burst until the cooldown ends."""
        self._quiet_until = now + self.cooldown_seconds
