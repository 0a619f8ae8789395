"""The quality gate: which detected faces are good enough to count towards a decision.

A face is skipped when Rekognition is not sure it is a face, when it is too small to
recognise (a passer-by in the street, a face on a poster), or when the frame is blurred or
dark. Defaults (README "Events", configurable per deployment):

| rule | default | environment variable |
|---|---|---|
| Confidence at least | 90 | MIN_FACE_CONFIDENCE |
| box width and height, each at least (ratio of the frame) | 0.05 | MIN_FACE_SIZE_RATIO |
| Quality.Sharpness at least (0-100) | 20 | MIN_FACE_SHARPNESS |
| Quality.Brightness at least (0-100) | 20 | MIN_FACE_BRIGHTNESS |

A face whose record has no Quality object is judged on confidence and size only (image
search responses do not always carry it).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from smartdoor.domain.records import FaceDetail


class SkipReason(StrEnum):
    LOW_CONFIDENCE = "low-confidence"
    TOO_SMALL = "too-small"
    BLURRY = "blurry"
    TOO_DARK = "too-dark"


@dataclass(frozen=True, slots=True)
class QualityGate:
    min_confidence: float = 90.0
    min_size_ratio: float = 0.05
    min_sharpness: float = 20.0
    min_brightness: float = 20.0

    def skip_reason(self, face: FaceDetail) -> SkipReason | None:
        """Why this face is not good enough, or None when it passes."""
        if face.Confidence < self.min_confidence:
            return SkipReason.LOW_CONFIDENCE
        box = face.BoundingBox
        if box.Width < self.min_size_ratio or box.Height < self.min_size_ratio:
            return SkipReason.TOO_SMALL
        quality = face.Quality
        if quality is not None:
            if quality.Sharpness is not None and quality.Sharpness < self.min_sharpness:
                return SkipReason.BLURRY
            if quality.Brightness is not None and quality.Brightness < self.min_brightness:
                return SkipReason.TOO_DARK
        return None

    def passes(self, face: FaceDetail) -> bool:
        return self.skip_reason(face) is None
