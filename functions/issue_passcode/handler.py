"""Workflow task: issue a one-time passcode for a known visitor and text it to them.

Input `{visitorId, doorId, visitId}` (visitId: the visit the code is for; the code item keeps it
and the DoorUnlocked event it opens the door with names it); output `{visitorId, doorId, visitId,
expiresAt, sentTo, held, heldReason}` with the phone masked; `held` (with its reason for the
owner, `expiresAt` and `sentTo` null) when the hourly SMS budgets are spent (docs/sms.md,
"Limits"): then no code is issued and the visitor's live code, if any, keeps working.
The code is sent from here and never returned, so it stays out of the state machine's data and
execution history. Errors: `VisitorNotFound`; `TransientError` (retried by the ASL);
`SmsNotDelivered` (SNS refused the text for good: the workflow emails the owner that the visitor got no code).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from aws_lambda_powertools.utilities.typing import LambdaContext

from smartdoor.adapters.notifications import SmsOrigin, SnsNotifier
from smartdoor.adapters.passcode_store import passcode_service
from smartdoor.adapters.sms_budget_store import sms_budget
from smartdoor.adapters.visitor_store import DynamoVisitorStore
from smartdoor.domain.otp import OtpPolicy, PasscodeSent, PasscodeService, send_passcode
from smartdoor.domain.sms_budget import SmsBudget
from smartdoor.models import WIRE_ID_PATTERN, WireModel
from smartdoor.observability import log_counts, logger
from smartdoor.ports import SmsSender, VisitorLookup
from smartdoor.process_cache import process_cache
from smartdoor.schema import Meta, field
from smartdoor.settings import SmsSettings, load_settings


class IssuePasscodeSettings(SmsSettings, kw_only=True):
    passcodes_table: Annotated[str, Meta(min_length=1)] = field(name="PASSCODES_TABLE")
    visitors_table: Annotated[str, Meta(min_length=1)] = field(name="VISITORS_TABLE")
    otp_secret_arn: Annotated[str, Meta(min_length=1)] = field(name="OTP_SECRET_ARN")
    alerts_topic_arn: Annotated[str, Meta(min_length=1)] = field(name="ALERTS_TOPIC_ARN")
    otp_ttl_seconds: Annotated[int, Meta(ge=30, le=3600)] = field(default=300, name="OTP_TTL_SECONDS")
    otp_max_failures: Annotated[int, Meta(ge=1)] = field(default=5, name="OTP_MAX_FAILURES")
    otp_failure_window_seconds: Annotated[int, Meta(ge=1)] = field(
        default=900, name="OTP_FAILURE_WINDOW_SECONDS"
    )
    otp_lockout_seconds: Annotated[int, Meta(ge=1)] = field(default=900, name="OTP_LOCKOUT_SECONDS")
    # The pages' address: the SMS links to its keypad (none: the SMS carries the code only).
    site_url: Annotated[str, Meta(pattern=r"^https?://[^\s?#]+$")] | None = field(
        default=None, name="SITE_URL"
    )

    def policy(self) -> OtpPolicy:
        return OtpPolicy(
            ttl_seconds=self.otp_ttl_seconds,
            max_failures=self.otp_max_failures,
            failure_window_seconds=self.otp_failure_window_seconds,
            lockout_seconds=self.otp_lockout_seconds,
        )


class IssuePasscodeRequest(WireModel):
    visitor_id: Annotated[str, Meta(pattern=WIRE_ID_PATTERN)]
    door_id: Annotated[str, Meta(pattern=WIRE_ID_PATTERN)]
    visit_id: Annotated[str, Meta(pattern=WIRE_ID_PATTERN)]


class IssuePasscodeResponse(WireModel):
    visitor_id: str
    door_id: str
    visit_id: str
    expires_at: str | None  # ISO-8601 UTC; None when held
    sent_to: str | None  # masked phone; None when held
    held: bool
    held_reason: str | None  # why no text went (the SMS budgets), for the owner's email

    @classmethod
    def of(cls, sent: PasscodeSent) -> IssuePasscodeResponse:
        expires = (
            None
            if sent.expires_at is None
            else datetime.fromtimestamp(sent.expires_at, tz=UTC).isoformat().replace("+00:00", "Z")
        )
        return cls(
            visitor_id=sent.visitor_id,
            door_id=sent.door_id,
            visit_id=sent.visit_id,
            expires_at=expires,
            sent_to=sent.sent_to,
            held=sent.held is not None,
            held_reason=sent.held,
        )

    def to_wire(self) -> dict[str, Any]:
        # Every key, null included: the workflows' ResultSelector names each one.
        wire: dict[str, Any] = msgspec.to_builtins(self)
        return wire


# One of each per warm container: the key source keeps the cached secret between invocations.
@process_cache
def _default_passcodes(settings: IssuePasscodeSettings) -> PasscodeService:
    return passcode_service(settings.passcodes_table, settings.otp_secret_arn, settings.policy())


def reset_adapters() -> None:
    """Forget the default adapters (tests that start a fresh moto account call this)."""
    _default_passcodes.cache_clear()


@logger.inject_lambda_context
def handler(
    event: dict[str, Any],
    context: LambdaContext,
    passcodes: PasscodeService | None = None,
    visitors: VisitorLookup | None = None,
    notifier: SmsSender | None = None,
    budget: SmsBudget | None = None,
) -> dict[str, Any]:
    request = IssuePasscodeRequest.parse(event)
    settings = load_settings(IssuePasscodeSettings)
    sent = send_passcode(
        request.visitor_id,
        request.door_id,
        visit_id=request.visit_id,
        passcodes=passcodes or _default_passcodes(settings),
        visitors=visitors or DynamoVisitorStore(settings.visitors_table),
        site_url=settings.site_url,
        budget=budget or sms_budget(settings.sms_budget_table, settings.sms_limits()),
        sms=notifier
        or SnsNotifier(
            settings.alerts_topic_arn,
            sms_origin=SmsOrigin(settings.sms_sender_id, settings.sms_origination_number),
        ),
    )
    log_counts(
        "Passcode issued" if sent.held is None else "Passcode held",
        {"PasscodesIssued": int(sent.held is None)},
    )
    return IssuePasscodeResponse.of(sent).to_wire()
