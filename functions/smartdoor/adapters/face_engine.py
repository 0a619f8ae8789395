"""Face search and enrolment behind one small interface, answering in Rekognition's shapes.

An image is an `ImageRef` (smartdoor.models): raw bytes (JPEG/PNG) or an `S3Image` (bucket + key). Rekognition
reads S3 images itself, so nothing is downloaded into the Lambda. An engine that only works on
bytes (the local engine) resolves an `S3Image` through a PhotoStore.

Answers are the Rekognition response dicts without `ResponseMetadata`:

- `search` -> SearchFacesByImage: `SearchedFaceBoundingBox`, `SearchedFaceConfidence`,
  `FaceMatches[]` {`Similarity`, `Face` {`FaceId`, `ExternalImageId`, `ImageId`, `Confidence`,
  `BoundingBox`}}. It searches with the largest face of the image. No face at all raises
  `NoFaceInPhoto`; an image Rekognition cannot decode (or too large) raises `InvalidImage`.
- `index` -> IndexFaces: `FaceRecords[]` {`Face` {`FaceId`, `ExternalImageId`, ...},
  `FaceDetail`}, `UnindexedFaces[]` {`Reasons`, `FaceDetail`}. No usable face is an empty
  `FaceRecords`, not an error; callers decide.
- `delete` -> DeleteFaces: `DeletedFaces[]`, `UnsuccessfulFaceDeletions[]`.

Throttling and server errors raise `TransientError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from smartdoor.adapters.aws import client, transient_errors_as
from smartdoor.errors import InvalidImage, NoFaceInPhoto, TransientError
from smartdoor.models import ImageRef, S3Image
from smartdoor.observability import logger
from smartdoor.ports import FaceEngine as FaceEngine  # the port this adapter implements (re-exported)
from smartdoor.process_cache import process_cache

__all__ = ["FaceEngine", "ImageRef", "RekognitionFaceEngine", "S3Image", "rekognition_image"]

# The image is not a JPEG/PNG Rekognition can decode, or too large: no retry changes that.
_UNREADABLE_IMAGE_CODES = frozenset({"InvalidImageFormatException", "ImageTooLargeException"})
# Rekognition's ExternalImageId pattern and the DeleteFaces batch limit.
MAX_EXTERNAL_ID_LENGTH = 255
MAX_DELETE_BATCH = 4096


def rekognition_image(image: ImageRef) -> dict[str, Any]:
    """The `Image` parameter of Rekognition's image APIs."""
    if isinstance(image, S3Image):
        return {"S3Object": {"Bucket": image.bucket, "Name": image.key}}
    if isinstance(image, bytes | bytearray):
        if not image:
            raise ValueError("image bytes are empty")
        return {"Bytes": bytes(image)}
    raise TypeError(f"an image is bytes or S3Image, not {type(image).__name__}")


def _without_metadata(response: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in response.items() if key != "ResponseMetadata"}


def _error_code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class RekognitionFaceEngine:
    """Amazon Rekognition image APIs on one collection."""

    def __init__(self, collection_id: str, rekognition_client: Any | None = None) -> None:
        if not collection_id:
            raise ValueError("a Rekognition collection id is required")
        self._collection_id = collection_id
        self._rekognition = rekognition_client

    @property
    def _client(self) -> Any:
        return self._rekognition or client("rekognition")

    def search(self, image: ImageRef, threshold: float, max_faces: int) -> dict[str, Any]:
        # Validated here so that an InvalidParameterException can only mean "no face" below.
        if not 0 <= threshold <= 100:
            raise ValueError("threshold is a similarity percentage, 0-100")
        if not 1 <= max_faces <= 4096:
            raise ValueError("max_faces must be 1-4096")
        try:
            with transient_errors_as(TransientError):
                response = self._client.search_faces_by_image(
                    CollectionId=self._collection_id,
                    Image=rekognition_image(image),
                    FaceMatchThreshold=threshold,
                    MaxFaces=max_faces,
                )
        except Exception as error:
            # Rekognition's only signal for "there is no face in this image" is this code.
            if _error_code(error) == "InvalidParameterException":
                raise NoFaceInPhoto(f"no face to search with: {error}") from error
            if _error_code(error) in _UNREADABLE_IMAGE_CODES:
                raise InvalidImage(f"Rekognition cannot read the image: {_error_code(error)}") from error
            raise
        return _without_metadata(response)

    def index(self, image: ImageRef, external_image_id: str) -> dict[str, Any]:
        if not external_image_id or len(external_image_id) > MAX_EXTERNAL_ID_LENGTH:
            raise ValueError("external_image_id must be 1-255 characters")
        with transient_errors_as(TransientError):
            response = self._client.index_faces(
                CollectionId=self._collection_id,
                Image=rekognition_image(image),
                ExternalImageId=external_image_id,
                MaxFaces=1,
                QualityFilter="AUTO",
                DetectionAttributes=["DEFAULT"],
            )
        result = _without_metadata(response)
        logger.info(
            "Indexed faces",
            extra={
                "external_image_id": external_image_id,
                "indexed": len(result.get("FaceRecords", [])),
                "unindexed_reasons": [face.get("Reasons", []) for face in result.get("UnindexedFaces", [])],
            },
        )
        return result

    def delete(self, face_ids: Sequence[str]) -> dict[str, Any]:
        ids = list(dict.fromkeys(face_ids))
        if not ids:
            return {"DeletedFaces": [], "UnsuccessfulFaceDeletions": []}
        deleted: list[str] = []
        unsuccessful: list[dict[str, Any]] = []
        for start in range(0, len(ids), MAX_DELETE_BATCH):
            with transient_errors_as(TransientError):
                response = self._client.delete_faces(
                    CollectionId=self._collection_id, FaceIds=ids[start : start + MAX_DELETE_BATCH]
                )
            deleted.extend(response.get("DeletedFaces", []))
            unsuccessful.extend(response.get("UnsuccessfulFaceDeletions", []))
        return {"DeletedFaces": deleted, "UnsuccessfulFaceDeletions": unsuccessful}


@process_cache
def rekognition_engine(collection_id: str) -> RekognitionFaceEngine:
    """The collection's engine, one per process (warm invocations reuse it)."""
    return RekognitionFaceEngine(collection_id)
