"""RekognitionFaceEngine against botocore's Stubber: requests are validated against the real
Rekognition API model, answers are Rekognition's documented shapes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from smartdoor.adapters.face_engine import RekognitionFaceEngine, rekognition_image
from smartdoor.errors import NoFaceInPhoto, TransientError
from smartdoor.models import S3Image
from tests.fakes import FakeFaceEngine

COLLECTION = "smartdoor-faces"
FACE_ID = "11111111-2222-4333-8444-555555555555"
IMAGE_ID = "66666666-7777-4888-9999-000000000000"
BOX = {"Width": 0.2, "Height": 0.3, "Left": 0.4, "Top": 0.3}
PHOTO = S3Image(bucket="photos-bucket", key="visits/v-1/face.jpg")


@pytest.fixture
def rekognition() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("rekognition", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def face(face_id: str = FACE_ID, visitor_id: str = "vis-anna") -> dict[str, Any]:
    return {
        "FaceId": face_id,
        "BoundingBox": BOX,
        "ImageId": IMAGE_ID,
        "ExternalImageId": visitor_id,
        "Confidence": 99.9,
    }


class TestImageParameter:
    def test_an_s3_image_is_read_by_rekognition(self) -> None:
        assert rekognition_image(PHOTO) == {
            "S3Object": {"Bucket": "photos-bucket", "Name": "visits/v-1/face.jpg"}
        }

    def test_bytes_are_sent_inline(self) -> None:
        assert rekognition_image(b"\xff\xd8jpeg") == {"Bytes": b"\xff\xd8jpeg"}

    def test_empty_bytes_are_refused(self) -> None:
        with pytest.raises(ValueError, match="empty"):
            rekognition_image(b"")

    def test_anything_else_is_refused(self) -> None:
        with pytest.raises(TypeError):
            rekognition_image("visits/v-1/face.jpg")  # type: ignore[arg-type]


class TestSearch:
    def test_searches_the_collection_with_an_s3_photo(self, rekognition: tuple[Any, Stubber]) -> None:
        client, stubber = rekognition
        # GIVEN Rekognition finds Anna's face
        answer = {
            "SearchedFaceBoundingBox": BOX,
            "SearchedFaceConfidence": 99.8,
            "FaceMatches": [{"Similarity": 98.5, "Face": face()}],
            "FaceModelVersion": "7.0",
        }
        stubber.add_response(
            "search_faces_by_image",
            answer,
            {
                "CollectionId": COLLECTION,
                "Image": {"S3Object": {"Bucket": "photos-bucket", "Name": "visits/v-1/face.jpg"}},
                "FaceMatchThreshold": 90.0,
                "MaxFaces": 5,
            },
        )
        # WHEN the engine searches
        result = RekognitionFaceEngine(COLLECTION, client).search(PHOTO, threshold=90.0, max_faces=5)
        # THEN the answer is Rekognition's, without transport metadata
        assert result == answer

    def test_searches_with_image_bytes(self, rekognition: tuple[Any, Stubber]) -> None:
        client, stubber = rekognition
        stubber.add_response(
            "search_faces_by_image",
            {"FaceMatches": [], "SearchedFaceBoundingBox": BOX, "SearchedFaceConfidence": 99.0},
            {
                "CollectionId": COLLECTION,
                "Image": {"Bytes": b"\xff\xd8jpeg"},
                "FaceMatchThreshold": 80.0,
                "MaxFaces": 1,
            },
        )
        result = RekognitionFaceEngine(COLLECTION, client).search(
            b"\xff\xd8jpeg", threshold=80.0, max_faces=1
        )
        assert result["FaceMatches"] == []

    def test_a_photo_without_a_face_is_no_face_in_photo(self, rekognition: tuple[Any, Stubber]) -> None:
        client, stubber = rekognition
        # GIVEN Rekognition's answer for an image with no face
        stubber.add_client_error(
            "search_faces_by_image",
            service_error_code="InvalidParameterException",
            service_message="There are no faces in the image. Should be at least 1.",
            http_status_code=400,
        )
        # WHEN / THEN the engine raises the workflow's named error
        with pytest.raises(NoFaceInPhoto):
            RekognitionFaceEngine(COLLECTION, client).search(PHOTO, threshold=90.0, max_faces=5)

    def test_throttling_is_transient(self, rekognition: tuple[Any, Stubber]) -> None:
        client, stubber = rekognition
        stubber.add_client_error(
            "search_faces_by_image",
            service_error_code="ProvisionedThroughputExceededException",
            http_status_code=400,
        )
        with pytest.raises(TransientError):
            RekognitionFaceEngine(COLLECTION, client).search(PHOTO, threshold=90.0, max_faces=5)

    def test_a_missing_collection_is_not_mistaken_for_no_face(self, rekognition: tuple[Any, Stubber]) -> None:
        client, stubber = rekognition
        stubber.add_client_error(
            "search_faces_by_image", service_error_code="ResourceNotFoundException", http_status_code=400
        )
        with pytest.raises(client.exceptions.ResourceNotFoundException):
            RekognitionFaceEngine(COLLECTION, client).search(PHOTO, threshold=90.0, max_faces=5)

    @pytest.mark.parametrize(("threshold", "max_faces"), [(-1.0, 5), (100.5, 5), (90.0, 0), (90.0, 5000)])
    def test_out_of_range_parameters_are_refused_before_calling(
        self, rekognition: tuple[Any, Stubber], threshold: float, max_faces: int
    ) -> None:
        client, _ = rekognition  # no response queued: a call would fail the Stubber
        with pytest.raises(ValueError):
            RekognitionFaceEngine(COLLECTION, client).search(PHOTO, threshold=threshold, max_faces=max_faces)


class TestIndex:
    def test_indexes_the_largest_face_under_the_visitor_id(self, rekognition: tuple[Any, Stubber]) -> None:
        client, stubber = rekognition
        answer = {
            "FaceRecords": [
                {
                    "Face": face(visitor_id="vis-0123456789abcdef"),
                    "FaceDetail": {"BoundingBox": BOX, "Confidence": 99.9},
                }
            ],
            "UnindexedFaces": [],
            "FaceModelVersion": "7.0",
        }
        stubber.add_response(
            "index_faces",
            answer,
            {
                "CollectionId": COLLECTION,
                "Image": {"S3Object": {"Bucket": "photos-bucket", "Name": "visits/v-1/frame.jpg"}},
                "ExternalImageId": "vis-0123456789abcdef",
                "MaxFaces": 1,
                "QualityFilter": "AUTO",
                "DetectionAttributes": ["DEFAULT"],
            },
        )
        result = RekognitionFaceEngine(COLLECTION, client).index(
            S3Image("photos-bucket", "visits/v-1/frame.jpg"), "vis-0123456789abcdef"
        )
        assert result == answer

    def test_a_face_filtered_by_quality_is_an_empty_answer_not_an_error(
        self, rekognition: tuple[Any, Stubber]
    ) -> None:
        client, stubber = rekognition
        stubber.add_response(
            "index_faces",
            {
                "FaceRecords": [],
                "UnindexedFaces": [{"Reasons": ["LOW_SHARPNESS"], "FaceDetail": {"BoundingBox": BOX}}],
            },
        )
        result = RekognitionFaceEngine(COLLECTION, client).index(PHOTO, "vis-1")
        assert result["FaceRecords"] == []
        assert result["UnindexedFaces"][0]["Reasons"] == ["LOW_SHARPNESS"]

    def test_throttling_is_transient(self, rekognition: tuple[Any, Stubber]) -> None:
        client, stubber = rekognition
        stubber.add_client_error(
            "index_faces", service_error_code="ThrottlingException", http_status_code=400
        )
        with pytest.raises(TransientError):
            RekognitionFaceEngine(COLLECTION, client).index(PHOTO, "vis-1")

    def test_an_external_id_rekognition_would_refuse_is_refused_here(
        self, rekognition: tuple[Any, Stubber]
    ) -> None:
        client, _ = rekognition
        with pytest.raises(ValueError):
            RekognitionFaceEngine(COLLECTION, client).index(PHOTO, "")


class TestDelete:
    def test_deletes_faces_and_reports_the_ones_not_found(self, rekognition: tuple[Any, Stubber]) -> None:
        client, stubber = rekognition
        other = "22222222-3333-4444-8555-666666666666"
        stubber.add_response(
            "delete_faces",
            {
                "DeletedFaces": [FACE_ID],
                "UnsuccessfulFaceDeletions": [
                    {"FaceId": other, "Reasons": ["ASSOCIATED_TO_AN_EXISTING_USER"]}
                ],
            },
            {"CollectionId": COLLECTION, "FaceIds": [FACE_ID, other]},
        )
        # Duplicates are sent once.
        result = RekognitionFaceEngine(COLLECTION, client).delete([FACE_ID, other, FACE_ID])
        assert result == {
            "DeletedFaces": [FACE_ID],
            "UnsuccessfulFaceDeletions": [{"FaceId": other, "Reasons": ["ASSOCIATED_TO_AN_EXISTING_USER"]}],
        }

    def test_nothing_to_delete_calls_nothing(self, rekognition: tuple[Any, Stubber]) -> None:
        client, _ = rekognition
        assert RekognitionFaceEngine(COLLECTION, client).delete([]) == {
            "DeletedFaces": [],
            "UnsuccessfulFaceDeletions": [],
        }

    def test_server_errors_are_transient(self, rekognition: tuple[Any, Stubber]) -> None:
        client, stubber = rekognition
        stubber.add_client_error(
            "delete_faces", service_error_code="InternalServerError", http_status_code=500
        )
        with pytest.raises(TransientError):
            RekognitionFaceEngine(COLLECTION, client).delete([FACE_ID])


def test_a_collection_id_is_required() -> None:
    with pytest.raises(ValueError):
        RekognitionFaceEngine("")


class TestFakeSpeaksRekognition:
    """The workflow tests run on FakeFaceEngine; its answers must be valid Rekognition responses.
    Stubber.add_response validates a response against the API's output model."""

    def test_search_answers_validate(self, rekognition: tuple[Any, Stubber]) -> None:
        _, stubber = rekognition
        engine = FakeFaceEngine(known={"vis-anna": [FACE_ID]}).will_match("vis-anna")
        answer = engine.search(PHOTO, threshold=90.0, max_faces=5)
        assert answer["FaceMatches"][0]["Face"]["ExternalImageId"] == "vis-anna"
        stubber.add_response("search_faces_by_image", answer)
        stubber.add_response("search_faces_by_image", engine.search(PHOTO, threshold=90.0, max_faces=5))
        # Consume them so the fixture's "no pending responses" check holds.
        client = rekognition[0]
        for _ in range(2):
            client.search_faces_by_image(CollectionId=COLLECTION, Image=rekognition_image(PHOTO))

    def test_index_and_delete_answers_validate(self, rekognition: tuple[Any, Stubber]) -> None:
        client, stubber = rekognition
        engine = FakeFaceEngine().index_rejects_face()
        rejected = engine.index(PHOTO, "vis-1")
        indexed = engine.index(PHOTO, "vis-1")
        deleted = engine.delete([indexed["FaceRecords"][0]["Face"]["FaceId"], FACE_ID])
        assert deleted["UnsuccessfulFaceDeletions"] == [{"FaceId": FACE_ID, "Reasons": ["FACE_NOT_FOUND"]}]
        for operation, answer in (
            ("index_faces", rejected),
            ("index_faces", indexed),
            ("delete_faces", deleted),
        ):
            stubber.add_response(operation, answer)
        client.index_faces(CollectionId=COLLECTION, Image=rekognition_image(PHOTO))
        client.index_faces(CollectionId=COLLECTION, Image=rekognition_image(PHOTO))
        client.delete_faces(CollectionId=COLLECTION, FaceIds=[FACE_ID])
