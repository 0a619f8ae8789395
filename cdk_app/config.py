"""Deployment configuration: CDK context, validated in one typed place.

Every key has a documented default except the owner's contacts, which a deployment must
pass (`-c ownerPhone=+15551234567 -c ownerEmail=you@example.com`).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from smartdoor.domain.phones import is_e164, is_sender_id

# Whole-value patterns (fullmatch: `$` alone would let a trailing newline through).
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
DOOR_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
# A lock's webhook: https only (the secret header travels with it), no fragment, no whitespace.
WEBHOOK_URL = re.compile(r"https://[^\s/?#]+(/[^\s#]*)?")
# An HTTP header name (RFC 9110 token characters).
HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}")
# A Secrets Manager secret name (its documented characters).
SECRET_NAME = re.compile(r"[A-Za-z0-9/_+=.@-]{1,512}")
SITE_URL = re.compile(r"(https://[^\s/?#]+|http://(localhost|127\.0\.0\.1)(:[0-9]+)?)(/[^\s?#]*[^\s/?#])?")

# The flag a person must pass to fix each key, used in error messages.
_FLAG_HELP = {
    "ownerPhone": "pass -c ownerPhone=+15551234567 (E.164: '+', country code, number)",
    "ownerEmail": "pass -c ownerEmail=you@example.com",
    "smsSenderId": "pass -c smsSenderId=SmartDoor (3-11 letters and digits, at least one letter) "
    "or leave it out",
    "originationNumber": "pass -c originationNumber=+18005550100 (E.164: a number of this account in "
    "SNS > Origination numbers) or leave it out",
    "smsDeliveryLogs": "pass -c smsDeliveryLogs=true or -c smsDeliveryLogs=false",
    "lockIot": "pass -c lockIot=true (an AWS IoT relay at the door) or leave it out",
    "lockWebhookUrl": "pass -c lockWebhookUrl=https://lock.example.com/api/webhook/<id> "
    "-c lockWebhookSecretName=<secret> or leave both out",
    "lockWebhookSecretName": "pass -c lockWebhookSecretName=<the Secrets Manager secret holding the "
    "header value> with lockWebhookUrl, or leave both out",
    "lockWebhookHeader": "pass -c lockWebhookHeader=X-Smartdoor-Key or leave it out",
}


class ConfigError(ValueError):
    """The CDK context does not describe a deployable Smart Door."""


class SmartDoorConfig(BaseModel):
    """All deploy-time settings. Field aliases are the CDK context keys."""

    model_config = ConfigDict(populate_by_name=True, frozen=True, extra="ignore")

    door_id: str = Field("front-door", alias="doorId")
    owner_phone: str = Field(alias="ownerPhone")
    owner_email: str = Field(alias="ownerEmail")
    face_match_threshold: float = Field(90.0, alias="faceMatchThreshold", ge=50, le=100)
    min_frames_for_decision: int = Field(2, alias="minFramesForDecision", ge=1, le=50)
    visit_gap_seconds: int = Field(120, alias="visitGapSeconds", ge=5, le=3600)
    approval_timeout_seconds: int = Field(600, alias="approvalTimeoutSeconds", ge=10, le=86400)
    otp_ttl_seconds: int = Field(300, alias="otpTtlSeconds", ge=30, le=3600)
    # images: a streaming camera, sampled from Kinesis Video during a session; streamProcessor:
    # Rekognition's video processor; snapshots: the door agent's uploads only (no Kinesis Video,
    # no Kinesis Data Stream, no session sampling), the documented choice for a home with the agent.
    face_source: Literal["images", "streamProcessor", "snapshots"] = Field("images", alias="faceSource")
    # Quality gate: a detected face below any of these is ignored.
    min_face_confidence: float = Field(90.0, alias="minFaceConfidence", ge=0, le=100)
    min_face_size_ratio: float = Field(0.05, alias="minFaceSizeRatio", ge=0, le=1)
    min_face_sharpness: float = Field(20.0, alias="minFaceSharpness", ge=0, le=100)
    min_face_brightness: float = Field(20.0, alias="minFaceBrightness", ge=0, le=100)
    video_retention_hours: int = Field(24, alias="videoRetentionHours", ge=24, le=87600)
    powertools_layer_version: int = Field(27, alias="powertoolsLayerVersion", ge=1)
    # Base URL of the web pages (no trailing '/'); the approval link is <siteUrl>/owner/?a=<id>.
    # Without it, the pages' CloudFront URL (https://<distribution domain>) is used.
    site_url: str | None = Field(None, alias="siteUrl")
    # Unknown visitors' photos (photos bucket, prefix visits/) are deleted after this many days.
    photo_retention_days: int = Field(30, alias="photoRetentionDays", ge=1, le=3650)
    # OTP lockout: after this many failed tries at a door within the window, the door locks out.
    otp_max_failures: int = Field(5, alias="otpMaxFailures", ge=1, le=100)
    otp_failure_window_seconds: int = Field(900, alias="otpFailureWindowSeconds", ge=60, le=86400)
    otp_lockout_seconds: int = Field(900, alias="otpLockoutSeconds", ge=60, le=86400)
    # SMS budgets (docs/sms.md, "Limits"): texts an hour to one visitor, and caused at one door
    # (visitors' codes and the owner's approval requests). Past one, nothing is texted and the
    # owner is told by email.
    sms_per_visitor_per_hour: int = Field(3, alias="smsPerVisitorPerHour", ge=1, le=100)
    sms_per_door_per_hour: int = Field(20, alias="smsPerDoorPerHour", ge=1, le=1000)
    # HTTP API stage throttling (every route together): steady requests per second and burst.
    api_throttle_rate_limit: float = Field(10, alias="apiThrottleRateLimit", ge=1, le=10000)
    api_throttle_burst_limit: int = Field(20, alias="apiThrottleBurstLimit", ge=1, le=5000)
    # Doorbell sessions (docs/doorbell.md): a ring or motion samples the camera for a while.
    sampling_interval_seconds: int = Field(1, alias="samplingIntervalSeconds", ge=1, le=10)
    session_seconds: int = Field(30, alias="sessionSeconds", ge=5, le=240)
    max_frames_per_session: int = Field(15, alias="maxFramesPerSession", ge=1, le=240)
    max_frames_per_day: int = Field(1000, alias="maxFramesPerDay", ge=1, le=100_000)
    max_empty_samples: int = Field(5, alias="maxEmptySamples", ge=1, le=240)
    # How door devices authenticate on POST /doors/{doorId}/ring and /snapshots.
    device_auth: Literal["apiKey", "iam"] = Field("apiKey", alias="deviceAuth")
    # SMS origination identity (docs/sms.md), put on every SMS: a sender ID (where the destination
    # country supports them; not the US) and/or an origination number this account owns (in the
    # US a registered toll-free or 10DLC number). Unset: SNS picks one of the account's own.
    sms_sender_id: str | None = Field(None, alias="smsSenderId")
    origination_number: str | None = Field(None, alias="originationNumber")
    # SNS SMS delivery status logging (account and region wide): failures go to CloudWatch Logs,
    # and one alarm emails the owner. false when another stack in the account already manages it.
    sms_delivery_logs: bool = Field(True, alias="smsDeliveryLogs")
    # The lock (docs/door.md): a relay driven by the door agent through AWS IoT Core (lockIot), or
    # a lock with an HTTP API told by a webhook (lockWebhookUrl, its header value kept in the
    # Secrets Manager secret lockWebhookSecretName, created by the owner). At most one per door.
    lock_iot: bool = Field(False, alias="lockIot")
    lock_webhook_url: str | None = Field(None, alias="lockWebhookUrl")
    lock_webhook_secret_name: str | None = Field(None, alias="lockWebhookSecretName")
    lock_webhook_header: str = Field("X-Smartdoor-Key", alias="lockWebhookHeader")
    # How long an unlock command is valid, and how long the lock has to answer it (at least the
    # webhook's four attempts, docs/door.md).
    lock_command_seconds: int = Field(30, alias="lockCommandSeconds", ge=25, le=300)

    @field_validator("owner_phone")
    @classmethod
    def _phone_is_e164(cls, value: str) -> str:
        if not is_e164(value):
            raise ValueError("must be an E.164 number such as +15551234567")
        return value

    @field_validator("owner_email")
    @classmethod
    def _email_is_plausible(cls, value: str) -> str:
        if not EMAIL.fullmatch(value):
            raise ValueError("must be an email address such as you@example.com")
        return value

    @field_validator("sms_sender_id")
    @classmethod
    def _sender_id_is_valid(cls, value: str | None) -> str | None:
        if value is not None and not is_sender_id(value):
            raise ValueError("must be 3-11 letters and digits with at least one letter, such as SmartDoor")
        return value

    @field_validator("origination_number")
    @classmethod
    def _origination_number_is_e164(cls, value: str | None) -> str | None:
        if value is not None and not is_e164(value):
            raise ValueError("must be an E.164 number such as +18005550100")
        return value

    @field_validator("site_url")
    @classmethod
    def _site_url_is_a_base_url(cls, value: str | None) -> str | None:
        if value is not None and not SITE_URL.fullmatch(value):
            raise ValueError(
                "must be an https:// base URL without a trailing '/', such as https://door.example.com"
            )
        return value

    @field_validator("lock_webhook_url")
    @classmethod
    def _webhook_is_https(cls, value: str | None) -> str | None:
        if value is not None and not WEBHOOK_URL.fullmatch(value):
            raise ValueError("must be an https:// URL such as https://lock.example.com/api/webhook/door")
        return value

    @field_validator("lock_webhook_secret_name")
    @classmethod
    def _secret_name_is_valid(cls, value: str | None) -> str | None:
        if value is not None and not SECRET_NAME.fullmatch(value):
            raise ValueError("must be a Secrets Manager secret name (letters, digits and /_+=.@-)")
        return value

    @field_validator("lock_webhook_header")
    @classmethod
    def _header_is_a_token(cls, value: str) -> str:
        if not HEADER_NAME.fullmatch(value):
            raise ValueError("must be an HTTP header name such as X-Smartdoor-Key")
        return value

    @model_validator(mode="after")
    def _one_complete_lock(self) -> SmartDoorConfig:
        if self.lock_webhook_url is not None and self.lock_webhook_secret_name is None:
            raise ValueError("lockWebhookSecretName: is required with lockWebhookUrl")
        if self.lock_webhook_secret_name is not None and self.lock_webhook_url is None:
            raise ValueError("lockWebhookUrl: is required with lockWebhookSecretName")
        if self.lock_iot and self.lock_webhook_url is not None:
            raise ValueError("lockIot and lockWebhookUrl: a door has one lock, pass only one of them")
        return self

    @property
    def lock(self) -> Literal["iot", "webhook"] | None:
        """How the door's lock is told to open, or None without a lock."""
        if self.lock_iot:
            return "iot"
        return "webhook" if self.lock_webhook_url is not None else None

    @field_validator("door_id")
    @classmethod
    def _door_id_is_a_slug(cls, value: str) -> str:
        if not DOOR_ID.fullmatch(value):
            raise ValueError("must be 1-32 lowercase letters, digits or '-', starting with a letter or digit")
        return value


def _plain_message(issue: Any) -> str:
    """A validator's own sentence, without pydantic's "Value error, " prefix."""
    error = (issue.get("ctx") or {}).get("error")
    if issue["type"] in {"value_error", "assertion_error"} and error is not None:
        return str(error)
    return str(issue["msg"])


def load_config(context: dict[str, Any]) -> SmartDoorConfig:
    """Validate CDK context; raise ConfigError naming every bad key and the flag that fixes it."""
    try:
        return SmartDoorConfig.model_validate(context)
    except ValidationError as error:
        problems = []
        for issue in error.errors():
            if not issue["loc"]:  # a rule across keys: its sentence names them
                problems.append(f"  {_plain_message(issue)}")
                continue
            key = str(issue["loc"][0])
            hint = _FLAG_HELP.get(key, f"pass -c {key}=<value>")
            reason = "is required" if issue["type"] == "missing" else _plain_message(issue)
            problems.append(f"  {key}: {reason}; {hint}")
        raise ConfigError("Smart Door configuration is not valid:\n" + "\n".join(problems)) from None
