"""Pick the sharpest frames of a burst: the variance of the Laplacian (blur flattens edges)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np


def sharpness(frame: np.ndarray) -> float:
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def sharpest(frames: Sequence[np.ndarray], count: int) -> list[np.ndarray]:
    """The `count` sharpest frames, in the order they were taken."""
    ranked = sorted(range(len(frames)), key=lambda i: sharpness(frames[i]), reverse=True)
    return [frames[i] for i in sorted(ranked[:count])]
