"""FakeFaceEngine: a Rekognition collection in memory (FaceEngine protocol), scriptable per test.

By default a search matches nobody and an index enrols one face. Tell it what comes next:

    engine = FakeFaceEngine(known={"vis-anna": ["face-1"]})
    engine.will_match("vis-anna", similarity=99.2)   # next search finds Anna
    engine.photo_has_no_face()                       # next search and next index find no face
    engine.index_rejects_face(("LOW_SHARPNESS",))    # next index: a face, too blurred to enrol
    engine.fails_transiently(times=2)                # next two calls raise TransientError

Answers have Rekognition's shapes, so code written against the fake reads real responses.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from smartdoor.errors import NoFaceInPhoto, TransientError
from smartdoor.models import ImageRef, S3Image

MODEL_VERSION = "7.0"
_BOX = {"Width": 0.2, "Height": 0.3, "Left": 0.4, "Top": 0.3}


@dataclass(frozen=True)
class FaceCall:
    operation: str  # "search" | "index" | "delete"
    image: ImageRef | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def image_key(self) -> str | None:
        return self.image.key if isinstance(self.image, S3Image) else None


@dataclass(frozen=True)
class _Match:
    visitor_id: str
    similarity: float


class _NoFace:
    pass


@dataclass(frozen=True)
class _Rejected:
    reasons: tuple[str, ...]


class FakeFaceEngine:
    def __init__(self, known: Mapping[str, Sequence[str]] | None = None) -> None:
        """`known`: visitorId -> faceIds already in the collection."""
        self.faces: dict[str, str] = {}  # faceId -> visitorId (ExternalImageId)
        for visitor_id, face_ids in (known or {}).items():
            for face_id in face_ids:
                self.faces[face_id] = visitor_id
        self.calls: list[FaceCall] = []
        self._searches: deque[_Match | _NoFace] = deque()
        self._indexes: deque[_NoFace | _Rejected] = deque()
        self._transient_failures = 0

    # --- scripting -------------------------------------------------------------------------

    def will_match(self, visitor_id: str, similarity: float = 99.0, times: int = 1) -> FakeFaceEngine:
        """The next `times` searches find `visitor_id` (given a face if it has none yet)."""
        if visitor_id not in self.faces.values():
            self.faces[str(uuid.uuid4())] = visitor_id
        self._searches.extend(_Match(visitor_id, similarity) for _ in range(times))
        return self

    def search_finds_no_face(self, times: int = 1) -> FakeFaceEngine:
        self._searches.extend(_NoFace() for _ in range(times))
        return self

    def index_finds_no_face(self, times: int = 1) -> FakeFaceEngine:
        self._indexes.extend(_NoFace() for _ in range(times))
        return self

    def index_rejects_face(
        self, reasons: Sequence[str] = ("LOW_SHARPNESS",), times: int = 1
    ) -> FakeFaceEngine:
        self._indexes.extend(_Rejected(tuple(reasons)) for _ in range(times))
        return self

    def photo_has_no_face(self) -> FakeFaceEngine:
        """The next search (crop and frame) and the next index find no face."""
        return self.search_finds_no_face(times=2).index_finds_no_face()

    def fails_transiently(self, times: int = 1) -> FakeFaceEngine:
        self._transient_failures += times
        return self

    # --- queries -----------------------------------------------------------------------------

    def faces_of(self, visitor_id: str) -> list[str]:
        return [face_id for face_id, owner in self.faces.items() if owner == visitor_id]

    def calls_to(self, operation: str) -> list[FaceCall]:
        return [call for call in self.calls if call.operation == operation]

    # --- FaceEngine --------------------------------------------------------------------------

    def _maybe_fail(self) -> None:
        if self._transient_failures > 0:
            self._transient_failures -= 1
            raise TransientError("ThrottlingException: fake engine is throttling")

    @staticmethod
    def _check_image(image: ImageRef) -> None:
        if not isinstance(image, bytes | S3Image) or not image:
            raise TypeError(f"an image is non-empty bytes or S3Image, not {image!r}")

    def search(self, image: ImageRef, threshold: float, max_faces: int) -> dict[str, Any]:
        self._check_image(image)
        self.calls.append(FaceCall("search", image, {"threshold": threshold, "max_faces": max_faces}))
        self._maybe_fail()
        outcome = self._searches.popleft() if self._searches else None
        if isinstance(outcome, _NoFace):
            raise NoFaceInPhoto("fake engine: there are no faces in the image")
        matches: list[dict[str, Any]] = []
        if isinstance(outcome, _Match):
            for rank, face_id in enumerate(self.faces_of(outcome.visitor_id)):
                similarity = max(0.0, outcome.similarity - rank * 0.5)
                if similarity >= threshold:
                    matches.append({"Similarity": similarity, "Face": self._face(face_id)})
        return {
            "SearchedFaceBoundingBox": dict(_BOX),
            "SearchedFaceConfidence": 99.9,
            "FaceMatches": matches[:max_faces],
            "FaceModelVersion": MODEL_VERSION,
        }

    def index(self, image: ImageRef, external_image_id: str) -> dict[str, Any]:
        self._check_image(image)
        self.calls.append(FaceCall("index", image, {"external_image_id": external_image_id}))
        self._maybe_fail()
        outcome = self._indexes.popleft() if self._indexes else None
        if isinstance(outcome, _NoFace):
            return {"FaceRecords": [], "UnindexedFaces": [], "FaceModelVersion": MODEL_VERSION}
        if isinstance(outcome, _Rejected):
            return {
                "FaceRecords": [],
                "UnindexedFaces": [{"Reasons": list(outcome.reasons), "FaceDetail": self._detail()}],
                "FaceModelVersion": MODEL_VERSION,
            }
        face_id = str(uuid.uuid4())
        self.faces[face_id] = external_image_id
        return {
            "FaceRecords": [{"Face": self._face(face_id), "FaceDetail": self._detail()}],
            "UnindexedFaces": [],
            "FaceModelVersion": MODEL_VERSION,
        }

    def delete(self, face_ids: Sequence[str]) -> dict[str, Any]:
        self.calls.append(FaceCall("delete", None, {"face_ids": list(face_ids)}))
        self._maybe_fail()
        deleted = [face_id for face_id in face_ids if self.faces.pop(face_id, None) is not None]
        missing = [
            {"FaceId": face_id, "Reasons": ["FACE_NOT_FOUND"]}
            for face_id in face_ids
            if face_id not in deleted
        ]
        return {"DeletedFaces": deleted, "UnsuccessfulFaceDeletions": missing}

    # --- shapes ------------------------------------------------------------------------------

    def _face(self, face_id: str) -> dict[str, Any]:
        return {
            "FaceId": face_id,
            "BoundingBox": dict(_BOX),
            "ImageId": str(uuid.uuid5(uuid.NAMESPACE_OID, face_id)),
            "ExternalImageId": self.faces[face_id],
            "Confidence": 99.9,
            "IndexFacesModelVersion": MODEL_VERSION,
        }

    @staticmethod
    def _detail() -> dict[str, Any]:
        return {
            "BoundingBox": dict(_BOX),
            "Confidence": 99.9,
            "Quality": {"Brightness": 70.0, "Sharpness": 80.0},
        }
