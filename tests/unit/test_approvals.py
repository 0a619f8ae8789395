"""Owner approvals, domain rules only: in-memory fakes for the table, Step Functions, SNS and S3.

The fake table applies the same conditions as DynamoApprovalStore (tests/integration/
test_approval_store.py checks the real store against moto), so every outcome is exercised here
without AWS.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from msgspec.structs import replace

from smartdoor.adapters.visitor_store import Visitor
from smartdoor.domain.approvals import (
    Approval,
    ApprovalAlreadyDecided,
    ApprovalExpired,
    ApprovalNotApproved,
    ApprovalNotFound,
    ApprovalNotReady,
    ApprovalStatus,
    Channel,
    ConditionNotMet,
    Decision,
    InvalidApprovalInput,
    OwnerAsked,
    TaskTokenRejected,
    VisitorIdTaken,
    approval_link,
    ask_owner,
    create_approval,
    decide,
    mark_expired,
    save_approved_visitor,
    view,
)
from smartdoor.domain.push import OwnerDevices
from smartdoor.errors import SmsNotDelivered, TransientError
from smartdoor.models import VisitPhoto
from smartdoor.observability import logger
from tests.fakes.link_key import StaticLinkKey

T0 = datetime(2026, 5, 1, 12, 0, 0, 250_000, tzinfo=UTC)
BUCKET = "smartdoor-photos"
PHOTO = VisitPhoto(bucket=BUCKET, frame_key="visits/v-1/frame.jpg", face_key="visits/v-1/face.jpg")
OWNER_PHONE = "+15550100000"
VISITOR_PHONE = "+447700900123"
SITE = "https://door.example.com"
TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAA-secret-task-token-1"


LINK_KEY = StaticLinkKey()


def owner_id(approval_ref: str, key: StaticLinkKey = LINK_KEY) -> str:
    """The approval id in the owner's link: `<approvalRef>.<mac>`."""
    return key.owner_id(approval_ref)


# ------------------------------------------------------------------------------- fakes


class InMemoryApprovals:
    """ApprovalRepository with DynamoApprovalStore's conditions, in a dict."""

    def __init__(self) -> None:
        self.items: dict[str, Approval] = {}

    def add(self, approval: Approval) -> None:
        if approval.approval_ref in self.items:
            raise RuntimeError("duplicate approvalId")
        self.items[approval.approval_ref] = approval

    def get(self, approval_id: str) -> Approval | None:
        return self.items.get(approval_id)

    def _pending_unexpired(self, approval_id: str, now: datetime) -> Approval:
        current = self.items.get(approval_id)
        if current is None or current.status is not ApprovalStatus.PENDING or not current.expires_at > now:
            raise ConditionNotMet(current)
        return current

    def attach_task_token(
        self, approval_id: str, task_token: str, execution_name: str, now: datetime
    ) -> Approval:
        current = self._pending_unexpired(approval_id, now)
        self.items[approval_id] = replace(current, task_token=task_token, execution_name=execution_name)
        return self.items[approval_id]

    def mark_notified(self, approval_id: str, channel: Channel, at: datetime) -> None:
        current = self.items.get(approval_id)
        if current is None:
            raise ConditionNotMet(None)
        name = f"{channel}_sent_at"
        if getattr(current, name) is None:
            self.items[approval_id] = replace(current, **{name: at})

    def record_decision(
        self,
        approval_id: str,
        status: ApprovalStatus,
        visitor_name: str | None,
        visitor_phone: str | None,
        now: datetime,
    ) -> Approval:
        current = self._pending_unexpired(approval_id, now)
        if current.task_token is None:
            raise ConditionNotMet(current)
        self.items[approval_id] = replace(
            current, status=status, visitor_name=visitor_name, visitor_phone=visitor_phone, decided_at=now
        )
        return self.items[approval_id]

    def expire(
        self,
        approval_id: str,
        now: datetime,
        from_status: ApprovalStatus = ApprovalStatus.PENDING,
        decided_at: datetime | None = None,
    ) -> Approval:
        current = self.items.get(approval_id)
        if (
            current is None
            or current.status is not from_status
            or (decided_at is not None and current.decided_at != decided_at)
        ):
            raise ConditionNotMet(current)
        self.items[approval_id] = replace(
            current,
            status=ApprovalStatus.EXPIRED,
            expired_at=now,
            visitor_name=None,
            visitor_phone=None,
            task_token=None,
        )
        return self.items[approval_id]

    def reopen(self, approval_id: str, from_status: ApprovalStatus, decided_at: datetime) -> Approval:
        current = self.items.get(approval_id)
        if current is None or current.status is not from_status or current.decided_at != decided_at:
            raise ConditionNotMet(current)
        self.items[approval_id] = replace(
            current, status=ApprovalStatus.PENDING, decided_at=None, visitor_name=None, visitor_phone=None
        )
        return self.items[approval_id]


@dataclass
class RecordingNotifier:
    sms: list[tuple[str, str]] = field(default_factory=list)
    emails: list[tuple[str, str]] = field(default_factory=list)
    email_failures: int = 0
    sms_failures: int = 0
    sms_refusal: str | None = None  # an SNS error code: every SMS is refused for good

    def send_sms(self, phone: str, text: str) -> str:
        if self.sms_refusal:
            raise SmsNotDelivered(self.sms_refusal)
        if self.sms_failures:
            self.sms_failures -= 1
            raise TransientError("SNS throttled")
        self.sms.append((phone, text))
        return f"sms-{len(self.sms)}"

    def send_email(self, subject: str, body: str) -> str:
        if self.email_failures:
            self.email_failures -= 1
            raise TransientError("SNS throttled")
        self.emails.append((subject, body))
        return f"email-{len(self.emails)}"


@dataclass
class FakePhotoLinks:
    bucket: str = BUCKET
    presigned: list[tuple[str, int]] = field(default_factory=list)

    def presigned_get_url(self, key: str, expires_in: int) -> str:
        self.presigned.append((key, expires_in))
        return f"https://{self.bucket}.s3.example/{key}?X-Amz-Expires={expires_in}"


@dataclass
class RecordingTaskTokens:
    successes: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    failures: list[tuple[str, str, str]] = field(default_factory=list)
    error: Exception | None = None

    def send_success(self, task_token: str, output: Mapping[str, Any]) -> None:
        if self.error is not None:
            raise self.error
        self.successes.append((task_token, dict(output)))

    def send_failure(self, task_token: str, error: str, cause: str) -> None:
        self.failures.append((task_token, error, cause))


class InMemoryVisitors:
    def __init__(self) -> None:
        self.items: dict[str, Visitor] = {}

    def get(self, visitor_id: str) -> Visitor | None:
        return self.items.get(visitor_id)

    def put(self, visitor: Visitor) -> None:
        self.items[visitor.visitor_id] = visitor


# ------------------------------------------------------------------------------- helpers


@pytest.fixture
def approvals() -> InMemoryApprovals:
    return InMemoryApprovals()


def a_pending_approval(approvals: InMemoryApprovals, timeout: int = 600, now: datetime = T0) -> Approval:
    return create_approval(
        visit_id="v-1",
        door_id="front-door",
        photo=PHOTO,
        seen_at=now - timedelta(seconds=20),
        timeout_seconds=timeout,
        photos_bucket=BUCKET,
        approvals=approvals,
        now=now,
    )


def ask(
    approvals: InMemoryApprovals,
    approval_ref: str,
    notifier: RecordingNotifier,
    *,
    token: str = TOKEN,
    now: datetime = T0 + timedelta(seconds=10),
    photo_links: FakePhotoLinks | None = None,
    devices: OwnerDevices | None = None,
) -> OwnerAsked:
    """ask_owner (execution exec-1) for the test deployment: OWNER_PHONE, SITE, LINK_KEY."""
    return ask_owner(
        approval_ref,
        token,
        "exec-1",
        owner_phone=OWNER_PHONE,
        site_url=SITE,
        approvals=approvals,
        notifier=notifier,
        photo_links=FakePhotoLinks() if photo_links is None else photo_links,
        link_key=LINK_KEY,
        now=now,
        devices=devices,
    )


def an_asked_approval(approvals: InMemoryApprovals, token: str = TOKEN) -> Approval:
    approval = a_pending_approval(approvals)
    ask(approvals, approval.approval_ref, RecordingNotifier(), token=token, now=T0 + timedelta(seconds=1))
    return approvals.items[approval.approval_ref]


def everything_logged(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)


# ------------------------------------------------------------------------------- create


def test_create_stores_a_pending_request_with_an_unguessable_id_that_expires_after_the_timeout(
    approvals: InMemoryApprovals,
) -> None:
    # GIVEN an empty table
    # WHEN an approval is created at T0 with a 600 s timeout
    approval = a_pending_approval(approvals, timeout=600)

    # THEN it is stored PENDING, with a 192-bit URL-safe id and an expiry in whole seconds
    assert approvals.items[approval.approval_ref] == approval
    assert approval.status is ApprovalStatus.PENDING
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", approval.approval_ref)  # 16 random bytes
    assert approval.created_at == T0.replace(microsecond=0)
    assert approval.expires_at == datetime(2026, 5, 1, 12, 10, 0, tzinfo=UTC)
    assert approval.expires_at - T0 <= timedelta(seconds=600)  # never outlives the workflow's wait
    assert approval.seen_at == T0 - timedelta(seconds=20)
    assert approval.photo == PHOTO
    assert approval.task_token is None


def test_every_approval_gets_a_new_id(approvals: InMemoryApprovals) -> None:
    ids = {a_pending_approval(approvals).approval_ref for _ in range(50)}
    assert len(ids) == 50


def test_create_refuses_a_photo_outside_the_photos_bucket_and_stores_nothing(
    approvals: InMemoryApprovals,
) -> None:
    # GIVEN a photo in some other bucket (its keys would be presigned into the owner's email)
    foreign = VisitPhoto(bucket="someone-elses-bucket", frame_key="x.jpg", face_key="y.jpg")

    # WHEN / THEN creation fails naming the field
    with pytest.raises(InvalidApprovalInput) as raised:
        create_approval(
            visit_id="v-1",
            door_id="front-door",
            photo=foreign,
            seen_at=T0,
            timeout_seconds=600,
            photos_bucket=BUCKET,
            approvals=approvals,
            now=T0,
        )
    assert raised.value.field == "photo.bucket"
    assert approvals.items == {}


def test_create_refuses_a_detection_time_without_a_timezone(approvals: InMemoryApprovals) -> None:
    with pytest.raises(InvalidApprovalInput) as raised:
        create_approval(
            visit_id="v-1",
            door_id="front-door",
            photo=PHOTO,
            seen_at=datetime(2026, 5, 1, 12, 0, 0),  # naive: the point of the test
            timeout_seconds=600,
            photos_bucket=BUCKET,
            approvals=approvals,
            now=T0,
        )
    assert raised.value.field == "detectedAt"
    assert approvals.items == {}


# ------------------------------------------------------------------------------- ask the owner


def test_ask_owner_stores_the_token_and_sends_one_sms_and_one_email(
    approvals: InMemoryApprovals, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a pending approval that expires at 12:10:00
    approval = a_pending_approval(approvals)
    notifier, links = RecordingNotifier(), FakePhotoLinks()
    caplog.set_level(logging.DEBUG, logger=logger.name)

    # WHEN the workflow asks the owner at 12:00:10
    asked = ask_owner(
        approval.approval_ref,
        TOKEN,
        "exec-1",
        owner_phone=OWNER_PHONE,
        site_url=SITE + "/",
        approvals=approvals,
        notifier=notifier,
        photo_links=links,
        link_key=LINK_KEY,
        now=T0 + timedelta(seconds=10),
    )

    # THEN the token is on the record, and the owner got one SMS and one email
    stored = approvals.items[approval.approval_ref]
    assert stored.task_token == TOKEN
    assert stored.execution_name == "exec-1"
    assert stored.sms_sent_at == stored.email_sent_at == T0 + timedelta(seconds=10)
    assert asked.sms_sent and asked.email_sent

    link = f"https://door.example.com/owner/?a={owner_id(approval.approval_ref)}"
    assert approval_link(SITE + "/", owner_id(approval.approval_ref)) == link
    [(phone, text)] = notifier.sms
    assert phone == OWNER_PHONE
    assert link in text and "front-door" in text and "12:10 UTC" in text
    assert len(text) <= 160
    [(subject, body)] = notifier.emails
    assert subject == "Someone is at front-door"
    assert link in body
    assert "Seen at:    2026-05-01 11:59:40 UTC" in body
    assert "Decide by:  2026-05-01 12:10:00 UTC" in body
    # the photo links live exactly as long as the request (589.75 s left, rounded down)
    assert links.presigned == [("visits/v-1/frame.jpg", 589), ("visits/v-1/face.jpg", 589)]
    assert "visits/v-1/frame.jpg?X-Amz-Expires=589" in body
    assert TOKEN not in body and TOKEN not in text

    # AND the logs hold neither the token, the owner's phone, the link nor its MAC
    logged = everything_logged(caplog)
    assert "Owner asked" in logged
    for secret in (TOKEN, OWNER_PHONE, owner_id(approval.approval_ref).partition(".")[2], link):
        assert secret not in logged


def test_a_retry_after_the_email_failed_sends_only_the_email_and_keeps_the_new_token(
    approvals: InMemoryApprovals,
) -> None:
    # GIVEN the first attempt sent the SMS, then SNS failed for the email
    approval = a_pending_approval(approvals)
    notifier = RecordingNotifier(email_failures=1)
    asking: dict[str, Any] = {
        "owner_phone": OWNER_PHONE,
        "site_url": SITE,
        "approvals": approvals,
        "notifier": notifier,
        "photo_links": FakePhotoLinks(),
        "link_key": LINK_KEY,
    }
    with pytest.raises(TransientError):
        ask_owner(approval.approval_ref, "token-attempt-1", "exec-1", now=T0, **asking)
    assert len(notifier.sms) == 1 and notifier.emails == []

    # WHEN Step Functions retries the task with a new token
    asked = ask_owner(
        approval.approval_ref, "token-attempt-2", "exec-1", now=T0 + timedelta(seconds=2), **asking
    )

    # THEN only the email is sent, and the record holds the retry's token
    assert (asked.sms_sent, asked.email_sent) == (False, True)
    assert len(notifier.sms) == 1 and len(notifier.emails) == 1
    stored = approvals.items[approval.approval_ref]
    assert stored.task_token == "token-attempt-2"
    assert stored.sms_sent_at == T0 and stored.email_sent_at == T0 + timedelta(seconds=2)


def test_a_refused_sms_still_emails_the_owner_saying_so_and_the_request_waits(
    approvals: InMemoryApprovals,
) -> None:
    # GIVEN SNS refusing the owner's SMS for good (unverified number in the SMS sandbox)
    approval = a_pending_approval(approvals)
    notifier = RecordingNotifier(sms_refusal="InvalidParameter")

    # WHEN the owner is asked
    asked = ask(approvals, approval.approval_ref, notifier, now=T0)

    # THEN no error escapes (the task waits for the decision), and the email, which says the
    # text did not come and why, carries the link
    assert (asked.sms_sent, asked.email_sent, asked.sms_refused) == (False, True, True)
    [(_, body)] = notifier.emails
    assert body.startswith("The text message to your phone could not be sent (InvalidParameter)")
    assert approval_link(SITE, owner_id(approval.approval_ref)) in body
    stored = approvals.items[approval.approval_ref]
    assert stored.task_token == TOKEN and stored.sms_sent_at is None


def test_a_throttled_sms_emails_first_then_raises_so_only_the_sms_is_retried(
    approvals: InMemoryApprovals,
) -> None:
    # GIVEN SNS throttling the SMS once
    approval = a_pending_approval(approvals)
    notifier = RecordingNotifier(sms_failures=1)
    asking: dict[str, Any] = {
        "owner_phone": OWNER_PHONE,
        "site_url": SITE,
        "approvals": approvals,
        "notifier": notifier,
        "photo_links": FakePhotoLinks(),
        "link_key": LINK_KEY,
    }

    # WHEN the first attempt runs THEN the email (with the link) is out before the error
    with pytest.raises(TransientError):
        ask_owner(approval.approval_ref, "token-attempt-1", "exec-1", now=T0, **asking)
    [(_, body)] = notifier.emails
    assert body.startswith("The text message to your phone is delayed")
    assert approval_link(SITE, owner_id(approval.approval_ref)) in body
    assert notifier.sms == []

    # AND the retry sends the SMS alone
    asked = ask_owner(approval.approval_ref, "token-attempt-2", "exec-1", now=T0, **asking)
    assert (asked.sms_sent, asked.email_sent) == (True, False)
    assert len(notifier.sms) == 1 and len(notifier.emails) == 1


def test_a_retry_after_everything_was_sent_only_replaces_the_token(approvals: InMemoryApprovals) -> None:
    approval = an_asked_approval(approvals)
    notifier = RecordingNotifier()

    asked = ask(
        approvals, approval.approval_ref, notifier, token="token-attempt-2", now=T0 + timedelta(seconds=5)
    )

    assert (asked.sms_sent, asked.email_sent) == (False, False)
    assert notifier.sms == [] and notifier.emails == []
    assert approvals.items[approval.approval_ref].task_token == "token-attempt-2"


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("expired by time", ApprovalExpired),
        ("marked expired", ApprovalExpired),
        ("decided", ApprovalAlreadyDecided),
        ("unknown", ApprovalNotFound),
    ],
)
def test_ask_owner_refuses_a_request_that_is_not_pending_and_sends_nothing(
    approvals: InMemoryApprovals, setup: str, expected: type[Exception]
) -> None:
    # GIVEN an approval in the given state
    approval = an_asked_approval(approvals)
    approval_id, now = approval.approval_ref, T0 + timedelta(seconds=30)
    tokens = RecordingTaskTokens()
    if setup == "expired by time":
        now = approval.expires_at
    elif setup == "marked expired":
        mark_expired(approval_id, now=now, approvals=approvals)
    elif setup == "decided":
        decide(
            owner_id(approval_id), "deny", now=now, approvals=approvals, task_tokens=tokens, link_key=LINK_KEY
        )
    else:
        approval_id = "A" * 32
    before = dict(approvals.items)
    notifier = RecordingNotifier()

    # WHEN the workflow (re)tries to ask the owner
    with pytest.raises(expected):
        ask(approvals, approval_id, notifier, token="late-token", now=now)

    # THEN nothing is sent and nothing changes
    assert notifier.sms == [] and notifier.emails == []
    assert approvals.items == before


def test_ask_owner_presigns_only_the_deployments_photo_bucket(approvals: InMemoryApprovals) -> None:
    approval = a_pending_approval(approvals)
    notifier = RecordingNotifier()

    with pytest.raises(InvalidApprovalInput) as raised:
        ask(
            approvals,
            approval.approval_ref,
            notifier,
            now=T0,
            photo_links=FakePhotoLinks(bucket="another-bucket"),
        )

    assert raised.value.field == "photo.bucket"
    assert notifier.sms == [] and notifier.emails == []


# ------------------------------------------------------------------------------- decide


def test_approve_records_the_visitor_on_the_approval_and_tells_the_workflow_only_the_decision(
    approvals: InMemoryApprovals, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN the owner was asked (the workflow waits on TOKEN)
    approval = an_asked_approval(approvals)
    tokens = RecordingTaskTokens()
    caplog.set_level(logging.DEBUG, logger=logger.name)

    # WHEN the owner approves with the visitor's name and phone
    result = decide(
        owner_id(approval.approval_ref),
        "approve",
        name="  Ada Lovelace ",
        phone=VISITOR_PHONE,
        now=T0 + timedelta(seconds=60),
        approvals=approvals,
        task_tokens=tokens,
        link_key=LINK_KEY,
    )

    # THEN the record is APPROVED with the contact, and the task output carries only id + decision
    stored = approvals.items[approval.approval_ref]
    assert stored.status is ApprovalStatus.APPROVED
    assert (stored.visitor_name, stored.visitor_phone) == ("Ada Lovelace", VISITOR_PHONE)
    assert stored.decided_at == T0 + timedelta(seconds=60)
    assert tokens.successes == [(TOKEN, {"approvalRef": approval.approval_ref, "decision": "approve"})]
    assert result.decision is Decision.APPROVE and result.status is ApprovalStatus.APPROVED
    logged = everything_logged(caplog)
    for secret in (TOKEN, VISITOR_PHONE, approval.approval_ref, "Ada Lovelace"):
        assert secret not in logged


def test_deny_records_the_decision_without_any_contact(approvals: InMemoryApprovals) -> None:
    approval = an_asked_approval(approvals)
    tokens = RecordingTaskTokens()

    # WHEN the owner denies (a name and phone sent along are ignored, not stored)
    result = decide(
        owner_id(approval.approval_ref),
        "deny",
        name="Someone",
        phone=VISITOR_PHONE,
        now=T0 + timedelta(seconds=60),
        approvals=approvals,
        task_tokens=tokens,
        link_key=LINK_KEY,
    )

    stored = approvals.items[approval.approval_ref]
    assert stored.status is ApprovalStatus.DENIED
    assert stored.visitor_name is None and stored.visitor_phone is None
    assert tokens.successes == [(TOKEN, {"approvalRef": approval.approval_ref, "decision": "deny"})]
    assert result.status is ApprovalStatus.DENIED


@pytest.mark.parametrize(
    ("decision", "name", "phone", "field_name"),
    [
        ("maybe", "Ada", VISITOR_PHONE, "decision"),
        ("APPROVE", "Ada", VISITOR_PHONE, "decision"),
        ("approve", None, VISITOR_PHONE, "name"),
        ("approve", "   ", VISITOR_PHONE, "name"),
        ("approve", "A" * 65, VISITOR_PHONE, "name"),
        ("approve", "Ada\nLovelace", VISITOR_PHONE, "name"),
        ("approve", "Ada\x00", VISITOR_PHONE, "name"),
        ("approve", "Ada", None, "phone"),
        ("approve", "Ada", "", "phone"),
        ("approve", "Ada", "07700 900123", "phone"),
        ("approve", "Ada", "+0123456789", "phone"),
        ("approve", "Ada", "+123", "phone"),
        # Exactly E.164: nothing around the number (a `$` match once let a final newline through).
        ("approve", "Ada", VISITOR_PHONE + "\n", "phone"),
        ("approve", "Ada", VISITOR_PHONE + " ", "phone"),
        ("approve", "Ada", " " + VISITOR_PHONE, "phone"),
        ("approve", "Ada", VISITOR_PHONE + "\t", "phone"),
        ("approve", "Ada", "+4477009001\u0662\u0663", "phone"),  # Arabic-Indic digits
    ],
)
def test_a_bad_field_is_named_and_changes_nothing(
    approvals: InMemoryApprovals, decision: str, name: str | None, phone: str | None, field_name: str
) -> None:
    # GIVEN a pending approval the workflow waits on
    approval = an_asked_approval(approvals)
    before = approvals.items[approval.approval_ref]
    tokens = RecordingTaskTokens()

    # WHEN the owner submits a malformed decision
    with pytest.raises(InvalidApprovalInput) as raised:
        decide(
            owner_id(approval.approval_ref),
            decision,
            name=name,
            phone=phone,
            now=T0 + timedelta(seconds=60),
            approvals=approvals,
            task_tokens=tokens,
            link_key=LINK_KEY,
        )

    # THEN the error names the field (without echoing the value) and nothing changed
    assert raised.value.field == field_name
    assert str(raised.value).startswith(f"{field_name}: ")
    if phone:
        assert phone not in str(raised.value)
    assert approvals.items[approval.approval_ref] == before
    assert tokens.successes == []


def test_a_64_character_unicode_name_is_accepted(approvals: InMemoryApprovals) -> None:
    approval = an_asked_approval(approvals)
    name = "Zoë " + "é" * 60

    decide(
        owner_id(approval.approval_ref),
        "approve",
        name=name,
        phone=VISITOR_PHONE,
        now=T0 + timedelta(seconds=60),
        approvals=approvals,
        task_tokens=RecordingTaskTokens(),
        link_key=LINK_KEY,
    )

    assert approvals.items[approval.approval_ref].visitor_name == name


def test_the_owners_approval_id_is_the_ref_and_a_mac_only_the_deployments_key_makes() -> None:
    ref = "R" * 32
    # GIVEN two deployments' keys
    other_key = StaticLinkKey(b"another-deployment-key-" + b"o" * 41)

    # WHEN each makes the owner's id for the same ref
    ours, theirs = owner_id(ref), owner_id(ref, other_key)

    # THEN it is the ref, a dot and a 22-character URL-safe MAC (128 bits) that depends on the key
    mine_ref, dot, mac = ours.partition(".")
    assert (mine_ref, dot) == (ref, ".")
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", mac)
    assert theirs != ours and theirs.startswith(ref + ".")
    assert owner_id(ref) == ours  # deterministic: nothing but the key and the ref


def forgeries(approval_id: str) -> list[str]:
    ref, _, mac = approval_id.partition(".")
    flipped = mac[:-1] + ("A" if mac[-1] != "A" else "B")
    return [
        ref,  # the ref alone (what the execution history shows)
        ref + ".",
        f"{ref}.{flipped}",  # one character off
        f"{ref}.{mac[:-1]}",  # truncated
        f"{approval_id}A",  # one too many
        owner_id(ref, StaticLinkKey(b"another-deployment-key-" + b"o" * 41)),  # another key's MAC
        f"{ref}.{mac}.{mac}",
        f"{ref[:-1]}.{mac}",
        "." + mac,
        f"{ref}.{'é' * 22}",
        "garbage",
    ]


def test_only_the_right_mac_opens_an_approval(approvals: InMemoryApprovals) -> None:
    # GIVEN an approval waiting for the owner
    approval = an_asked_approval(approvals)
    approval_id = owner_id(approval.approval_ref)
    before = dict(approvals.items)
    tokens = RecordingTaskTokens()
    now = T0 + timedelta(seconds=5)

    # WHEN anything but the owner's exact id is shown or decided
    for forged in forgeries(approval_id):
        # THEN it is simply unknown, as an approval that does not exist is, and nothing changes
        with pytest.raises(ApprovalNotFound):
            view(forged, now=now, approvals=approvals, link_key=LINK_KEY)
        with pytest.raises(ApprovalNotFound):
            decide(forged, "deny", now=now, approvals=approvals, task_tokens=tokens, link_key=LINK_KEY)
    assert approvals.items == before and tokens.successes == []

    # AND the owner's id itself opens it
    assert view(approval_id, now=now, approvals=approvals, link_key=LINK_KEY).status is ApprovalStatus.PENDING
    decide(approval_id, "deny", now=now, approvals=approvals, task_tokens=tokens, link_key=LINK_KEY)
    assert approvals.items[approval.approval_ref].status is ApprovalStatus.DENIED


def test_a_right_mac_for_an_unknown_ref_is_not_found_like_a_wrong_one(approvals: InMemoryApprovals) -> None:
    # GIVEN a well-formed id this deployment could have made, for a ref it never stored
    unknown = owner_id("U" * 32)
    # WHEN it is shown THEN the answer is the one a wrong MAC gets (no oracle for either)
    with pytest.raises(ApprovalNotFound) as wrong_mac:
        view(f"{'U' * 32}.{'A' * 22}", now=T0, approvals=approvals, link_key=LINK_KEY)
    with pytest.raises(ApprovalNotFound) as unknown_ref:
        view(unknown, now=T0, approvals=approvals, link_key=LINK_KEY)
    assert str(wrong_mac.value) == str(unknown_ref.value)


def test_the_mac_is_compared_in_constant_time(approvals: InMemoryApprovals) -> None:
    # GIVEN an approval waiting for the owner, and hmac.compare_digest watched (the only way to
    # see which comparison runs; it still does the comparing)
    approval = an_asked_approval(approvals)
    approval_id = owner_id(approval.approval_ref)
    with mock.patch("hmac.compare_digest", wraps=hmac.compare_digest) as compare:
        # WHEN the owner's id and a forged one are checked
        view(approval_id, now=T0, approvals=approvals, link_key=LINK_KEY)
        with pytest.raises(ApprovalNotFound):
            view(forgeries(approval_id)[2], now=T0, approvals=approvals, link_key=LINK_KEY)

    # THEN both MACs went through compare_digest
    assert compare.call_count == 2
    assert compare.call_args_list[0].args[0] == approval_id.partition(".")[2].encode()


def test_a_bad_body_is_still_a_bad_body_whatever_the_id(approvals: InMemoryApprovals) -> None:
    # GIVEN a decision that is neither approve nor deny, sent to a forged id
    # WHEN it is decided THEN the body is refused first (400), as before ids carried a MAC
    with pytest.raises(InvalidApprovalInput):
        decide(
            "R" * 32 + "." + "A" * 22,
            "maybe",
            now=T0,
            approvals=approvals,
            task_tokens=RecordingTaskTokens(),
            link_key=LINK_KEY,
        )


@pytest.mark.parametrize("approval_id", ["A" * 32, "short", "", "x" * 2000, "../../etc/passwd"])
def test_an_unknown_or_malformed_id_is_not_found(approvals: InMemoryApprovals, approval_id: str) -> None:
    with pytest.raises(ApprovalNotFound):
        decide(
            approval_id,
            "deny",
            now=T0,
            approvals=approvals,
            task_tokens=RecordingTaskTokens(),
            link_key=LINK_KEY,
        )


def test_the_second_decision_is_refused_and_the_workflow_is_told_once(approvals: InMemoryApprovals) -> None:
    # GIVEN the owner approved
    approval = an_asked_approval(approvals)
    tokens = RecordingTaskTokens()
    decide(
        owner_id(approval.approval_ref),
        "approve",
        name="Ada",
        phone=VISITOR_PHONE,
        now=T0 + timedelta(seconds=60),
        approvals=approvals,
        task_tokens=tokens,
        link_key=LINK_KEY,
    )

    # WHEN a second click (or a second person with the link) denies
    with pytest.raises(ApprovalAlreadyDecided):
        decide(
            owner_id(approval.approval_ref),
            "deny",
            now=T0 + timedelta(seconds=61),
            approvals=approvals,
            task_tokens=tokens,
            link_key=LINK_KEY,
        )

    # THEN the first decision stands and Step Functions heard exactly one
    assert approvals.items[approval.approval_ref].status is ApprovalStatus.APPROVED
    assert len(tokens.successes) == 1


def test_a_decision_at_or_after_the_expiry_is_refused(approvals: InMemoryApprovals) -> None:
    approval = an_asked_approval(approvals)
    tokens = RecordingTaskTokens()

    with pytest.raises(ApprovalExpired):
        decide(
            owner_id(approval.approval_ref),
            "approve",
            name="Ada",
            phone=VISITOR_PHONE,
            now=approval.expires_at,
            approvals=approvals,
            task_tokens=tokens,
            link_key=LINK_KEY,
        )

    assert approvals.items[approval.approval_ref].status is ApprovalStatus.PENDING
    assert tokens.successes == []


def test_a_decision_on_a_request_marked_expired_is_refused(approvals: InMemoryApprovals) -> None:
    approval = an_asked_approval(approvals)
    assert mark_expired(approval.approval_ref, now=T0 + timedelta(seconds=30), approvals=approvals) is True

    with pytest.raises(ApprovalExpired):
        decide(
            owner_id(approval.approval_ref),
            "deny",
            now=T0 + timedelta(seconds=31),
            approvals=approvals,
            task_tokens=RecordingTaskTokens(),
            link_key=LINK_KEY,
        )


def test_a_decision_before_the_owner_was_asked_is_not_ready(approvals: InMemoryApprovals) -> None:
    # GIVEN an approval whose ask_owner task has not stored a token yet
    approval = a_pending_approval(approvals)

    with pytest.raises(ApprovalNotReady):
        decide(
            owner_id(approval.approval_ref),
            "deny",
            now=T0 + timedelta(seconds=1),
            approvals=approvals,
            task_tokens=RecordingTaskTokens(),
            link_key=LINK_KEY,
        )

    assert approvals.items[approval.approval_ref].status is ApprovalStatus.PENDING


def test_a_token_step_functions_rejects_expires_the_request_and_forgets_the_contact(
    approvals: InMemoryApprovals,
) -> None:
    # GIVEN the workflow stopped waiting (its task timed out) although the record still looked pending
    approval = an_asked_approval(approvals)
    tokens = RecordingTaskTokens(
        error=TaskTokenRejected("Step Functions rejected the task token (TaskTimedOut)")
    )

    # WHEN the owner approves
    with pytest.raises(TaskTokenRejected) as raised:
        decide(
            owner_id(approval.approval_ref),
            "approve",
            name="Ada",
            phone=VISITOR_PHONE,
            now=T0 + timedelta(seconds=60),
            approvals=approvals,
            task_tokens=tokens,
            link_key=LINK_KEY,
        )

    # THEN the caller sees an expiry (410) and the record is EXPIRED without the visitor's contact
    assert isinstance(raised.value, ApprovalExpired)
    stored = approvals.items[approval.approval_ref]
    assert stored.status is ApprovalStatus.EXPIRED
    assert stored.visitor_name is None and stored.visitor_phone is None and stored.task_token is None
    # AND a later attempt is refused as expired
    with pytest.raises(ApprovalExpired):
        decide(
            owner_id(approval.approval_ref),
            "deny",
            now=T0 + timedelta(seconds=61),
            approvals=approvals,
            task_tokens=RecordingTaskTokens(),
            link_key=LINK_KEY,
        )


def test_an_unreachable_step_functions_undoes_the_decision_so_the_owner_can_retry(
    approvals: InMemoryApprovals,
) -> None:
    # GIVEN Step Functions is throttling
    approval = an_asked_approval(approvals)
    flaky = RecordingTaskTokens(error=TransientError("throttled"))

    # WHEN the owner approves
    with pytest.raises(TransientError):
        decide(
            owner_id(approval.approval_ref),
            "approve",
            name="Ada",
            phone=VISITOR_PHONE,
            now=T0 + timedelta(seconds=60),
            approvals=approvals,
            task_tokens=flaky,
            link_key=LINK_KEY,
        )

    # THEN the decision is not left half-done: the record is PENDING again, without the contact
    stored = approvals.items[approval.approval_ref]
    assert stored.status is ApprovalStatus.PENDING
    assert stored.visitor_name is None and stored.decided_at is None
    # AND the owner's retry goes through
    tokens = RecordingTaskTokens()
    decide(
        owner_id(approval.approval_ref),
        "approve",
        name="Ada",
        phone=VISITOR_PHONE,
        now=T0 + timedelta(seconds=65),
        approvals=approvals,
        task_tokens=tokens,
        link_key=LINK_KEY,
    )
    assert tokens.successes == [(TOKEN, {"approvalRef": approval.approval_ref, "decision": "approve"})]


def test_the_latest_token_is_the_one_resumed(approvals: InMemoryApprovals) -> None:
    # GIVEN ask_owner was retried, so the record holds the second attempt's token
    approval = an_asked_approval(approvals, token="token-attempt-1")
    approvals.attach_task_token(approval.approval_ref, "token-attempt-2", "exec-1", T0 + timedelta(seconds=3))
    tokens = RecordingTaskTokens()

    decide(
        owner_id(approval.approval_ref),
        "deny",
        now=T0 + timedelta(seconds=60),
        approvals=approvals,
        task_tokens=tokens,
        link_key=LINK_KEY,
    )

    assert [token for token, _ in tokens.successes] == ["token-attempt-2"]


# ------------------------------------------------------------------------------- view, expire


def test_view_shows_a_pending_request_without_secrets(approvals: InMemoryApprovals) -> None:
    approval = an_asked_approval(approvals)

    shown = view(
        owner_id(approval.approval_ref), now=T0 + timedelta(seconds=5), approvals=approvals, link_key=LINK_KEY
    )

    assert shown.door_id == "front-door"
    assert shown.status is ApprovalStatus.PENDING
    assert shown.photo == PHOTO
    assert shown.seen_at == approval.seen_at and shown.expires_at == approval.expires_at
    assert not {"task_token", "visitor_phone", "visitor_name", "approval_id"} & set(shown.__struct_fields__)


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("approved", ApprovalAlreadyDecided),
        ("denied", ApprovalAlreadyDecided),
        ("expired by time", ApprovalExpired),
        ("marked expired", ApprovalExpired),
        ("unknown", ApprovalNotFound),
    ],
)
def test_view_refuses_what_can_no_longer_be_decided(
    approvals: InMemoryApprovals, setup: str, expected: type[Exception]
) -> None:
    approval = an_asked_approval(approvals)
    approval_id, now = approval.approval_ref, T0 + timedelta(seconds=30)
    tokens = RecordingTaskTokens()
    if setup == "approved":
        decide(
            owner_id(approval_id),
            "approve",
            "Ada",
            VISITOR_PHONE,
            now=now,
            approvals=approvals,
            task_tokens=tokens,
            link_key=LINK_KEY,
        )
    elif setup == "denied":
        decide(
            owner_id(approval_id), "deny", now=now, approvals=approvals, task_tokens=tokens, link_key=LINK_KEY
        )
    elif setup == "expired by time":
        now = approval.expires_at + timedelta(seconds=1)
    elif setup == "marked expired":
        mark_expired(approval_id, now=now, approvals=approvals)
    else:
        approval_id = "B" * 32

    with pytest.raises(expected):
        view(owner_id(approval_id), now=now, approvals=approvals, link_key=LINK_KEY)


def test_mark_expired_is_idempotent_and_never_overrides_a_decision(approvals: InMemoryApprovals) -> None:
    pending = an_asked_approval(approvals)
    decided = an_asked_approval(approvals)
    decide(
        owner_id(decided.approval_ref),
        "deny",
        now=T0,
        approvals=approvals,
        task_tokens=RecordingTaskTokens(),
        link_key=LINK_KEY,
    )
    later = T0 + timedelta(minutes=11)

    assert mark_expired(pending.approval_ref, now=later, approvals=approvals) is True
    assert mark_expired(pending.approval_ref, now=later, approvals=approvals) is False
    assert approvals.items[pending.approval_ref].status is ApprovalStatus.EXPIRED
    assert approvals.items[pending.approval_ref].expired_at == later
    with pytest.raises(ApprovalAlreadyDecided):
        mark_expired(decided.approval_ref, now=later, approvals=approvals)
    assert approvals.items[decided.approval_ref].status is ApprovalStatus.DENIED
    with pytest.raises(ApprovalNotFound):
        mark_expired("C" * 32, now=later, approvals=approvals)


# ------------------------------------------------------------------------------- save the visitor


def approved(approvals: InMemoryApprovals) -> Approval:
    approval = an_asked_approval(approvals)
    decide(
        owner_id(approval.approval_ref),
        "approve",
        name="Ada Lovelace",
        phone=VISITOR_PHONE,
        now=T0 + timedelta(seconds=60),
        approvals=approvals,
        task_tokens=RecordingTaskTokens(),
        link_key=LINK_KEY,
    )
    return approval


def test_save_visitor_takes_name_and_phone_from_the_approval(approvals: InMemoryApprovals) -> None:
    approval = approved(approvals)
    visitors = InMemoryVisitors()

    visitor = save_approved_visitor(
        approval_ref=approval.approval_ref,
        visitor_id="vis-0123456789abcdef",
        face_ids=["face-1", "face-2"],
        photo=PHOTO,
        door_id="front-door",
        approvals=approvals,
        visitors=visitors,
        now=T0 + timedelta(seconds=70),
    )

    assert visitors.items["vis-0123456789abcdef"] == visitor
    assert (visitor.name, visitor.phone) == ("Ada Lovelace", VISITOR_PHONE)
    assert visitor.face_ids == ("face-1", "face-2")
    assert visitor.photo_keys == ("visits/v-1/frame.jpg", "visits/v-1/face.jpg")
    assert visitor.created_at == "2026-05-01T12:01:10.250000Z"
    assert (visitor.approval_id, visitor.door_id) == (approval.approval_ref, "front-door")
    assert VISITOR_PHONE not in repr(visitor)


def test_a_retried_save_rewrites_the_same_visitor_and_keeps_its_creation_time(
    approvals: InMemoryApprovals,
) -> None:
    approval = approved(approvals)
    visitors = InMemoryVisitors()
    saving: dict[str, Any] = {
        "approval_ref": approval.approval_ref,
        "visitor_id": "vis-0123456789abcdef",
        "face_ids": ["face-1"],
        "photo": PHOTO,
        "door_id": "front-door",
        "approvals": approvals,
        "visitors": visitors,
    }
    first = save_approved_visitor(now=T0 + timedelta(seconds=70), **saving)

    second = save_approved_visitor(now=T0 + timedelta(seconds=75), **saving)

    assert second == first
    assert list(visitors.items) == ["vis-0123456789abcdef"]


@pytest.mark.parametrize("state", ["pending", "denied", "expired"])
def test_save_visitor_refuses_an_approval_that_is_not_approved(
    approvals: InMemoryApprovals, state: str
) -> None:
    approval = an_asked_approval(approvals)
    if state == "denied":
        decide(
            owner_id(approval.approval_ref),
            "deny",
            now=T0,
            approvals=approvals,
            task_tokens=RecordingTaskTokens(),
            link_key=LINK_KEY,
        )
    elif state == "expired":
        mark_expired(approval.approval_ref, now=T0, approvals=approvals)
    visitors = InMemoryVisitors()

    with pytest.raises(ApprovalNotApproved):
        save_approved_visitor(
            approval_ref=approval.approval_ref,
            visitor_id="vis-0123456789abcdef",
            face_ids=["face-1"],
            photo=PHOTO,
            door_id="front-door",
            approvals=approvals,
            visitors=visitors,
            now=T0,
        )
    assert visitors.items == {}


def test_save_visitor_never_overwrites_another_approvals_visitor(approvals: InMemoryApprovals) -> None:
    approval = approved(approvals)
    visitors = InMemoryVisitors()
    someone_else = Visitor(
        visitor_id="vis-0123456789abcdef",
        name="Grace",
        phone="+15550199999",
        created_at="2026-01-01T00:00:00Z",
        approval_id="D" * 32,
    )
    visitors.put(someone_else)

    with pytest.raises(VisitorIdTaken):
        save_approved_visitor(
            approval_ref=approval.approval_ref,
            visitor_id="vis-0123456789abcdef",
            face_ids=["face-1"],
            photo=PHOTO,
            door_id="front-door",
            approvals=approvals,
            visitors=visitors,
            now=T0,
        )
    assert visitors.items["vis-0123456789abcdef"] == someone_else


def test_save_visitor_refuses_a_door_that_is_not_the_approvals(approvals: InMemoryApprovals) -> None:
    approval = approved(approvals)
    visitors = InMemoryVisitors()

    with pytest.raises(InvalidApprovalInput) as raised:
        save_approved_visitor(
            approval_ref=approval.approval_ref,
            visitor_id="vis-0123456789abcdef",
            face_ids=["face-1"],
            photo=PHOTO,
            door_id="back-door",
            approvals=approvals,
            visitors=visitors,
            now=T0,
        )
    assert raised.value.field == "doorId"
    assert visitors.items == {}
