"""The local face engine: dlib's face recognition model behind the `FaceEngine` interface.

It answers `search`, `index` and `delete` in Rekognition's response shapes (SearchFacesByImage,
IndexFaces, DeleteFaces, without ResponseMetadata), so the task functions, the match function
and the CLI cannot tell it from `RekognitionFaceEngine`. The models come from PyPI: `dlib-bin`
(the compiled library) and `face_recognition_models` (the HOG face detector's partner files: the
68-point shape predictor and the ResNet face recognition model); nothing is downloaded at run time.
dlib stays out of the Lambda asset: this module lives in `smartdoor_local`, never in `functions/`.

How Rekognition's numbers are made here (docs/local.md has the measurements):

- Faces are found by dlib's HOG detector (frontal faces). A detection's score (0 at dlib's own
  decision boundary, about 1 for a clear frontal face) becomes `Confidence` with a logistic
  curve: score 0.2 -> 90 %, 0.5 -> 98 %, 1.0 -> 99.8 %.
- `Quality.Brightness` is the face's mean luminance (0-100); `Quality.Sharpness` grows with the
  variance of the face's Laplacian (0-100: a sharp face is above 90, a 2-pixel blur below 20).
- A face is a 128-number embedding; two faces are compared by euclidean distance. dlib's
  documented same-person threshold, 0.6, maps to `Similarity` 90 % (the stack's default
  FACE_MATCH_THRESHOLD); smaller distances map towards 100 %, larger ones fall off quickly
  (0.5 -> 98.5 %, 0.7 -> 55 %, 0.8 -> 14 %).
- `search` uses the largest confident face (Confidence >= 90; else the most confident one), as
  SearchFacesByImage uses the largest face; no face at all raises `NoFaceInPhoto`.
- `index` enrols at most one face (IndexFaces with MaxFaces=1, QualityFilter=AUTO): faces under
  90 % confidence or 40 pixels are unindexed as LOW_CONFIDENCE / SMALL_BOUNDING_BOX, the others
  beyond the largest as EXCEEDS_MAX_FACES.

Embeddings live in a `FaceStore`: the local stack keeps them in a DynamoDB table of its own
(`DynamoFaceStore`), next to the Visitors table, so every process that talks to the local stack
sees the same collection.
"""

from __future__ import annotations

import importlib.util
import math
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image, ImageOps

from smartdoor.adapters.aws import dynamodb_table, transient_errors_as
from smartdoor.adapters.photo_store import PhotoStore
from smartdoor.domain.imaging import open_picture
from smartdoor.errors import NoFaceInPhoto, TransientError
from smartdoor.models import ImageRef, S3Image

MODEL_VERSION = "dlib-resnet-v1"
# dlib's documented threshold: two embeddings closer than this are the same person.
DLIB_SAME_PERSON_DISTANCE = 0.6
# ... which is what Rekognition's similarity would call 90 % (the stack's default threshold).
SIMILARITY_AT_DLIB_THRESHOLD = 90.0
# How fast similarity falls off around the threshold (distance units).
SIMILARITY_SCALE = 0.05
# Detector scores -> Confidence: a logistic curve through score 0.2 -> 90 %.
CONFIDENCE_MIDPOINT_SCORE = -0.174
CONFIDENCE_STEEPNESS = 5.88
# IndexFaces' QualityFilter=AUTO, as this engine applies it.
MIN_INDEX_CONFIDENCE = 90.0
MIN_INDEX_FACE_PIXELS = 40
# Pictures are analysed at most this large (longest side); boxes are ratios, so unchanged.
MAX_ANALYSED_SIDE = 1024
# Small pictures are upsampled once so that faces of ~40 pixels are found.
UPSAMPLE_BELOW_SIDE = 800
# Laplacian variance that reads as Sharpness 63 %; a sharp face is several times this.
SHARPNESS_SCALE = 50.0
_QUALITY_SIDE = 96


# ---------------------------------------------------------------------------- scores


def similarity_from_distance(distance: float) -> float:
    """Rekognition-style similarity (%) for a euclidean distance between two dlib embeddings."""
    midpoint = DLIB_SAME_PERSON_DISTANCE - SIMILARITY_SCALE * math.log(
        (100.0 - SIMILARITY_AT_DLIB_THRESHOLD) / SIMILARITY_AT_DLIB_THRESHOLD
    )
    exponent = (distance - midpoint) / SIMILARITY_SCALE
    if exponent > 700:  # math.exp overflows; the similarity is 0 long before
        return 0.0
    return 100.0 / (1.0 + math.exp(exponent))


def distance_for_similarity(similarity: float) -> float:
    """The inverse of `similarity_from_distance` (0 < similarity < 100)."""
    if not 0.0 < similarity < 100.0:
        raise ValueError("similarity must be strictly between 0 and 100")
    midpoint = DLIB_SAME_PERSON_DISTANCE - SIMILARITY_SCALE * math.log(
        (100.0 - SIMILARITY_AT_DLIB_THRESHOLD) / SIMILARITY_AT_DLIB_THRESHOLD
    )
    return midpoint + SIMILARITY_SCALE * math.log(100.0 / similarity - 1.0)


def confidence_from_score(score: float) -> float:
    """Rekognition-style face confidence (%) for a dlib HOG detection score."""
    exponent = -CONFIDENCE_STEEPNESS * (score - CONFIDENCE_MIDPOINT_SCORE)
    if exponent > 700:
        return 0.0
    return 100.0 / (1.0 + math.exp(exponent))


# ---------------------------------------------------------------------------- the collection


@dataclass(frozen=True)
class StoredFace:
    """One indexed face: what Rekognition keeps in a collection, plus the embedding."""

    face_id: str
    external_image_id: str
    image_id: str
    embedding: tuple[float, ...]
    bounding_box: dict[str, float]
    confidence: float
    indexed_at: str

    def face(self) -> dict[str, Any]:
        """Rekognition's `Face` object for this face."""
        return {
            "FaceId": self.face_id,
            "BoundingBox": dict(self.bounding_box),
            "ImageId": self.image_id,
            "ExternalImageId": self.external_image_id,
            "Confidence": self.confidence,
            "IndexFacesModelVersion": MODEL_VERSION,
        }


class FaceStore(Protocol):
    """Where a local collection keeps its faces."""

    def all(self) -> list[StoredFace]: ...

    def put(self, face: StoredFace) -> None: ...

    def delete(self, face_ids: Sequence[str]) -> list[str]:
        """Remove the faces; returns the ids that existed."""
        ...


class InMemoryFaceStore:
    """A collection that lives as long as the object (tests, replay)."""

    def __init__(self) -> None:
        self._faces: dict[str, StoredFace] = {}
        self._lock = threading.Lock()

    def all(self) -> list[StoredFace]:
        with self._lock:
            return list(self._faces.values())

    def put(self, face: StoredFace) -> None:
        with self._lock:
            self._faces[face.face_id] = face

    def delete(self, face_ids: Sequence[str]) -> list[str]:
        with self._lock:
            return [face_id for face_id in face_ids if self._faces.pop(face_id, None) is not None]


class DynamoFaceStore:
    """A collection in a DynamoDB table keyed by `faceId` (the local stack's `SmartDoor-LocalFaces`).

    Items: `faceId`, `externalImageId`, `imageId`, `embedding` (128 float64, little-endian bytes),
    `boundingBox` (JSON numbers), `confidence`, `indexedAt`. A local collection holds a few faces,
    so a search reads them all.
    """

    def __init__(self, table_name: str, table: Any | None = None) -> None:
        if not table_name:
            raise ValueError("a face table name is required")
        self._table_name = table_name
        self._explicit_table = table

    @property
    def _table(self) -> Any:
        return self._explicit_table if self._explicit_table is not None else dynamodb_table(self._table_name)

    def all(self) -> list[StoredFace]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"ConsistentRead": True}
        with transient_errors_as(TransientError):
            while True:
                page = self._table.scan(**kwargs)
                items.extend(page.get("Items", []))
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return [_face_from_item(item) for item in items]

    def put(self, face: StoredFace) -> None:
        item = {
            "faceId": face.face_id,
            "externalImageId": face.external_image_id,
            "imageId": face.image_id,
            "embedding": np.asarray(face.embedding, dtype="<f8").tobytes(),
            "boundingBox": {name: Decimal(str(value)) for name, value in face.bounding_box.items()},
            "confidence": Decimal(str(face.confidence)),
            "indexedAt": face.indexed_at,
        }
        with transient_errors_as(TransientError):
            self._table.put_item(Item=item)

    def delete(self, face_ids: Sequence[str]) -> list[str]:
        deleted = []
        with transient_errors_as(TransientError):
            for face_id in face_ids:
                response = self._table.delete_item(Key={"faceId": face_id}, ReturnValues="ALL_OLD")
                if response.get("Attributes"):
                    deleted.append(face_id)
        return deleted


def _face_from_item(item: dict[str, Any]) -> StoredFace:
    raw = item["embedding"]
    data = raw.value if hasattr(raw, "value") else raw  # boto3's Binary wrapper
    return StoredFace(
        face_id=str(item["faceId"]),
        external_image_id=str(item["externalImageId"]),
        image_id=str(item["imageId"]),
        embedding=tuple(float(x) for x in np.frombuffer(bytes(data), dtype="<f8")),
        bounding_box={name: float(value) for name, value in item["boundingBox"].items()},
        confidence=float(item["confidence"]),
        indexed_at=str(item["indexedAt"]),
    )


# ---------------------------------------------------------------------------- dlib


class _Models:
    """dlib's detector, shape predictor and recognition model, loaded once per process.

    dlib objects are not documented as thread-safe; every call goes through one lock (the
    camera page, the task functions and the CLI may analyse pictures at the same time).
    """

    def __init__(self) -> None:
        import dlib

        self.lock = threading.Lock()
        self.detector = dlib.get_frontal_face_detector()
        self.shapes = dlib.shape_predictor(_model_file("shape_predictor_68_face_landmarks.dat"))
        self.encoder = dlib.face_recognition_model_v1(
            _model_file("dlib_face_recognition_resnet_model_v1.dat")
        )


def _model_file(name: str) -> str:
    """A model file of the face_recognition_models wheel, found without importing the package
    (its __init__ imports pkg_resources, which setuptools 81 removed and a 3.12+ venv lacks)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("face_recognition_models is not installed (make install)")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / name
    if not path.is_file():
        raise RuntimeError(f"face_recognition_models has no {name}")
    return str(path)


@cache
def _models() -> _Models:
    return _Models()


def load_models() -> None:
    """Load the models now (startup) rather than on the first picture."""
    _models()


@dataclass(frozen=True)
class Face:
    """One face the detector found in a picture."""

    left: int
    top: int
    right: int
    bottom: int
    score: float
    image_width: int
    image_height: int
    brightness: float
    sharpness: float

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def area(self) -> int:
        return max(0, self.width) * max(0, self.height)

    @property
    def confidence(self) -> float:
        return confidence_from_score(self.score)

    def bounding_box(self) -> dict[str, float]:
        """Rekognition's ratios of the picture (Left/Top may be slightly outside 0-1 at an edge)."""
        return {
            "Width": min(1.0, self.width / self.image_width),
            "Height": min(1.0, self.height / self.image_height),
            "Left": self.left / self.image_width,
            "Top": self.top / self.image_height,
        }

    def quality(self) -> dict[str, float]:
        return {"Brightness": self.brightness, "Sharpness": self.sharpness}

    def detail(self) -> dict[str, Any]:
        """Rekognition's `FaceDetail` (the DEFAULT attributes this engine can tell)."""
        return {"BoundingBox": self.bounding_box(), "Confidence": self.confidence, "Quality": self.quality()}


@dataclass(frozen=True)
class Picture:
    pixels: np.ndarray  # RGB, uint8, contiguous
    width: int
    height: int


def decode_picture(data: bytes) -> Picture:
    """A JPEG or PNG as RGB pixels (EXIF orientation applied), at most MAX_ANALYSED_SIDE on a side.

    InvalidImage as the Lambda code's imaging says it (TooManyPixels for too large a picture).
    """
    image = open_picture(data)
    image = ImageOps.exif_transpose(image).convert("RGB")
    longest = max(image.width, image.height)
    if longest > MAX_ANALYSED_SIDE:
        scale = MAX_ANALYSED_SIDE / longest
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS)
    pixels = np.ascontiguousarray(np.asarray(image, dtype=np.uint8))
    return Picture(pixels=pixels, width=image.width, height=image.height)


def _face_quality(picture: Picture, left: int, top: int, right: int, bottom: int) -> tuple[float, float]:
    box = (max(0, left), max(0, top), min(picture.width, right), min(picture.height, bottom))
    if box[2] <= box[0] or box[3] <= box[1]:
        return 0.0, 0.0
    crop = Image.fromarray(picture.pixels).crop(box).convert("L").resize((_QUALITY_SIDE, _QUALITY_SIDE))
    gray = np.asarray(crop, dtype=np.float64)
    brightness = float(gray.mean() / 255.0 * 100.0)
    laplacian = -4.0 * gray[1:-1, 1:-1] + gray[:-2, 1:-1] + gray[2:, 1:-1] + gray[1:-1, :-2] + gray[1:-1, 2:]
    sharpness = float(100.0 * (1.0 - math.exp(-float(laplacian.var()) / SHARPNESS_SCALE)))
    return brightness, sharpness


def _rectangle_of(face: Face) -> Any:
    import dlib

    return dlib.rectangle(face.left, face.top, face.right, face.bottom)


# ---------------------------------------------------------------------------- the engine


class LocalFaceEngine:
    """A Rekognition-like face collection on dlib (`FaceEngine` protocol).

    `photos` resolves `S3Image` references (the task functions pass the visit's stored photos);
    without it only image bytes are accepted.
    """

    def __init__(self, store: FaceStore, photos: PhotoStore | None = None) -> None:
        self._store = store
        self._photos = photos

    # -- FaceEngine

    def search(self, image: ImageRef, threshold: float, max_faces: int) -> dict[str, Any]:
        """SearchFacesByImage: the largest confident face against every face of the collection."""
        if not 0 <= threshold <= 100:
            raise ValueError("threshold is a similarity percentage, 0-100")
        if not 1 <= max_faces <= 4096:
            raise ValueError("max_faces must be 1-4096")
        answer = self.search_picture(self._bytes_of(image), threshold, max_faces)
        if answer is None:
            raise NoFaceInPhoto("no face to search with in the image")
        return answer[0]

    def index(self, image: ImageRef, external_image_id: str) -> dict[str, Any]:
        """IndexFaces with MaxFaces=1 and QualityFilter=AUTO."""
        if not external_image_id or len(external_image_id) > 255:
            raise ValueError("external_image_id must be 1-255 characters")
        picture = decode_picture(self._bytes_of(image))
        faces = self._detect(picture)
        unindexed: list[dict[str, Any]] = []
        usable: list[Face] = []
        for face in faces:
            reasons = []
            if face.confidence < MIN_INDEX_CONFIDENCE:
                reasons.append("LOW_CONFIDENCE")
            if min(face.width, face.height) < MIN_INDEX_FACE_PIXELS:
                reasons.append("SMALL_BOUNDING_BOX")
            if reasons:
                unindexed.append({"Reasons": reasons, "FaceDetail": face.detail()})
            else:
                usable.append(face)
        usable.sort(key=lambda face: face.area, reverse=True)
        records = []
        if usable:
            chosen = usable[0]
            stored = StoredFace(
                face_id=str(uuid.uuid4()),
                external_image_id=external_image_id,
                image_id=str(uuid.uuid4()),
                embedding=tuple(float(x) for x in self._embedding(picture, chosen)),
                bounding_box=chosen.bounding_box(),
                confidence=chosen.confidence,
                indexed_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            )
            self._store.put(stored)
            records.append({"Face": stored.face(), "FaceDetail": chosen.detail()})
            unindexed.extend({"Reasons": ["EXCEEDS_MAX_FACES"], "FaceDetail": f.detail()} for f in usable[1:])
        return {"FaceRecords": records, "UnindexedFaces": unindexed, "FaceModelVersion": MODEL_VERSION}

    def delete(self, face_ids: Sequence[str]) -> dict[str, Any]:
        """DeleteFaces: unknown ids come back as FACE_NOT_FOUND."""
        ids = list(dict.fromkeys(face_ids))
        deleted = self._store.delete(ids)
        missing = [
            {"FaceId": face_id, "Reasons": ["FACE_NOT_FOUND"]} for face_id in ids if face_id not in deleted
        ]
        return {"DeletedFaces": deleted, "UnsuccessfulFaceDeletions": missing}

    # -- beyond Rekognition's interface (the camera page, the CLI, the tests)

    def search_picture(
        self, data: bytes, threshold: float, max_faces: int
    ) -> tuple[dict[str, Any], dict[str, float]] | None:
        """SearchFacesByImage's answer and the searched face's Quality (what DetectFaces would add),
        or None when the picture has no face."""
        picture = decode_picture(data)
        face = self._searched_face(self._detect(picture))
        if face is None:
            return None
        embedding = self._embedding(picture, face)
        matches: list[dict[str, Any]] = []
        for stored in self._store.all():
            distance = float(np.linalg.norm(embedding - np.asarray(stored.embedding)))
            similarity = similarity_from_distance(distance)
            if similarity >= threshold:
                matches.append({"Similarity": similarity, "Face": stored.face()})
        matches.sort(key=lambda match: match["Similarity"], reverse=True)
        answer = {
            "SearchedFaceBoundingBox": face.bounding_box(),
            "SearchedFaceConfidence": face.confidence,
            "FaceMatches": matches[:max_faces],
            "FaceModelVersion": MODEL_VERSION,
        }
        return answer, face.quality()

    def detect_faces(self, data: bytes) -> list[Face]:
        """Every face the detector finds, most confident first."""
        return self._detect(decode_picture(data))

    def embedding(self, data: bytes) -> np.ndarray:
        """The embedding of the face `search` would use (NoFaceInPhoto when there is none)."""
        picture = decode_picture(data)
        face = self._searched_face(self._detect(picture))
        if face is None:
            raise NoFaceInPhoto("no face in the image")
        return self._embedding(picture, face)

    def faces(self) -> list[StoredFace]:
        return self._store.all()

    # -- internals

    def _bytes_of(self, image: ImageRef) -> bytes:
        if isinstance(image, S3Image):
            if self._photos is None:
                raise TypeError("this engine reads S3 images through a photo store; none was given")
            return self._photos.read(image.key, bucket=image.bucket)
        if isinstance(image, bytes | bytearray):
            if not image:
                raise ValueError("image bytes are empty")
            return bytes(image)
        raise TypeError(f"an image is bytes or S3Image, not {type(image).__name__}")

    @staticmethod
    def _searched_face(faces: Iterable[Face]) -> Face | None:
        found = list(faces)
        if not found:
            return None
        confident = [face for face in found if face.confidence >= MIN_INDEX_CONFIDENCE]
        if confident:
            return max(confident, key=lambda face: face.area)
        return max(found, key=lambda face: face.score)

    @staticmethod
    def _detect(picture: Picture) -> list[Face]:
        models = _models()
        upsample = 1 if max(picture.width, picture.height) <= UPSAMPLE_BELOW_SIDE else 0
        with models.lock:
            rectangles, scores, _ = models.detector.run(picture.pixels, upsample, 0.0)
        faces = []
        for rectangle, score in zip(rectangles, scores, strict=True):
            left, top = int(rectangle.left()), int(rectangle.top())
            right, bottom = int(rectangle.right()) + 1, int(rectangle.bottom()) + 1
            brightness, sharpness = _face_quality(picture, left, top, right, bottom)
            faces.append(
                Face(
                    left=left,
                    top=top,
                    right=right,
                    bottom=bottom,
                    score=float(score),
                    image_width=picture.width,
                    image_height=picture.height,
                    brightness=brightness,
                    sharpness=sharpness,
                )
            )
        faces.sort(key=lambda face: face.score, reverse=True)
        return faces

    @staticmethod
    def _embedding(picture: Picture, face: Face) -> np.ndarray:
        models = _models()
        with models.lock:
            shape = models.shapes(picture.pixels, _rectangle_of(face))
            descriptor = models.encoder.compute_face_descriptor(picture.pixels, shape)
        return np.asarray(descriptor, dtype=np.float64)
