"""Workflow task (`lambda:invoke.waitForTaskToken`): ask the owner to approve an unknown visitor.

Input `{taskToken, approvalRef, executionName}`. Stores the task token on the PENDING approval
(server side only), pushes the request to the owner's subscribed devices (Web Push, when
configured: VAPID_SUBJECT), texts the owner a short message with the approval link only when no
push was delivered, and emails a
longer one (photo links valid until the request expires) through the alerts topic. The link's
approval id, `<approvalRef>.<mac>`, is computed here with the deployment's HMAC key
(`OTP_SECRET_ARN`) and never returned: the execution history holds only the ref. The
execution then waits until the approval API calls SendTaskSuccess with `{approvalRef, decision}`.

Retries are safe: every attempt stores its own (new) token, and the SMS and the email are each
sent once. If SNS refuses the SMS for good, the email (which carries the same link) says so
and the task waits as usual; if SNS throttles it, the email goes out first and the
`TransientError` makes the ASL retry the SMS alone. Errors: `TransientError`, `ApprovalExpired`,
`ApprovalAlreadyDecided`, `ApprovalNotFound`. The SMS counts against the door's hourly texts
(docs/sms.md, "Limits"); when they are spent only the email goes, and it says so. The token,
the owner's phone and the approval link never reach the logs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from smartdoor.adapters.approval_store import DynamoApprovalStore
from smartdoor.adapters.notifications import SmsOrigin, SnsNotifier
from smartdoor.adapters.photo_store import S3PhotoStore
from smartdoor.adapters.secrets import SecretsManagerHmacKey
from smartdoor.adapters.sms_budget_store import sms_budget
from smartdoor.domain.approvals import ask_owner, log_id, utc_now
from smartdoor.domain.phones import is_e164
from smartdoor.domain.push import OwnerDevices
from smartdoor.domain.sms_budget import SmsBudget
from smartdoor.models import WireModel
from smartdoor.observability import log_counts, logger
from smartdoor.ports import ApprovalRepository, LinkKey, Notifier, PhotoLinks
from smartdoor.process_cache import process_cache
from smartdoor.schema import Meta, field
from smartdoor.settings import SmsSettings, load_settings


class AskOwnerSettings(SmsSettings, kw_only=True):
    approvals_table: Annotated[str, Meta(min_length=1)] = field(name="APPROVALS_TABLE")
    photos_bucket: Annotated[str, Meta(min_length=1)] = field(name="PHOTOS_BUCKET")
    alerts_topic_arn: Annotated[str, Meta(min_length=1)] = field(name="ALERTS_TOPIC_ARN")
    otp_secret_arn: Annotated[str, Meta(min_length=1)] = field(name="OTP_SECRET_ARN")
    __hidden__ = frozenset({"owner_phone"})

    owner_phone: str = field(name="OWNER_PHONE")
    site_url: Annotated[str, Meta(pattern="^https?://[^\\s?#]+$")] = field(name="SITE_URL")
    # Web Push to the owner's devices (docs/notifications.md): the VAPID `sub` (mailto: the
    # owner's email) and the table of subscriptions. Without them, no push: SMS as before.
    vapid_subject: Annotated[str, Meta(pattern="^(mailto:[^\\s@]+@[^\\s@]+|https://\\S+)$")] | None = field(
        default=None, name="VAPID_SUBJECT"
    )
    push_subscriptions_table: str | None = field(default=None, name="PUSH_SUBSCRIPTIONS_TABLE")

    def __post_init__(self) -> None:
        super().__post_init__()
        if not is_e164(self.owner_phone):
            raise ValueError("OWNER_PHONE must be an E.164 number such as +15551234567")
        if (self.vapid_subject is None) != (self.push_subscriptions_table is None):
            raise ValueError(
                "VAPID_SUBJECT and PUSH_SUBSCRIPTIONS_TABLE are set together (Web Push) or not at all"
            )


class AskOwnerRequest(WireModel):
    # Validation errors never echo values; repr leaves the token out.
    __hidden__ = frozenset({"task_token"})

    task_token: Annotated[str, Meta(min_length=1, max_length=2048)]
    approval_ref: Annotated[str, Meta(min_length=1, max_length=128)]
    execution_name: Annotated[str, Meta(min_length=1, max_length=256)]


# One per warm container: the key source keeps the cached secret between invocations.
@process_cache
def _default_link_key(otp_secret_arn: str) -> LinkKey:
    return SecretsManagerHmacKey(otp_secret_arn)


def reset_adapters() -> None:
    """Forget the default key source (tests that start a fresh moto account call this)."""
    _default_link_key.cache_clear()


def _owner_devices(
    settings: AskOwnerSettings, key: LinkKey, http_hosts: frozenset[str]
) -> OwnerDevices | None:
    if settings.vapid_subject is None or settings.push_subscriptions_table is None:
        return None
    # Imported only when push is configured: cryptography comes from the Web Push layer.
    from smartdoor.adapters.push_store import DynamoPushSubscriptions
    from smartdoor.adapters.web_push import DerivedVapidKey, WebPushSender

    return OwnerDevices(
        subscriptions=DynamoPushSubscriptions(settings.push_subscriptions_table),
        sender=WebPushSender(DerivedVapidKey(key), settings.vapid_subject, http_hosts=http_hosts),
    )


@logger.inject_lambda_context(clear_state=True)
def handler(
    event: dict[str, Any],
    context: LambdaContext,
    approvals: ApprovalRepository | None = None,
    notifier: Notifier | None = None,
    photo_links: PhotoLinks | None = None,
    link_key: LinkKey | None = None,
    now: datetime | None = None,
    budget: SmsBudget | None = None,
    devices: OwnerDevices | None = None,
    push_http_hosts: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    request = AskOwnerRequest.parse(event)
    settings = load_settings(AskOwnerSettings)
    logger.append_keys(approval=log_id(request.approval_ref), execution=request.execution_name)
    key = link_key or _default_link_key(settings.otp_secret_arn)
    asked = ask_owner(
        request.approval_ref,
        request.task_token,
        request.execution_name,
        owner_phone=settings.owner_phone,
        site_url=settings.site_url,
        approvals=approvals or DynamoApprovalStore(settings.approvals_table),
        notifier=notifier
        or SnsNotifier(
            settings.alerts_topic_arn,
            sms_origin=SmsOrigin(settings.sms_sender_id, settings.sms_origination_number),
        ),
        photo_links=photo_links or S3PhotoStore(settings.photos_bucket),
        link_key=key,
        now=now or utc_now(),
        budget=budget or sms_budget(settings.sms_budget_table, settings.sms_limits()),
        devices=devices or _owner_devices(settings, key, push_http_hosts),
    )
    log_counts(
        "Owner asked",
        {
            "OwnerSmsSent": int(asked.sms_sent),
            "OwnerEmailsSent": int(asked.email_sent),
            "OwnerSmsRefused": int(asked.sms_refused),
            "OwnerPushesDelivered": asked.pushes_delivered,
        },
    )
    # The execution waits for the task token; this value is not used by the workflow.
    return {
        "smsSent": asked.sms_sent,
        "emailSent": asked.email_sent,
        "pushesDelivered": asked.pushes_delivered,
    }
