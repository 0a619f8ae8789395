"""Workflow task: create the owner's approval request for an unknown visitor.

Input `{visitId, doorId, photo: {bucket, frameKey, faceKey}, detectedAt}`; output
`{approvalRef, expiresAt, timeoutSeconds, visitorId}` (`visitorId`: the visitor an approval
creates, so the workflow can record them as decided in the visit before enrolling them).
The workflow waits for the owner with `TimeoutSecondsPath: $.approval.timeoutSeconds`, so the
request dies with that wait.
Errors: `TransientError` (retried by the ASL); a malformed input fails the task.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from smartdoor.adapters.approval_store import DynamoApprovalStore
from smartdoor.domain.approvals import create_approval, iso_z, utc_now
from smartdoor.domain.face_matching import visitor_id_for
from smartdoor.models import WIRE_ID_PATTERN, VisitPhoto, WireModel
from smartdoor.observability import log_counts, logger
from smartdoor.ports import ApprovalRepository
from smartdoor.schema import Meta, field
from smartdoor.settings import FunctionSettings, load_settings


class CreateApprovalSettings(FunctionSettings):
    approvals_table: Annotated[str, Meta(min_length=1)] = field(name="APPROVALS_TABLE")
    photos_bucket: Annotated[str, Meta(min_length=1)] = field(name="PHOTOS_BUCKET")
    approval_timeout_seconds: Annotated[int, Meta(ge=10, le=86400)] = field(name="APPROVAL_TIMEOUT_SECONDS")


class CreateApprovalRequest(WireModel):
    visit_id: Annotated[str, Meta(pattern=WIRE_ID_PATTERN)]
    door_id: Annotated[str, Meta(pattern=WIRE_ID_PATTERN)]
    photo: VisitPhoto
    detected_at: Annotated[datetime, Meta(tz=True)]


class CreateApprovalResponse(WireModel):
    approval_ref: str
    expires_at: str  # ISO-8601 UTC
    timeout_seconds: int
    visitor_id: str


@logger.inject_lambda_context
def handler(
    event: dict[str, Any],
    context: LambdaContext,
    approvals: ApprovalRepository | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    request = CreateApprovalRequest.parse(event)
    settings = load_settings(CreateApprovalSettings)
    approval = create_approval(
        visit_id=request.visit_id,
        door_id=request.door_id,
        photo=request.photo,
        seen_at=request.detected_at,
        timeout_seconds=settings.approval_timeout_seconds,
        photos_bucket=settings.photos_bucket,
        approvals=approvals or DynamoApprovalStore(settings.approvals_table),
        now=now or utc_now(),
    )
    log_counts("Approval created", {"ApprovalsCreated": 1})
    return CreateApprovalResponse(
        approval_ref=approval.approval_ref,
        expires_at=iso_z(approval.expires_at),
        timeout_seconds=settings.approval_timeout_seconds,
        visitor_id=visitor_id_for(approval.approval_ref),
    ).to_wire()
