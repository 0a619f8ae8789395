"""check_collection: search the face collection with the visit's stored photo (the face crop,
then the whole frame), in case the visitor was enrolled after the event was emitted.

Input `{visitId, photo}` -> `{matched, faceId?, visitorId?, similarity?}`.
Raises NoFaceInPhoto when neither picture has a face.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from smartdoor.adapters.face_engine import FaceEngine, rekognition_engine
from smartdoor.domain.face_matching import require_photos_bucket, search_collection
from smartdoor.models import VisitPhoto, WireModel
from smartdoor.observability import log_counts, logger
from smartdoor.schema import Meta, field
from smartdoor.settings import FunctionSettings, load_settings


class Settings(FunctionSettings, kw_only=True):
    collection_id: Annotated[str, Meta(min_length=1)] = field(name="COLLECTION_ID")
    face_match_threshold: Annotated[float, Meta(ge=0, le=100)] = field(
        default=90.0, name="FACE_MATCH_THRESHOLD"
    )
    photos_bucket: Annotated[str, Meta(min_length=3)] = field(name="PHOTOS_BUCKET")


class CheckCollectionInput(WireModel):
    visit_id: Annotated[str, Meta(min_length=1)]
    photo: VisitPhoto


@logger.inject_lambda_context(clear_state=True)
def handler(
    event: dict[str, Any], context: LambdaContext, engine: FaceEngine | None = None
) -> dict[str, Any]:
    settings = load_settings(Settings)
    request = CheckCollectionInput.parse(event)
    logger.append_keys(visit_id=request.visit_id)
    require_photos_bucket(request.photo, settings.photos_bucket)
    match = search_collection(
        request.photo,
        engine=engine or rekognition_engine(settings.collection_id),
        threshold=settings.face_match_threshold,
    )
    log_counts(
        "Collection searched",
        {"CollectionRecheckMatched": int(match.matched)},
        matched=match.matched,
        visitor_id=match.visitor_id,
        similarity=match.similarity,
    )
    return match.to_wire()
