"""enrol_face handler with FakeFaceEngine."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from msgspec import ValidationError

from enrol_face.handler import handler
from smartdoor.domain.face_matching import visitor_id_for
from smartdoor.errors import NoUsableFace, TransientError
from smartdoor.settings import reset_settings_cache
from tests.fakes import FakeFaceEngine, FakeLambdaContext

BUCKET = "smartdoor-photos"
PHOTO = {"bucket": BUCKET, "frameKey": "visits/v-1/frame.jpg", "faceKey": "visits/v-1/face.jpg"}
APPROVAL_ID = "Zm9vYmFyYmF6cXV4cXV1eHF1dXg"
REPO = Path(__file__).resolve().parents[2]
EVENT = {"approvalRef": APPROVAL_ID, "visitId": "v-1", "doorId": "front-door", "photo": PHOTO}


@pytest.fixture(autouse=True)
def settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("COLLECTION_ID", "smartdoor-faces")
    monkeypatch.setenv("PHOTOS_BUCKET", BUCKET)
    reset_settings_cache()
    yield
    reset_settings_cache()


def test_the_approved_face_is_enrolled_under_a_new_visitor(settings: None) -> None:
    engine = FakeFaceEngine()
    # WHEN the task runs for an approved visit
    result = handler(EVENT, FakeLambdaContext(), engine=engine)
    # THEN a new visitorId comes back with the face Rekognition indexed for it
    assert re.fullmatch(r"vis-[0-9a-f]{16}", result["visitorId"])
    assert len(result["faceIds"]) == 1
    assert engine.faces == {result["faceIds"][0]: result["visitorId"]}
    # AND the whole frame was indexed under that visitorId
    (index,) = engine.calls_to("index")
    assert index.image_key == "visits/v-1/frame.jpg"
    assert index.params == {"external_image_id": result["visitorId"]}


def test_a_retried_enrolment_keeps_the_same_visitor(settings: None) -> None:
    engine = FakeFaceEngine()
    first = handler(EVENT, FakeLambdaContext(), engine=engine)
    second = handler(EVENT, FakeLambdaContext(), engine=engine)
    assert first["visitorId"] == second["visitorId"]
    assert set(engine.faces.values()) == {first["visitorId"]}


def test_different_approvals_make_different_visitors() -> None:
    assert visitor_id_for("approval-a") != visitor_id_for("approval-b")
    assert APPROVAL_ID[:8] not in visitor_id_for(APPROVAL_ID)


def test_a_frame_without_a_face_is_no_usable_face(settings: None) -> None:
    engine = FakeFaceEngine().index_finds_no_face()
    with pytest.raises(NoUsableFace, match="no face"):
        handler(EVENT, FakeLambdaContext(), engine=engine)
    assert engine.faces == {}


def test_a_face_rejected_for_quality_is_no_usable_face_with_the_reason(settings: None) -> None:
    engine = FakeFaceEngine().index_rejects_face(("LOW_SHARPNESS", "SMALL_BOUNDING_BOX"))
    with pytest.raises(NoUsableFace, match="LOW_SHARPNESS, SMALL_BOUNDING_BOX"):
        handler(EVENT, FakeLambdaContext(), engine=engine)
    assert engine.faces == {}


def test_a_throttled_engine_is_transient(settings: None) -> None:
    with pytest.raises(TransientError):
        handler(EVENT, FakeLambdaContext(), engine=FakeFaceEngine().fails_transiently())


def test_a_photo_outside_the_photos_bucket_is_refused(settings: None) -> None:
    engine = FakeFaceEngine()
    with pytest.raises(ValueError, match="photos bucket"):
        handler({**EVENT, "photo": {**PHOTO, "bucket": "elsewhere"}}, FakeLambdaContext(), engine=engine)
    assert engine.calls == []


@pytest.mark.parametrize("missing", ["approvalRef", "photo", "visitId"])
def test_incomplete_input_is_refused(settings: None, missing: str) -> None:
    engine = FakeFaceEngine()
    event = {key: value for key, value in EVENT.items() if key != missing}
    with pytest.raises(ValidationError):
        handler(event, FakeLambdaContext(), engine=engine)
    assert engine.calls == []


def test_the_function_does_not_need_pillow() -> None:
    # enrol_face is deployed without the Pillow layer: importing it must not import PIL.
    code = "import sys, enrol_face.handler; sys.exit(1 if 'PIL' in sys.modules else 0)"
    done = subprocess.run(  # noqa: S603 - fixed command, this interpreter
        [sys.executable, "-c", code], cwd=REPO / "functions", capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
