"""The quality gate: which detected faces count."""

from __future__ import annotations

from typing import Any

import pytest

from smartdoor.domain.quality import QualityGate, SkipReason
from smartdoor.domain.records import FaceDetail
from tests.fixtures.face_search import face


def detected(**overrides: Any) -> FaceDetail:
    return FaceDetail.parse(face(**overrides)["DetectedFace"])


DEFAULT_GATE = QualityGate()


def test_documented_defaults() -> None:
    gate = QualityGate()
    assert gate.min_confidence == 90
    assert gate.min_size_ratio == 0.05
    assert (gate.min_sharpness, gate.min_brightness) == (20, 20)


def test_a_clear_large_confident_face_passes() -> None:
    assert DEFAULT_GATE.skip_reason(detected()) is None
    assert DEFAULT_GATE.passes(detected())


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"confidence": 89.99}, SkipReason.LOW_CONFIDENCE),
        ({"width": 0.0499}, SkipReason.TOO_SMALL),
        ({"height": 0.0499}, SkipReason.TOO_SMALL),
        ({"sharpness": 19.9}, SkipReason.BLURRY),
        ({"brightness": 19.9}, SkipReason.TOO_DARK),
    ],
)
def test_each_rule_skips_just_below_its_minimum(overrides: dict[str, Any], reason: SkipReason) -> None:
    assert DEFAULT_GATE.skip_reason(detected(**overrides)) is reason


@pytest.mark.parametrize(
    "overrides",
    [{"confidence": 90.0}, {"width": 0.05}, {"height": 0.05}, {"sharpness": 20.0}, {"brightness": 20.0}],
)
def test_each_minimum_itself_passes(overrides: dict[str, Any]) -> None:
    assert DEFAULT_GATE.skip_reason(detected(**overrides)) is None


def test_face_without_quality_is_judged_on_confidence_and_size_only() -> None:
    assert DEFAULT_GATE.passes(detected(sharpness=None, brightness=None))
    assert (
        DEFAULT_GATE.skip_reason(detected(sharpness=None, brightness=None, width=0.01))
        is SkipReason.TOO_SMALL
    )


def test_thresholds_are_configurable() -> None:
    strict = QualityGate(min_confidence=99.9, min_size_ratio=0.3, min_sharpness=90, min_brightness=70)
    assert strict.skip_reason(detected(confidence=99.5)) is SkipReason.LOW_CONFIDENCE
    assert strict.skip_reason(detected(confidence=99.95, width=0.25, height=0.4)) is SkipReason.TOO_SMALL
    assert (
        strict.skip_reason(detected(confidence=99.95, width=0.35, height=0.4, sharpness=85))
        is SkipReason.BLURRY
    )
    lenient = QualityGate(min_confidence=50, min_size_ratio=0.01, min_sharpness=0, min_brightness=0)
    assert lenient.passes(detected(confidence=60, width=0.02, height=0.02, sharpness=1, brightness=1))
