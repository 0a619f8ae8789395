"""Face search and enrolment rules for a visit's photos (check_collection, enrol_face).

Engines answer in Rekognition's shapes (smartdoor.adapters.face_engine); this module turns
those answers into the workflow's small decisions. No AWS calls, no Pillow.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from smartdoor.errors import NoFaceInPhoto, NoUsableFace
from smartdoor.models import S3Image, VisitPhoto, WireModel
from smartdoor.observability import logger

if TYPE_CHECKING:
    from smartdoor.adapters.face_engine import FaceEngine

# One face may match several collection faces of the same person; a few are enough to pick from.
MAX_SEARCH_MATCHES = 5
VISITOR_ID_PREFIX = "vis-"


class CollectionMatch(WireModel):
    """check_collection's answer: does the visit's face belong to a known visitor?"""

    matched: bool
    face_id: str | None = None
    visitor_id: str | None = None  # the collection's ExternalImageId
    similarity: float | None = None


class Enrolment(WireModel):
    """enrol_face's answer: the new visitor and the collection faces that now identify them."""

    visitor_id: str
    face_ids: list[str]


def best_match(response: dict[str, Any], threshold: float) -> CollectionMatch:
    """The most similar match at or above `threshold` in a SearchFacesByImage answer."""
    matches = [m for m in response.get("FaceMatches", []) if float(m.get("Similarity", 0.0)) >= threshold]
    if not matches:
        return CollectionMatch(matched=False)
    best = max(matches, key=lambda m: float(m["Similarity"]))
    face = best["Face"]
    visitor_id = face.get("ExternalImageId")
    if not visitor_id:
        # A face indexed without ExternalImageId names nobody; treat it as unknown, loudly.
        logger.warning("Collection face has no ExternalImageId", extra={"face_id": face.get("FaceId")})
        return CollectionMatch(matched=False)
    return CollectionMatch(
        matched=True,
        face_id=face["FaceId"],
        visitor_id=visitor_id,
        similarity=float(best["Similarity"]),
    )


def require_photos_bucket(photo: VisitPhoto, photos_bucket: str) -> None:
    """Refuse a photo outside the deployment's photos bucket: nothing else is searched or enrolled."""
    if photo.bucket != photos_bucket:
        raise ValueError(f"photo is in bucket {photo.bucket!r}, not the photos bucket")


def search_collection(
    photo: VisitPhoto,
    *,
    engine: FaceEngine,
    threshold: float,
    max_faces: int = MAX_SEARCH_MATCHES,
) -> CollectionMatch:
    """Search with the face crop; if the engine finds no face in it, with the whole frame.

    The crop comes from a box found on a slightly different frame (or by a stream processor),
    so it can cut part of the face off; the whole frame is the fallback. NoFaceInPhoto escapes
    only when neither has a face.
    """
    try:
        response = engine.search(S3Image(photo.bucket, photo.face_key), threshold, max_faces)
    except NoFaceInPhoto:
        logger.info("No face in the crop; searching the whole frame", extra={"face_key": photo.face_key})
        response = engine.search(S3Image(photo.bucket, photo.frame_key), threshold, max_faces)
    return best_match(response, threshold)


def visitor_id_for(approval_ref: str) -> str:
    """The visitor an approval creates. Derived from the approval, so a retried enrolment
    indexes under the same visitorId instead of minting a second visitor. Derived from the
    approvalRef (not a credential); one-way all the same, so the logged visitorId does not
    even name the approval."""
    if not approval_ref:
        raise ValueError("approvalRef is required")
    digest = hashlib.sha256(f"smartdoor-visitor:{approval_ref}".encode()).hexdigest()
    return VISITOR_ID_PREFIX + digest[:16]


def enrol_face(approval_ref: str, photo: VisitPhoto, *, engine: FaceEngine) -> Enrolment:
    """Index the largest face of the visit's frame under the approval's visitorId."""
    visitor_id = visitor_id_for(approval_ref)
    response = engine.index(S3Image(photo.bucket, photo.frame_key), visitor_id)
    face_ids = [record["Face"]["FaceId"] for record in response.get("FaceRecords", [])]
    if not face_ids:
        reasons = sorted({r for face in response.get("UnindexedFaces", []) for r in face.get("Reasons", [])})
        raise NoUsableFace(
            f"no face in {photo.frame_key} good enough to enrol (reasons: {', '.join(reasons) or 'no face'})"
        )
    return Enrolment(visitor_id=visitor_id, face_ids=face_ids)
