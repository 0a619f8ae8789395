"""check_collection handler with FakeFaceEngine, and the match rule it applies."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from msgspec import ValidationError

from check_collection.handler import handler
from smartdoor.domain.face_matching import best_match
from smartdoor.errors import NoFaceInPhoto, TransientError
from smartdoor.settings import reset_settings_cache
from tests.fakes import FakeFaceEngine, FakeLambdaContext

BUCKET = "smartdoor-photos"
PHOTO = {"bucket": BUCKET, "frameKey": "visits/v-1/frame.jpg", "faceKey": "visits/v-1/face.jpg"}
EVENT = {"visitId": "v-1", "photo": PHOTO}
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("COLLECTION_ID", "smartdoor-faces")
    monkeypatch.setenv("FACE_MATCH_THRESHOLD", "92.5")
    monkeypatch.setenv("PHOTOS_BUCKET", BUCKET)
    reset_settings_cache()
    yield
    reset_settings_cache()


def test_a_visitor_enrolled_meanwhile_is_found(settings: None) -> None:
    # GIVEN Anna is in the collection and her face is in the visit's photo
    engine = FakeFaceEngine(known={"vis-anna": ["face-anna-1"]}).will_match("vis-anna", similarity=99.1)
    # WHEN the task runs
    result = handler(EVENT, FakeLambdaContext(), engine=engine)
    # THEN it answers with her face and visitorId
    assert result == {"matched": True, "faceId": "face-anna-1", "visitorId": "vis-anna", "similarity": 99.1}
    # AND it searched with the face crop at the configured threshold
    (search,) = engine.calls_to("search")
    assert search.image_key == "visits/v-1/face.jpg"
    assert search.params["threshold"] == 92.5


def test_an_unknown_face_is_not_matched(settings: None) -> None:
    engine = FakeFaceEngine(known={"vis-anna": ["face-anna-1"]})
    assert handler(EVENT, FakeLambdaContext(), engine=engine) == {"matched": False}


def test_a_crop_without_face_falls_back_to_the_whole_frame(settings: None) -> None:
    # GIVEN the crop missed the face but the frame shows Anna
    engine = FakeFaceEngine().search_finds_no_face().will_match("vis-anna")
    # WHEN the task runs
    result = handler(EVENT, FakeLambdaContext(), engine=engine)
    # THEN the frame was searched second, and Anna found
    assert [call.image_key for call in engine.calls_to("search")] == [PHOTO["faceKey"], PHOTO["frameKey"]]
    assert result["matched"] is True
    assert result["visitorId"] == "vis-anna"


def test_no_face_anywhere_is_no_face_in_photo(settings: None) -> None:
    engine = FakeFaceEngine().photo_has_no_face()
    with pytest.raises(NoFaceInPhoto):
        handler(EVENT, FakeLambdaContext(), engine=engine)
    assert len(engine.calls_to("search")) == 2


def test_a_throttled_engine_is_transient(settings: None) -> None:
    with pytest.raises(TransientError):
        handler(EVENT, FakeLambdaContext(), engine=FakeFaceEngine().fails_transiently())


def test_a_photo_outside_the_photos_bucket_is_refused(settings: None) -> None:
    engine = FakeFaceEngine()
    event = {"visitId": "v-1", "photo": {**PHOTO, "bucket": "someone-elses-bucket"}}
    with pytest.raises(ValueError, match="photos bucket"):
        handler(event, FakeLambdaContext(), engine=engine)
    assert engine.calls == []


def test_input_without_photo_is_refused(settings: None) -> None:
    engine = FakeFaceEngine()
    with pytest.raises(ValidationError):
        handler({"visitId": "v-1"}, FakeLambdaContext(), engine=engine)
    assert engine.calls == []


def test_a_threshold_outside_0_100_fails_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACE_MATCH_THRESHOLD", "150")
    reset_settings_cache()
    with pytest.raises(ValidationError, match="FACE_MATCH_THRESHOLD"):
        handler(EVENT, FakeLambdaContext(), engine=FakeFaceEngine())


def test_the_function_does_not_need_pillow() -> None:
    # check_collection is deployed without the Pillow layer: importing it must not import PIL.
    code = "import sys, check_collection.handler; sys.exit(1 if 'PIL' in sys.modules else 0)"
    done = subprocess.run(  # noqa: S603 - fixed command, this interpreter
        [sys.executable, "-c", code], cwd=REPO / "functions", capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


class TestBestMatch:
    @staticmethod
    def answer(*matches: tuple[str, str | None, float]) -> dict[str, Any]:
        return {
            "FaceMatches": [
                {"Similarity": similarity, "Face": {"FaceId": face_id, "ExternalImageId": visitor_id}}
                for face_id, visitor_id, similarity in matches
            ]
        }

    def test_the_most_similar_face_wins(self) -> None:
        match = best_match(
            self.answer(("f1", "vis-a", 93.0), ("f2", "vis-b", 97.0), ("f3", "vis-a", 95.0)), 90
        )
        assert (match.face_id, match.visitor_id, match.similarity) == ("f2", "vis-b", 97.0)

    def test_matches_below_the_threshold_are_ignored(self) -> None:
        assert best_match(self.answer(("f1", "vis-a", 89.9)), 90).matched is False

    def test_a_face_without_visitor_names_nobody(self) -> None:
        assert best_match(self.answer(("f1", None, 99.0)), 90).matched is False

    def test_an_answer_without_matches_is_unknown(self) -> None:
        assert best_match({"FaceMatches": []}, 90).to_wire() == {"matched": False}
