"""Workflow task: save the visitor the owner approved.

Input `{approvalRef, visitorId, faceIds, photo, doorId}`; output `{visitorId, name}` (never the
phone). The name and phone come from the APPROVED approval record, where the approval API put
them; the state machine never carries them. Errors: `ApprovalNotApproved`, `ApprovalNotFound`,
`VisitorIdTaken`, `TransientError` (retried by the ASL).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from smartdoor.adapters.approval_store import DynamoApprovalStore
from smartdoor.adapters.visitor_store import DynamoVisitorStore
from smartdoor.domain.approvals import log_id, save_approved_visitor, utc_now
from smartdoor.models import WIRE_ID_PATTERN, VisitPhoto, WireModel
from smartdoor.observability import log_counts, logger
from smartdoor.ports import ApprovalRepository, VisitorWriter
from smartdoor.schema import Meta, field
from smartdoor.settings import FunctionSettings, load_settings


class SaveVisitorSettings(FunctionSettings):
    approvals_table: Annotated[str, Meta(min_length=1)] = field(name="APPROVALS_TABLE")
    visitors_table: Annotated[str, Meta(min_length=1)] = field(name="VISITORS_TABLE")


class SaveVisitorRequest(WireModel):
    approval_ref: Annotated[str, Meta(min_length=1, max_length=128)]
    visitor_id: Annotated[str, Meta(pattern=WIRE_ID_PATTERN)]
    face_ids: Annotated[list[str], Meta(min_length=1, max_length=100)]
    photo: VisitPhoto
    door_id: Annotated[str, Meta(pattern=WIRE_ID_PATTERN)]


class SaveVisitorResponse(WireModel):
    visitor_id: str
    name: str


@logger.inject_lambda_context(clear_state=True)
def handler(
    event: dict[str, Any],
    context: LambdaContext,
    approvals: ApprovalRepository | None = None,
    visitors: VisitorWriter | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    request = SaveVisitorRequest.parse(event)
    settings = load_settings(SaveVisitorSettings)
    logger.append_keys(approval=log_id(request.approval_ref))
    visitor = save_approved_visitor(
        approval_ref=request.approval_ref,
        visitor_id=request.visitor_id,
        face_ids=request.face_ids,
        photo=request.photo,
        door_id=request.door_id,
        approvals=approvals or DynamoApprovalStore(settings.approvals_table),
        visitors=visitors or DynamoVisitorStore(settings.visitors_table),
        now=now or utc_now(),
    )
    log_counts("Visitor saved", {"VisitorsSaved": 1}, visitor_id=visitor.visitor_id)
    return SaveVisitorResponse(visitor_id=visitor.visitor_id, name=visitor.name).to_wire()
