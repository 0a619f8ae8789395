"""enrol_face: index the approved visitor's face (largest face of the visit's frame) in the
collection under a visitorId derived from the approval.

Input `{approvalRef, visitId, doorId, photo}` -> `{visitorId, faceIds}`.
Raises NoUsableFace when the frame has no face good enough to enrol.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from smartdoor.adapters.face_engine import FaceEngine, rekognition_engine
from smartdoor.domain.approvals import log_id
from smartdoor.domain.face_matching import enrol_face, require_photos_bucket
from smartdoor.models import VisitPhoto, WireModel
from smartdoor.observability import log_counts, logger
from smartdoor.schema import Meta, field
from smartdoor.settings import FunctionSettings, load_settings


class Settings(FunctionSettings):
    collection_id: Annotated[str, Meta(min_length=1)] = field(name="COLLECTION_ID")
    photos_bucket: Annotated[str, Meta(min_length=3)] = field(name="PHOTOS_BUCKET")


class EnrolFaceInput(WireModel):
    approval_ref: Annotated[str, Meta(min_length=1)]
    visit_id: Annotated[str, Meta(min_length=1)]
    door_id: Annotated[str, Meta(min_length=1)]
    photo: VisitPhoto


@logger.inject_lambda_context(clear_state=True)
def handler(
    event: dict[str, Any], context: LambdaContext, engine: FaceEngine | None = None
) -> dict[str, Any]:
    settings = load_settings(Settings)
    request = EnrolFaceInput.parse(event)
    logger.append_keys(
        approval=log_id(request.approval_ref), visit_id=request.visit_id, door_id=request.door_id
    )
    require_photos_bucket(request.photo, settings.photos_bucket)
    enrolment = enrol_face(
        request.approval_ref, request.photo, engine=engine or rekognition_engine(settings.collection_id)
    )
    log_counts(
        "Visitor enrolled", {"FacesEnrolled": len(enrolment.face_ids)}, visitor_id=enrolment.visitor_id
    )
    return enrolment.to_wire()
