"""The local face engine (dlib) on real photos available offline (scikit-image's sample data).

Same person: NASA's portrait of astronaut Eileen Collins against other crops, sizes, a mirror
image, brightness changes and compression of it. Different people: the camera man and faces
from Labeled Faces in the Wild (skimage.data.lfw_subset). No face: a cup of coffee. Answers
must be Rekognition's: they are validated against botocore's Rekognition output model.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.validate import ParamValidator
from PIL import Image

from smartdoor.adapters.photo_store import S3PhotoStore
from smartdoor.errors import InvalidImage, NoFaceInPhoto, TooManyPixels
from smartdoor.models import S3Image
from smartdoor_local import sample_faces
from smartdoor_local.face_engine import (
    DLIB_SAME_PERSON_DISTANCE,
    MIN_INDEX_CONFIDENCE,
    DynamoFaceStore,
    InMemoryFaceStore,
    LocalFaceEngine,
    confidence_from_score,
    distance_for_similarity,
    similarity_from_distance,
)
from smartdoor_local.threshold import measure, same_person_variants
from tests.fakes.images import huge_jpeg, huge_png

THRESHOLD = 90.0
EILEEN = "vis-eileen"


def _rekognition_model() -> Any:
    return boto3.client("rekognition", region_name="us-east-1").meta.service_model


def assert_rekognition_shape(operation: str, answer: dict[str, Any]) -> None:
    shape = _rekognition_model().operation_model(operation).output_shape
    report = ParamValidator().validate(answer, shape)
    assert not report.has_errors(), report.generate_report()


@pytest.fixture
def engine() -> LocalFaceEngine:
    return LocalFaceEngine(InMemoryFaceStore())


@pytest.fixture
def enrolled(engine: LocalFaceEngine) -> Iterator[tuple[LocalFaceEngine, str]]:
    answer = engine.index(sample_faces.astronaut(), EILEEN)
    yield engine, answer["FaceRecords"][0]["Face"]["FaceId"]


def side_by_side(*jpegs: bytes) -> bytes:
    images = [Image.open(io.BytesIO(jpeg)).convert("RGB").resize((400, 400)) for jpeg in jpegs]
    canvas = Image.new("RGB", (400 * len(images), 400), (20, 20, 20))
    for index, image in enumerate(images):
        canvas.paste(image, (400 * index, 0))
    buffer = io.BytesIO()
    canvas.save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


class TestSimilarityScale:
    def test_dlibs_threshold_is_the_stacks_default_similarity(self) -> None:
        assert similarity_from_distance(DLIB_SAME_PERSON_DISTANCE) == pytest.approx(THRESHOLD)
        assert distance_for_similarity(THRESHOLD) == pytest.approx(DLIB_SAME_PERSON_DISTANCE)

    def test_similarity_falls_as_faces_differ(self) -> None:
        values = [similarity_from_distance(d / 10) for d in range(0, 15)]
        assert values == sorted(values, reverse=True)
        assert values[0] > 99.99 and similarity_from_distance(0.8) < 20
        assert similarity_from_distance(1000.0) == 0.0

    def test_detector_score_zero_is_below_the_quality_gate(self) -> None:
        # dlib's own boundary (score 0) is a weak detection: below the gate's 90 % confidence.
        assert confidence_from_score(0.0) < MIN_INDEX_CONFIDENCE <= confidence_from_score(0.2)
        assert confidence_from_score(1.0) > 99.5


class TestSamePerson:
    @pytest.mark.parametrize("variant", sorted(same_person_variants()))
    def test_other_photos_of_her_match_her(self, enrolled: tuple[LocalFaceEngine, str], variant: str) -> None:
        engine, face_id = enrolled
        answer = engine.search(same_person_variants()[variant], THRESHOLD, 5)
        assert [m["Face"]["FaceId"] for m in answer["FaceMatches"]] == [face_id]
        match = answer["FaceMatches"][0]
        assert match["Face"]["ExternalImageId"] == EILEEN
        assert match["Similarity"] > 99.0
        assert_rekognition_shape("SearchFacesByImage", answer)

    def test_the_searched_face_is_hers_not_the_badge_on_her_suit(self, engine: LocalFaceEngine) -> None:
        # dlib also sees a weak "face" in the mission patch; search uses the confident one.
        faces = engine.detect_faces(sample_faces.astronaut())
        assert faces[0].confidence > 99 and all(f.confidence < MIN_INDEX_CONFIDENCE for f in faces[1:])
        answer = engine.search(sample_faces.astronaut(), THRESHOLD, 5)
        box = answer["SearchedFaceBoundingBox"]
        assert 0.3 < box["Left"] < 0.4 and 0.1 < box["Top"] < 0.2
        assert answer["SearchedFaceConfidence"] > 99


class TestDifferentPeople:
    def test_the_camera_man_is_not_her(self, enrolled: tuple[LocalFaceEngine, str]) -> None:
        engine, _ = enrolled
        assert engine.search(sample_faces.camera_man(), THRESHOLD, 5)["FaceMatches"] == []
        below = engine.search(sample_faces.camera_man(), 0.0, 5)["FaceMatches"]
        assert len(below) == 1 and below[0]["Similarity"] < 10

    def test_faces_from_lfw_are_not_her(self, enrolled: tuple[LocalFaceEngine, str]) -> None:
        engine, _ = enrolled
        searched = 0
        for face in sample_faces.lfw_faces()[:30]:
            try:
                answer = engine.search(face, THRESHOLD, 5)
            except NoFaceInPhoto:
                continue
            searched += 1
            assert answer["FaceMatches"] == []
        assert searched >= 20

    def test_two_people_in_the_collection_are_told_apart(self, engine: LocalFaceEngine) -> None:
        engine.index(sample_faces.astronaut(), EILEEN)
        engine.index(sample_faces.camera_man(), "vis-camera-man")
        for picture, expected in (
            (sample_faces.astronaut_again(), EILEEN),
            (sample_faces.camera_man(), "vis-camera-man"),
        ):
            matches = engine.search(picture, THRESHOLD, 5)["FaceMatches"]
            assert [m["Face"]["ExternalImageId"] for m in matches] == [expected]


def test_the_documented_threshold_holds_on_the_measured_photos(engine: LocalFaceEngine) -> None:
    """docs/local.md reports these margins (python -m smartdoor_local.threshold prints them all)."""
    report = measure(engine, lfw_limit=40)
    assert report.largest_same_person_distance < 0.25
    assert report.smallest_different_person_distance > DLIB_SAME_PERSON_DISTANCE
    assert all(m.similarity > 99.9 for m in report.same_person)
    assert all(m.similarity < THRESHOLD for m in report.different_people)
    assert report.lfw_faces_used >= 30


class TestNoFace:
    def test_searching_a_picture_without_a_face_is_a_clear_error(self, engine: LocalFaceEngine) -> None:
        with pytest.raises(NoFaceInPhoto, match="no face"):
            engine.search(sample_faces.no_face(), THRESHOLD, 5)

    def test_indexing_it_enrols_nothing(self, engine: LocalFaceEngine) -> None:
        answer = engine.index(sample_faces.no_face(), EILEEN)
        assert answer["FaceRecords"] == [] and answer["UnindexedFaces"] == []
        assert engine.faces() == []
        assert_rekognition_shape("IndexFaces", answer)

    @pytest.mark.parametrize("data", [b"not a picture", b"\x89PNG\r\n\x1a\n broken"])
    def test_something_that_is_not_a_picture_is_invalid(self, engine: LocalFaceEngine, data: bytes) -> None:
        with pytest.raises(InvalidImage):
            engine.search(data, THRESHOLD, 5)

    @pytest.mark.parametrize(
        "data", [huge_png(20_000, 20_000), huge_jpeg(15_000, 15_000)], ids=["PNG", "JPEG"]
    )
    def test_a_picture_past_the_pixel_limit_is_too_many_pixels(
        self, engine: LocalFaceEngine, data: bytes
    ) -> None:
        with pytest.raises(TooManyPixels, match="too many pixels"):
            engine.search(data, THRESHOLD, 5)
        with pytest.raises(TooManyPixels):
            engine.index(data, EILEEN)
        assert engine.faces() == []

    def test_bad_arguments_are_refused(self, engine: LocalFaceEngine) -> None:
        with pytest.raises(ValueError):
            engine.search(sample_faces.astronaut(), 101, 5)
        with pytest.raises(ValueError):
            engine.index(sample_faces.astronaut(), "")
        with pytest.raises(ValueError):
            engine.search(b"", THRESHOLD, 5)


class TestIndexAndDelete:
    def test_index_enrols_one_face_in_rekognitions_shape(self, engine: LocalFaceEngine) -> None:
        answer = engine.index(sample_faces.astronaut(), EILEEN)
        (record,) = answer["FaceRecords"]
        assert record["Face"]["ExternalImageId"] == EILEEN
        assert record["FaceDetail"]["Confidence"] > 99
        assert set(record["FaceDetail"]["Quality"]) == {"Brightness", "Sharpness"}
        # The mission patch is reported as a face too weak to index, as QualityFilter=AUTO does.
        assert [face["Reasons"] for face in answer["UnindexedFaces"]] == [["LOW_CONFIDENCE"]]
        assert [face.face_id for face in engine.faces()] == [record["Face"]["FaceId"]]
        assert_rekognition_shape("IndexFaces", answer)

    def test_a_second_clear_face_exceeds_max_faces(self, engine: LocalFaceEngine) -> None:
        answer = engine.index(side_by_side(sample_faces.astronaut(), sample_faces.astronaut_again()), EILEEN)
        assert len(answer["FaceRecords"]) == 1
        reasons = [face["Reasons"] for face in answer["UnindexedFaces"]]
        assert ["EXCEEDS_MAX_FACES"] in reasons

    def test_deleted_faces_are_no_longer_found(self, enrolled: tuple[LocalFaceEngine, str]) -> None:
        engine, face_id = enrolled
        answer = engine.delete([face_id, "00000000-0000-4000-8000-000000000000"])
        assert answer == {
            "DeletedFaces": [face_id],
            "UnsuccessfulFaceDeletions": [
                {"FaceId": "00000000-0000-4000-8000-000000000000", "Reasons": ["FACE_NOT_FOUND"]}
            ],
        }
        assert_rekognition_shape("DeleteFaces", answer)
        assert engine.search(sample_faces.astronaut(), THRESHOLD, 5)["FaceMatches"] == []
        assert engine.delete([]) == {"DeletedFaces": [], "UnsuccessfulFaceDeletions": []}


def test_the_collection_lives_in_the_stacks_table_and_photos_come_from_s3(aws: None) -> None:
    """What the local stack does: embeddings in DynamoDB, the visit's photos read from S3."""
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    dynamodb.create_table(
        TableName="faces",
        KeySchema=[{"AttributeName": "faceId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "faceId", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="photos")
    photos = S3PhotoStore("photos")
    photos.put_jpeg("visits/v-1/frame.jpg", sample_faces.astronaut())
    photos.put_jpeg("visits/v-2/frame.jpg", sample_faces.astronaut_again())

    indexing = LocalFaceEngine(DynamoFaceStore("faces"), photos=photos)
    face_id = indexing.index(S3Image("photos", "visits/v-1/frame.jpg"), EILEEN)["FaceRecords"][0]["Face"][
        "FaceId"
    ]

    # Another engine (another process) on the same table sees the same collection.
    searching = LocalFaceEngine(DynamoFaceStore("faces"), photos=photos)
    matches = searching.search(S3Image("photos", "visits/v-2/frame.jpg"), THRESHOLD, 5)["FaceMatches"]
    assert [(m["Face"]["FaceId"], m["Face"]["ExternalImageId"]) for m in matches] == [(face_id, EILEEN)]
    stored = searching.faces()[0]
    assert len(stored.embedding) == 128

    assert searching.delete([face_id])["DeletedFaces"] == [face_id]
    assert dynamodb.scan(TableName="faces")["Items"] == []


def test_s3_images_need_a_photo_store(engine: LocalFaceEngine) -> None:
    with pytest.raises(TypeError, match="photo store"):
        engine.search(S3Image("photos", "visits/v-1/frame.jpg"), THRESHOLD, 5)
