"""Owner approvals: the life of one request to let an unknown visitor in.

An approval is created PENDING when the unknown-visitor workflow starts waiting for the owner.
Every approval is named by its approvalRef: random, but not a credential, so the table key, the
workflow's state (execution history), events and logs may carry it. The owner is told by SMS
and email with a link whose approval id is `<approvalRef>.<mac>`, the MAC keyed with the
deployment's HMAC secret: that id is the bearer credential, and only ask_owner (which writes
the link) and the approval API (which checks it) ever compute it. The owner's decision moves
the record from PENDING to APPROVED or DENIED exactly once; the workflow learns the decision
through its task token, which never leaves the server. A request that outlives the workflow's
wait becomes EXPIRED.

    PENDING --decide(approve)--> APPROVED --(task token dead)--> EXPIRED
    PENDING --decide(deny)-----> DENIED   --(task token dead)--> EXPIRED
    PENDING --mark_expired / expiresAt passed------------------> EXPIRED

The visitor's name and phone live only on the record (for save_visitor); they never travel in
the task output, so they never reach the execution history. No boto3 here: storage, Step
Functions, SNS and S3 are the ports below, implemented in smartdoor.adapters.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Literal
from urllib.parse import quote

from smartdoor.domain.phones import is_e164
from smartdoor.domain.push import OwnerDevices, owner_push_message, push_to_owner
from smartdoor.errors import InvalidField, SmartDoorError, SmsNotDelivered, TransientError
from smartdoor.models import VisitPhoto
from smartdoor.observability import logger
from smartdoor.schema import Record

if TYPE_CHECKING:
    from smartdoor.adapters.visitor_store import Visitor
    from smartdoor.domain.sms_budget import SmsBudget
    from smartdoor.ports import ApprovalRepository, LinkKey, Notifier, PhotoLinks, TaskTokens, VisitorWriter

# secrets.token_urlsafe(16) is 16 random bytes = 128 bits, 22 URL-safe characters: the ref is
# no credential (the MAC is), so it needs only to be unique; shorter keeps the owner SMS in one
# segment.
APPROVAL_REF_BYTES = 16
_APPROVAL_REF = re.compile(r"^[A-Za-z0-9_-]{22,128}$")
# The owner's approval id is "<approvalRef>.<mac>": the first 16 bytes (128 bits) of
# HMAC-SHA256(key, domain + ref), base64url without padding (22 characters). The domain keeps
# these MACs apart from the OTP hashes made with the same key.
LINK_MAC_BYTES = 16
_LINK_MAC_LENGTH = 22
_LINK_MAC_DOMAIN = b"smartdoor/approval-link\0"
MAX_NAME_LENGTH = 64
# A presigned URL (SigV4) cannot outlive seven days.
MAX_PRESIGN_SECONDS = 7 * 24 * 3600

Channel = Literal["sms", "email", "push"]


class ApprovalStatus(StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    DENIED = "DENIED"
    EXPIRED = "EXPIRED"


DECIDED = frozenset({ApprovalStatus.APPROVED, ApprovalStatus.DENIED})


class Decision(StrEnum):
    APPROVE = "approve"
    DENY = "deny"


# ---------------------------------------------------------------------------- errors
# The approval API maps these to HTTP codes in its one exception handler (docs/internals.md);
# ask_owner and save_visitor let them escape so the workflow's Catch can match the class name.


class ApprovalError(SmartDoorError):
    """Base of the approval outcomes that are not a success."""


class ApprovalNotFound(ApprovalError):
    """No approval has this id (404)."""


class ApprovalAlreadyDecided(ApprovalError):
    """The owner (or another click) already approved or denied this request (409).

    Carries how and when, for the owner page: `outcome` (APPROVED or DENIED), `decided_at`, and
    for an approval the visitor's name as the owner typed it (never the phone)."""

    def __init__(
        self,
        message: str,
        *,
        outcome: ApprovalStatus | None = None,
        decided_at: datetime | None = None,
        visitor_name: str | None = None,
    ) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.decided_at = decided_at
        self.visitor_name = visitor_name


class ApprovalExpired(ApprovalError):
    """The request is past its expiry or was marked EXPIRED (410); `expired_at` says when, if known."""

    def __init__(self, message: str, *, expired_at: datetime | None = None) -> None:
        super().__init__(message)
        self.expired_at = expired_at


class TaskTokenRejected(ApprovalExpired):
    """Step Functions no longer waits for this decision (TaskTimedOut / InvalidToken): it expired (410)."""


class ApprovalNotReady(ApprovalError):
    """The owner has not been asked yet (no task token stored), so nothing can be decided (409)."""


class ApprovalNotApproved(ApprovalError):
    """save_visitor was asked to save a visitor whose approval is not APPROVED."""


class InvalidApprovalInput(ApprovalError, InvalidField):
    """A field of a request is missing or malformed (400). `field` names it; the value is never echoed."""


# ---------------------------------------------------------------------------- models


class Approval(Record):
    """One approval request. The token and the visitor's contact stay out of repr, so out of logs;
    so does the ref (not a secret, but logs name an approval by its `log_id`)."""

    __hidden__ = frozenset({"approval_ref", "task_token", "visitor_name", "visitor_phone"})

    approval_ref: str
    status: ApprovalStatus
    visit_id: str
    door_id: str
    photo: VisitPhoto
    seen_at: datetime
    created_at: datetime
    expires_at: datetime
    task_token: str | None = None
    execution_name: str | None = None
    sms_sent_at: datetime | None = None
    push_sent_at: datetime | None = None
    email_sent_at: datetime | None = None
    visitor_name: str | None = None
    visitor_phone: str | None = None
    decided_at: datetime | None = None
    expired_at: datetime | None = None

    @property
    def log_id(self) -> str:
        return log_id(self.approval_ref)

    def has_expired(self, now: datetime) -> bool:
        return self.status is ApprovalStatus.EXPIRED or now >= self.expires_at


class ApprovalView(Record):
    """What the owner page shows: no token, no visitor contact."""

    door_id: str
    status: ApprovalStatus
    photo: VisitPhoto
    seen_at: datetime
    expires_at: datetime


class DecisionResult(Record):
    __hidden__ = frozenset({"approval_ref"})

    approval_ref: str
    decision: Decision
    status: ApprovalStatus
    decided_at: datetime


class OwnerAsked(Record):
    """What ask_owner did on this attempt (a retry skips what an earlier attempt already sent)."""

    sms_sent: bool
    email_sent: bool
    # Pushes that reached a device of the owner on this attempt (then no SMS goes).
    pushes_delivered: int = 0
    # SNS refused the owner's SMS for good (SmsNotDelivered): the email alone carries the link.
    sms_refused: bool = False


# ---------------------------------------------------------------------------- ports


class ConditionNotMet(Exception):
    """A conditional write found the record in another state; `current` is that state (None: no record)."""

    def __init__(self, current: Approval | None) -> None:
        super().__init__("approval is not in the expected state")
        self.current = current


# ---------------------------------------------------------------------------- helpers


def new_approval_ref() -> str:
    return secrets.token_urlsafe(APPROVAL_REF_BYTES)


def log_id(approval_ref: str) -> str:
    """A short prefix that tells approvals apart in logs (of a ref, or of an owner's approval id)."""
    return approval_ref[:6] + "…"


def _link_mac(key: bytes, approval_ref: str) -> str:
    digest = hmac.new(key, _LINK_MAC_DOMAIN + approval_ref.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:LINK_MAC_BYTES]).rstrip(b"=").decode()


def approval_link_id(approval_ref: str, key: bytes) -> str:
    """The owner's approval id: the ref and a MAC that only this deployment can compute."""
    return f"{approval_ref}.{_link_mac(key, approval_ref)}"


def ref_from_link_id(approval_id: str, link_key: LinkKey) -> str:
    """The approvalRef an owner's approval id names, if its MAC is right. Anything else (no MAC, a
    wrong or truncated one, garbage) is ApprovalNotFound, the answer for an unknown approval, so
    nobody can tell a known ref from a bad MAC. Compared in constant time."""
    approval_ref, dot, mac = (approval_id or "").partition(".")
    if not dot or len(mac) != _LINK_MAC_LENGTH or not _APPROVAL_REF.match(approval_ref):
        raise ApprovalNotFound("no such approval")
    expected = _link_mac(link_key.hmac_key(), approval_ref)
    if not hmac.compare_digest(mac.encode(), expected.encode()):
        raise ApprovalNotFound("no such approval")
    return approval_ref


def approval_link(site_url: str, approval_id: str) -> str:
    """The owner's link; `approval_id` is the credential from approval_link_id."""
    return f"{site_url.rstrip('/')}/owner/?a={quote(approval_id, safe='')}"


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso_z(value: datetime) -> str:
    """ISO-8601 in UTC with a 'Z', the form every stored and returned time uses."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _require_aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise InvalidApprovalInput(name, "must be a time with a UTC offset")
    return value.astimezone(UTC)


def _require_plausible_ref(approval_ref: str) -> None:
    # Anything that cannot be one of our ids is simply unknown; don't even look it up.
    if not _APPROVAL_REF.match(approval_ref or ""):
        raise ApprovalNotFound("no such approval")


def already_decided(approval: Approval) -> ApprovalAlreadyDecided:
    approved = approval.status is ApprovalStatus.APPROVED
    return ApprovalAlreadyDecided(
        f"approval {approval.log_id} is already {approval.status.lower()}",
        outcome=approval.status,
        decided_at=approval.decided_at,
        visitor_name=approval.visitor_name if approved else None,
    )


def expired(approval: Approval) -> ApprovalExpired:
    """The request has expired: when its time ran out, or when it was marked EXPIRED if that came first
    (an execution that timed out before the record's own expiry)."""
    ended = approval.expires_at
    if approval.status is ApprovalStatus.EXPIRED and approval.expired_at is not None:
        ended = min(ended, approval.expired_at)
    return ApprovalExpired(f"approval {approval.log_id} has expired", expired_at=ended)


def _refusal(current: Approval | None, now: datetime) -> ApprovalError | TransientError:
    """Why a conditional transition from PENDING did not happen."""
    if current is None:
        return ApprovalNotFound("no such approval")
    if current.status in DECIDED:
        return already_decided(current)
    if current.has_expired(now):
        return expired(current)
    if current.task_token is None:
        return ApprovalNotReady(f"approval {current.log_id} is not waiting for a decision yet")
    # Pending, unexpired, with a token: it changed between the write and the read; try again.
    return TransientError(f"approval {current.log_id} changed concurrently")


def _load(approvals: ApprovalRepository, approval_ref: str) -> Approval:
    _require_plausible_ref(approval_ref)
    approval = approvals.get(approval_ref)
    if approval is None:
        raise ApprovalNotFound("no such approval")
    return approval


# ---------------------------------------------------------------------------- create


def create_approval(
    *,
    visit_id: str,
    door_id: str,
    photo: VisitPhoto,
    seen_at: datetime,
    timeout_seconds: int,
    photos_bucket: str,
    approvals: ApprovalRepository,
    now: datetime,
    new_id: Callable[[], str] = new_approval_ref,
) -> Approval:
    """A PENDING request that expires `timeout_seconds` from now (whole seconds, rounded down, so
    it dies no later than the workflow's wait, which starts after this returns)."""
    if timeout_seconds <= 0:
        raise InvalidApprovalInput("timeoutSeconds", "must be positive")
    if photo.bucket != photos_bucket:
        # The email presigns these keys: only ever the deployment's own photo bucket.
        raise InvalidApprovalInput("photo.bucket", "is not the photos bucket of this deployment")
    created_at = _require_aware(now, "now").replace(microsecond=0)
    approval = Approval(
        approval_ref=new_id(),
        status=ApprovalStatus.PENDING,
        visit_id=visit_id,
        door_id=door_id,
        photo=photo,
        seen_at=_require_aware(seen_at, "detectedAt"),
        created_at=created_at,
        expires_at=created_at + timedelta(seconds=timeout_seconds),
    )
    approvals.add(approval)
    logger.info(
        "Approval created",
        extra={
            "approval": approval.log_id,
            "visit_id": visit_id,
            "expires_at": iso_z(approval.expires_at),
        },
    )
    return approval


# ---------------------------------------------------------------------------- ask the owner


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def owner_sms_text(approval: Approval, link: str) -> str:
    until = approval.expires_at.astimezone(UTC).strftime("%H:%M UTC")
    # One SMS segment (160 GSM characters) with the pages on CloudFront's own domain: make bench
    # counts the segments of this very text (benchmarks/sms_texts.py).
    return f"Smart Door: someone is at {approval.door_id}. Decide by {until}: {link}"


# Why the email says the text did not arrive: the owner must not wait for an SMS that won't come.
SMS_REFUSED_NOTE = (
    "The text message to your phone could not be sent ({reason}); use the link in this email. "
    "Usual causes: the AWS account is in the SNS SMS sandbox and your number is not verified, "
    "the monthly SMS spend limit is reached, or there is no origination number for your country "
    "(see docs/sms.md)."
)
SMS_HELD_NOTE = "No text message was sent to your phone: {reason} Use the link in this email."
PUSHED_NOTE = "A notification went to your devices, so no text message was sent."
SMS_DELAYED_NOTE = (
    "The text message to your phone is delayed (SNS is throttling or failing); it will be retried."
)


def owner_email(
    approval: Approval, link: str, frame_url: str, face_url: str, sms_note: str | None = None
) -> tuple[str, str]:
    subject = f"Someone is at {approval.door_id}"
    body = "\n".join(
        [
            *([sms_note, ""] if sms_note else []),
            f"Someone the camera does not know is at {approval.door_id}.",
            "",
            f"Seen at:    {format_time(approval.seen_at)}",
            f"Decide by:  {format_time(approval.expires_at)} (the link stops working then)",
            "",
            "Photo (link valid until the request expires):",
            frame_url,
            "",
            "Face close-up:",
            face_url,
            "",
            "Approve (with their name and phone number) or deny here:",
            link,
            "",
            "If you do nothing, the request expires and the door stays locked.",
            "Do not forward this message: anyone with the link can decide.",
        ]
    )
    return subject, body


def ask_owner(
    approval_ref: str,
    task_token: str,
    execution_name: str,
    *,
    owner_phone: str,
    site_url: str,
    approvals: ApprovalRepository,
    notifier: Notifier,
    photo_links: PhotoLinks,
    link_key: LinkKey,
    now: datetime,
    budget: SmsBudget | None = None,
    devices: OwnerDevices | None = None,
) -> OwnerAsked:
    """Store the workflow's task token and tell the owner, at most once per channel.

    Step Functions gives every attempt a new token, so the token is replaced each time; the SMS
    and the email are each sent once, so a retry after a failed email does not repeat the SMS.

    The email always goes out when the SMS fails, so no request waits unseen: if SNS refuses
    the SMS for good (SmsNotDelivered) the email says so and the task waits for the owner as
    usual; if SNS is throttling (TransientError) the email goes first and the error is raised
    afterwards, so the workflow retries the SMS alone. With a `budget`, the SMS is counted
    against the door's hourly texts first; when they are spent, only the email goes, saying so.

    With `devices` (the owner's Web Push subscriptions), the request is pushed to every device
    first, and the SMS goes only when no push was delivered (no device, or every push failed):
    push is free, SMS is not. The email goes in every case.
    """
    _require_plausible_ref(approval_ref)
    # Read before the token is stored: a missing key fails the task with nothing half done.
    link = approval_link(site_url, approval_link_id(approval_ref, link_key.hmac_key()))
    try:
        approval = approvals.attach_task_token(approval_ref, task_token, execution_name, now)
    except ConditionNotMet as conflict:
        raise _refusal(conflict.current, now) from None

    if approval.photo.bucket != photo_links.bucket:
        raise InvalidApprovalInput("photo.bucket", "is not the photos bucket of this deployment")
    sms_sent = email_sent = False
    sms_note: str | None = None
    delayed: TransientError | None = None
    refused: SmsNotDelivered | None = None
    valid_for = max(1, min(int((approval.expires_at - now).total_seconds()), MAX_PRESIGN_SECONDS))
    pushed = _push_once(approval, link, valid_for, devices, approvals, photo_links, now)
    texting = approval.sms_sent_at is None and not pushed
    held = budget.take(approval.door_id) if budget is not None and texting else None
    if pushed:
        sms_note = PUSHED_NOTE
    elif held is not None:
        sms_note = SMS_HELD_NOTE.format(reason=held.reason())
    elif texting:
        try:
            notifier.send_sms(owner_phone, owner_sms_text(approval, link))
        except SmsNotDelivered as error:
            refused = error
            sms_note = SMS_REFUSED_NOTE.format(reason=error.code)
        except TransientError as error:
            delayed = error
            sms_note = SMS_DELAYED_NOTE
        else:
            approvals.mark_notified(approval_ref, "sms", now)
            sms_sent = True
    if approval.email_sent_at is None:
        frame_url = photo_links.presigned_get_url(approval.photo.frame_key, valid_for)
        face_url = photo_links.presigned_get_url(approval.photo.face_key, valid_for)
        subject, body = owner_email(approval, link, frame_url, face_url, sms_note)
        notifier.send_email(subject, body)
        approvals.mark_notified(approval_ref, "email", now)
        email_sent = True
    logger.info(
        "Owner asked",
        extra={
            "approval": approval.log_id,
            "sms_sent": sms_sent,
            "email_sent": email_sent,
            "sms_refused": refused.code if refused else None,
            "sms_delayed": delayed is not None,
            "sms_held": held is not None,
            "pushed": pushed,
        },
    )
    if delayed is not None:
        raise delayed
    return OwnerAsked(
        sms_sent=sms_sent,
        email_sent=email_sent,
        sms_refused=refused is not None,
        pushes_delivered=pushed if approval.push_sent_at is None else 0,
    )


def _push_once(
    approval: Approval,
    link: str,
    valid_for: int,
    devices: OwnerDevices | None,
    approvals: ApprovalRepository,
    photo_links: PhotoLinks,
    now: datetime,
) -> int:
    """Push the request to the owner's devices unless an earlier attempt did (or texted): the
    number of devices reached (an earlier attempt's push counts as 1), 0 if none."""
    if approval.push_sent_at is not None:
        return 1
    if devices is None or approval.sms_sent_at is not None:
        return 0
    thumbnail = photo_links.presigned_get_url(approval.photo.face_key, valid_for)
    message = owner_push_message(
        approval.door_id, approval.approval_ref, approval.expires_at, link, thumbnail
    )
    outcome = push_to_owner(message, subscriptions=devices.subscriptions, sender=devices.sender, now=now)
    if outcome.delivered:
        approvals.mark_notified(approval.approval_ref, "push", now)
    return outcome.delivered


# ---------------------------------------------------------------------------- decide


class VisitorContact(Record):
    __hidden__ = frozenset({"name", "phone"})

    name: str
    phone: str


def parse_decision(decision: str) -> Decision:
    try:
        return Decision(decision)
    except ValueError:
        raise InvalidApprovalInput("decision", "must be 'approve' or 'deny'") from None


def validate_visitor(name: str | None, phone: str | None) -> VisitorContact:
    """Name: 1-64 printable characters (surrounding spaces dropped). Phone: E.164, exactly as given
    (no spaces or newline around it: the owner page sends the number without them)."""
    clean_name = name.strip() if isinstance(name, str) else ""
    if not clean_name:
        raise InvalidApprovalInput("name", "is required to approve a visitor")
    if len(clean_name) > MAX_NAME_LENGTH:
        raise InvalidApprovalInput("name", f"must be at most {MAX_NAME_LENGTH} characters")
    if not clean_name.isprintable():
        raise InvalidApprovalInput("name", "must contain only printable characters")
    if not isinstance(phone, str) or not phone.strip():
        raise InvalidApprovalInput("phone", "is required to approve a visitor")
    if not is_e164(phone):
        raise InvalidApprovalInput("phone", "must be in E.164 format, like +15551234567")
    return VisitorContact(name=clean_name, phone=phone)


def decide(
    approval_id: str,
    decision: str,
    name: str | None = None,
    phone: str | None = None,
    *,
    now: datetime,
    approvals: ApprovalRepository,
    task_tokens: TaskTokens,
    link_key: LinkKey,
) -> DecisionResult:
    """The owner's decision: one conditional write PENDING → APPROVED/DENIED, then the workflow is told.

    `approval_id` is the owner's (`<ref>.<mac>`, checked here). The task output is only
    `{approvalRef, decision}`, never the owner's id; name and phone stay on the record. If Step
    Functions no longer waits (TaskTimedOut / InvalidToken) the record becomes EXPIRED and
    TaskTokenRejected is raised; if it cannot be reached (TransientError) the decision is undone
    so the owner can try again, instead of being recorded but never delivered.
    """
    choice = parse_decision(decision)
    contact = validate_visitor(name, phone) if choice is Decision.APPROVE else None
    approval_ref = ref_from_link_id(approval_id, link_key)
    status = ApprovalStatus.APPROVED if choice is Decision.APPROVE else ApprovalStatus.DENIED
    try:
        approval = approvals.record_decision(
            approval_ref,
            status,
            contact.name if contact else None,
            contact.phone if contact else None,
            now,
        )
    except ConditionNotMet as conflict:
        raise _refusal(conflict.current, now) from None
    decided_at = approval.decided_at or now
    if approval.task_token is None:  # the write's condition requires one; never send to nothing
        raise ApprovalNotReady(f"approval {approval.log_id} has no task token")

    try:
        task_tokens.send_success(approval.task_token, {"approvalRef": approval_ref, "decision": choice.value})
    except TaskTokenRejected as rejected:
        logger.warning("Workflow no longer waits for this approval", extra={"approval": approval.log_id})
        _compensate(lambda: approvals.expire(approval_ref, now, from_status=status, decided_at=decided_at))
        rejected.expired_at = now  # the record says EXPIRED from now on
        raise
    except TransientError:
        logger.warning("Workflow unreachable; decision undone", extra={"approval": approval.log_id})
        _compensate(lambda: approvals.reopen(approval_ref, from_status=status, decided_at=decided_at))
        raise
    logger.info("Approval decided", extra={"approval": approval.log_id, "decision": choice.value})
    return DecisionResult(approval_ref=approval_ref, decision=choice, status=status, decided_at=decided_at)


def _compensate(undo: Callable[[], object]) -> None:
    # Best effort: the original failure is what the caller must see.
    try:
        undo()
    except Exception:
        logger.exception("Could not undo an undelivered decision")


# ---------------------------------------------------------------------------- view, expire


def view(
    approval_id: str, *, now: datetime, approvals: ApprovalRepository, link_key: LinkKey
) -> ApprovalView:
    """What the owner page shows for the owner's approval id (`<ref>.<mac>`)."""
    approval = _load(approvals, ref_from_link_id(approval_id, link_key))
    if approval.status in DECIDED:
        raise already_decided(approval)
    if approval.has_expired(now):
        raise expired(approval)
    return ApprovalView(
        door_id=approval.door_id,
        status=approval.status,
        photo=approval.photo,
        seen_at=approval.seen_at,
        expires_at=approval.expires_at,
    )


def mark_expired(approval_ref: str, *, now: datetime, approvals: ApprovalRepository) -> bool:
    """PENDING → EXPIRED (the workflow's wait timed out). True if this call expired it, False if it
    already was; ApprovalAlreadyDecided if the owner decided first, ApprovalNotFound if unknown."""
    _require_plausible_ref(approval_ref)
    try:
        approval = approvals.expire(approval_ref, now)
    except ConditionNotMet as conflict:
        current = conflict.current
        if current is None:
            raise ApprovalNotFound("no such approval") from None
        if current.status is ApprovalStatus.EXPIRED:
            return False
        raise already_decided(current) from None
    logger.info("Approval expired", extra={"approval": approval.log_id})
    return True


# ---------------------------------------------------------------------------- after approval


class VisitorIdTaken(ApprovalError):
    """The visitorId already names a visitor created by another approval; nothing is overwritten."""


def approved_contact(approval_ref: str, *, approvals: ApprovalRepository) -> tuple[Approval, VisitorContact]:
    """The APPROVED record and the visitor contact the owner typed, which the workflow may now save."""
    approval = _load(approvals, approval_ref)
    if approval.status is not ApprovalStatus.APPROVED:
        raise ApprovalNotApproved(f"approval {approval.log_id} is {approval.status.lower()}, not approved")
    if not approval.visitor_name or not approval.visitor_phone:
        raise ApprovalNotApproved(f"approval {approval.log_id} is approved but has no visitor contact")
    return approval, VisitorContact(name=approval.visitor_name, phone=approval.visitor_phone)


def save_approved_visitor(
    *,
    approval_ref: str,
    visitor_id: str,
    face_ids: Sequence[str],
    photo: VisitPhoto,
    door_id: str,
    approvals: ApprovalRepository,
    visitors: VisitorWriter,
    now: datetime,
) -> Visitor:
    """Create the visitor the owner approved. Name and phone come from the approval record (typed
    by the owner), never from the workflow's state. A retry rewrites the same visitor and keeps
    its first createdAt."""
    # The Visitor model lives with its table adapter; importing it here keeps boto3 out of
    # this module's import time.
    from smartdoor.adapters.visitor_store import Visitor

    approval, contact = approved_contact(approval_ref, approvals=approvals)
    if door_id != approval.door_id:
        raise InvalidApprovalInput("doorId", "does not match the approval's door")
    if not face_ids:
        raise InvalidApprovalInput("faceIds", "must name at least one enrolled face")
    existing = visitors.get(visitor_id)
    if existing is not None and existing.approval_id != approval_ref:
        raise VisitorIdTaken(f"visitor {visitor_id} belongs to another approval")
    visitor = Visitor(
        visitor_id=visitor_id,
        name=contact.name,
        phone=contact.phone,
        face_ids=tuple(face_ids),
        photo_keys=(photo.frame_key, photo.face_key),
        created_at=existing.created_at if existing else iso_z(now),
        approval_id=approval_ref,
        door_id=approval.door_id,
    )
    visitors.put(visitor)
    logger.info("Visitor saved", extra={"approval": approval.log_id, "visitor_id": visitor_id})
    return visitor
