"""GET and POST /approvals/{approvalId}: what the owner page shows, and the owner's decision."""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus

from api.contract import ApprovalDecided, ApprovalRefused, ApprovalShown, DecisionRequest, answer
from api.router import Answer, Call, Doc, Route, json_answer
from smartdoor.domain.approvals import decide, view
from smartdoor.observability import log_counts
from smartdoor.services.unlock import iso_utc

# The owner page's photo links: short-lived, and never longer than the request itself lives.
MAX_PHOTO_URL_SECONDS = 300

APPROVAL_ID = {"approvalId": "the owner's approval id from the link, `<approvalRef>.<mac>` (a bearer secret)"}

_NOT_FOUND = answer("no such approval, or not a possible approval id, or its MAC is wrong (the same answer)")
_GONE = answer(
    "expired (status EXPIRED), or already approved or denied (status DECIDED): how and when",
    ApprovalRefused,
)


def show_approval(call: Call) -> Answer:
    approval_id = call.params["approvalId"]
    adapters = call.adapters
    shown = view(approval_id, now=adapters.now, approvals=adapters.approvals, link_key=adapters.link_key)
    remaining = int((shown.expires_at - adapters.now).total_seconds())
    link_seconds = max(1, min(MAX_PHOTO_URL_SECONDS, remaining))
    log_counts("Approval shown", {"ApprovalsShown": 1})
    return json_answer(
        HTTPStatus.OK,
        {
            "approvalId": approval_id,
            "status": shown.status.value,
            "doorId": shown.door_id,
            "seenAt": iso_utc(shown.seen_at),
            "expiresAt": iso_utc(shown.expires_at),
            "now": iso_utc(adapters.now),
            "photoUrl": adapters.photo_links.presigned_get_url(shown.photo.face_key, link_seconds),
            "frameUrl": adapters.photo_links.presigned_get_url(shown.photo.frame_key, link_seconds),
            "photoUrlExpiresAt": iso_utc(adapters.now + timedelta(seconds=link_seconds)),
        },
    )


def decide_approval(call: Call) -> Answer:
    approval_id, body = call.params["approvalId"], call.body
    adapters = call.adapters
    result = decide(
        approval_id,
        body.decision,
        body.name,
        body.phone,
        now=adapters.now,
        approvals=adapters.approvals,
        task_tokens=adapters.task_tokens,
        link_key=adapters.link_key,
    )
    log_counts("Approval decided", {f"Approvals{result.status.value.title()}": 1})
    return json_answer(
        HTTPStatus.OK,
        {
            "approvalId": approval_id,
            "decision": result.decision.value,
            "status": result.status.value,
            "decidedAt": iso_utc(result.decided_at),
        },
    )


SHOW = Doc(
    summary="What the owner page shows (never decides anything)",
    tags=("approvals",),
    params=APPROVAL_ID,
    responses={200: answer("a pending request", ApprovalShown), 404: _NOT_FOUND, 410: _GONE},
)
DECIDE = Doc(
    summary="The owner's decision",
    tags=("approvals",),
    params=APPROVAL_ID,
    responses={
        200: answer("decided now; the waiting workflow moves on", ApprovalDecided),
        400: answer("the body or a field is wrong (`field` names it); nothing changed"),
        404: _NOT_FOUND,
        409: answer(
            "already decided (status DECIDED: how and when), or the owner was not asked yet "
            "(status PENDING, Retry-After)",
            ApprovalRefused,
        ),
        410: answer("expired (status EXPIRED)", ApprovalRefused),
        413: answer("body over 4096 bytes"),
        415: answer("a body sent as another Content-Type than application/json"),
        503: answer("Step Functions throttled or unreachable: the decision was undone (Retry-After)"),
    },
)
ROUTES = [
    Route("GET", "/approvals/{approvalId}", show_approval, SHOW),
    Route("POST", "/approvals/{approvalId}", decide_approval, DECIDE, body=DecisionRequest),
]
