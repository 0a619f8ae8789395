"""The HTTP API (API Gateway REST, Lambda proxy): owner approvals and the door keypad.

    GET  /approvals/{approvalId}   what the owner page shows (never the task token)
    POST /approvals/{approvalId}   the owner's decision: {"decision": "approve"|"deny", "name", "phone"}
    POST /doors/{doorId}/unlock    a visitor's passcode: {"otp": "123456"}
    POST /doors/{doorId}/ring      a door device: start (or extend) the doorbell session (202)
    POST /doors/{doorId}/snapshots a door device: a presigned S3 POST for one JPEG (201)

Routes parse, call one domain function and return. Every failure is a typed exception mapped
to a status code in `_map_errors`, the one place that knows HTTP codes for errors (docs/api.md
is the contract). The resolver is built per invocation around that invocation's adapters, so
concurrent in-process callers (the local stack, the race tests) never share request state.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field, field_validator

from api.doorbell import RingNotDelivered, SnapshotForms, ring_door, snapshot_upload
from api.unlock import (
    Bus,
    DoorLockedOut,
    OwnerEmail,
    PasscodeVerifier,
    UnknownDoor,
    VisitorNames,
    WrongPasscode,
    iso_utc,
    unlock_door,
)
from smartdoor.adapters.approval_store import DynamoApprovalStore
from smartdoor.adapters.event_bus import EventBridgeBus
from smartdoor.adapters.notifications import SnsNotifier
from smartdoor.adapters.passcode_store import passcode_service
from smartdoor.adapters.photo_store import S3PhotoStore
from smartdoor.adapters.snapshot_store import S3SnapshotUploads
from smartdoor.adapters.task_tokens import StepFunctionsTaskTokens
from smartdoor.adapters.visitor_store import DynamoVisitorStore
from smartdoor.domain.approvals import (
    ApprovalAlreadyDecided,
    ApprovalExpired,
    ApprovalNotFound,
    ApprovalNotReady,
    ApprovalRepository,
    InvalidApprovalInput,
    PhotoLinks,
    TaskTokens,
    decide,
    log_id,
    utc_now,
    view,
)
from smartdoor.domain.otp import OtpPolicy, PasscodeService
from smartdoor.errors import MalformedPasscode, SmartDoorError, TransientError
from smartdoor.observability import logger, metrics, tracer
from smartdoor.settings import FunctionSettings, load_settings

# Every body this API accepts is a few dozen bytes; anything near this is not a real client.
MAX_BODY_BYTES = 4096
# The owner page's photo links: short-lived, and never longer than the request itself lives.
MAX_PHOTO_URL_SECONDS = 300
RETRY_AFTER_TRANSIENT_SECONDS = 5


class ApiSettings(FunctionSettings):
    approvals_table: str = Field(alias="APPROVALS_TABLE", min_length=1)
    visitors_table: str = Field(alias="VISITORS_TABLE", min_length=1)
    passcodes_table: str = Field(alias="PASSCODES_TABLE", min_length=1)
    photos_bucket: str = Field(alias="PHOTOS_BUCKET", min_length=1)
    event_bus_name: str = Field(alias="EVENT_BUS_NAME", min_length=1)
    alerts_topic_arn: str = Field(alias="ALERTS_TOPIC_ARN", min_length=1)
    otp_secret_arn: str = Field(alias="OTP_SECRET_ARN", min_length=1)
    door_id: str = Field(alias="DOOR_ID", pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")
    # The pages' origin (scheme://host[:port]); other origins get no CORS headers, and with no
    # SITE_ORIGIN no origin does (the pages then need the API on their own origin).
    site_origin: str | None = Field(None, alias="SITE_ORIGIN")
    otp_max_failures: int = Field(5, alias="OTP_MAX_FAILURES", ge=1)
    otp_failure_window_seconds: int = Field(900, alias="OTP_FAILURE_WINDOW_SECONDS", ge=1)
    otp_lockout_seconds: int = Field(900, alias="OTP_LOCKOUT_SECONDS", ge=1)

    @field_validator("site_origin")
    @classmethod
    def _origin_has_no_path(cls, value: str | None) -> str | None:
        if value is not None and origin_of(value) != value:
            raise ValueError(
                "SITE_ORIGIN must be scheme://host[:port] with no path, e.g. https://door.example.com"
            )
        return value

    def policy(self) -> OtpPolicy:
        # Verifying never reads the code lifetime (each stored code carries its own expiry).
        return OtpPolicy(
            max_failures=self.otp_max_failures,
            failure_window_seconds=self.otp_failure_window_seconds,
            lockout_seconds=self.otp_lockout_seconds,
        )


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


# ---------------------------------------------------------------------------- request errors


class BadRequest(SmartDoorError):
    """The body is not the JSON object a route expects (400); `field` names what is wrong."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name} {message}")
        self.field = field_name
        self.message = message


class PayloadTooLarge(SmartDoorError):
    """The body is over MAX_BODY_BYTES (413)."""


def read_json_object(body: str | None, is_base64: bool) -> dict[str, Any]:
    """The request body as a JSON object, refusing anything large or malformed before parsing it."""
    raw = (body or "").encode()
    if is_base64:
        if len(raw) > MAX_BODY_BYTES * 4 // 3 + 4:
            raise PayloadTooLarge(f"request body over {MAX_BODY_BYTES} bytes")
        try:
            raw = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("body", "is not valid base64") from None
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"request body over {MAX_BODY_BYTES} bytes")
    if not raw.strip():
        raise BadRequest("body", "is required: send a JSON object")
    try:
        parsed = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("body", "is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise BadRequest("body", "must be a JSON object")
    return parsed


def optional_string(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise BadRequest(name, "must be a string")
    return value


# ---------------------------------------------------------------------------- adapters


@dataclass(frozen=True)
class Adapters:
    """What one invocation works with: the real AWS adapters, or a test's / the local stack's."""

    approvals: ApprovalRepository
    task_tokens: TaskTokens
    photo_links: PhotoLinks
    passcodes: PasscodeVerifier
    visitors: VisitorNames
    bus: Bus
    owner: OwnerEmail
    now: datetime
    snapshot_forms: SnapshotForms | None = None  # door devices' uploads (POST /doors/{id}/snapshots)


# One per warm container: the key source keeps the cached secret between invocations.
@cache
def _default_passcodes(settings: ApiSettings) -> PasscodeService:
    return passcode_service(settings.passcodes_table, settings.otp_secret_arn, settings.policy())


def reset_adapters() -> None:
    """Forget the default adapters (tests that start a fresh moto account call this)."""
    _default_passcodes.cache_clear()


# ---------------------------------------------------------------------------- the API


def _json(status: HTTPStatus, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status.value,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body),
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def create_app(settings: ApiSettings, adapters: Adapters) -> APIGatewayRestResolver:
    # No SITE_ORIGIN: no CORS headers at all (a CORSConfig without an origin would mean "*").
    cors = CORSConfig(allow_origin=settings.site_origin, max_age=600) if settings.site_origin else None
    app = APIGatewayRestResolver(cors=cors)

    @app.get("/approvals/<approval_id>")
    def show_approval(approval_id: str) -> Response:
        shown = view(approval_id, now=adapters.now, approvals=adapters.approvals)
        remaining = int((shown.expires_at - adapters.now).total_seconds())
        link_seconds = max(1, min(MAX_PHOTO_URL_SECONDS, remaining))
        metrics.add_metric(name="ApprovalsShown", unit=MetricUnit.Count, value=1)
        return _json(
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

    @app.post("/approvals/<approval_id>")
    def decide_approval(approval_id: str) -> Response:
        event = app.current_event
        body = read_json_object(event.body, bool(event.is_base64_encoded))
        decision = body.get("decision")
        if not isinstance(decision, str):
            raise InvalidApprovalInput("decision", "is required: 'approve' or 'deny'")
        result = decide(
            approval_id,
            decision,
            optional_string(body, "name"),
            optional_string(body, "phone"),
            now=adapters.now,
            approvals=adapters.approvals,
            task_tokens=adapters.task_tokens,
        )
        metrics.add_metric(name=f"Approvals{result.status.value.title()}", unit=MetricUnit.Count, value=1)
        return _json(
            HTTPStatus.OK,
            {
                "approvalId": approval_id,
                "decision": result.decision.value,
                "status": result.status.value,
                "decidedAt": iso_utc(result.decided_at),
            },
        )

    @app.post("/doors/<door_id>/unlock")
    def unlock(door_id: str) -> Response:
        event = app.current_event
        body = read_json_object(event.body, bool(event.is_base64_encoded))
        opened = unlock_door(
            door_id,
            body.get("otp"),
            served_doors={settings.door_id},
            passcodes=adapters.passcodes,
            visitors=adapters.visitors,
            bus=adapters.bus,
            owner=adapters.owner,
            now=adapters.now,
        )
        metrics.add_metric(name="DoorUnlocked", unit=MetricUnit.Count, value=1)
        return _json(HTTPStatus.OK, {"granted": True, "visitor": opened.visitor_name})

    @app.post("/doors/<door_id>/ring")
    def ring(door_id: str) -> Response:
        rang = ring_door(door_id, served_doors={settings.door_id}, bus=adapters.bus, now=adapters.now)
        metrics.add_metric(name="DoorbellRings", unit=MetricUnit.Count, value=1)
        return _json(
            HTTPStatus.ACCEPTED, {"doorId": rang.door_id, "accepted": True, "ringAt": iso_utc(rang.rang_at)}
        )

    @app.post("/doors/<door_id>/snapshots")
    def snapshots(door_id: str) -> Response:
        forms = adapters.snapshot_forms or S3SnapshotUploads(settings.photos_bucket)
        upload = snapshot_upload(door_id, served_doors={settings.door_id}, forms=forms, now=adapters.now)
        metrics.add_metric(name="SnapshotUploadsIssued", unit=MetricUnit.Count, value=1)
        return _json(HTTPStatus.CREATED, upload.to_body())

    _map_errors(app, now=adapters.now)
    return app


def _map_errors(app: APIGatewayRestResolver, now: datetime) -> None:
    """The one place where failures become HTTP answers. Bodies never echo what the caller sent."""

    @app.exception_handler(BadRequest)
    def bad_request(error: BadRequest) -> Response:
        return _json(
            HTTPStatus.BAD_REQUEST, {"error": f"{error.field} {error.message}", "field": error.field}
        )

    @app.exception_handler(InvalidApprovalInput)
    def invalid_approval_input(error: InvalidApprovalInput) -> Response:
        return _json(
            HTTPStatus.BAD_REQUEST, {"error": f"{error.field} {error.message}", "field": error.field}
        )

    @app.exception_handler(MalformedPasscode)
    def malformed_passcode(error: MalformedPasscode) -> Response:
        return _json(
            HTTPStatus.BAD_REQUEST,
            {"granted": False, "error": "otp must be exactly 6 digits", "field": "otp"},
        )

    @app.exception_handler(PayloadTooLarge)
    def payload_too_large(error: PayloadTooLarge) -> Response:
        return _json(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            {"error": f"request body must be at most {MAX_BODY_BYTES} bytes"},
        )

    @app.exception_handler([ApprovalNotFound, UnknownDoor, NotFoundError])
    def not_found(error: Exception) -> Response:
        return _json(HTTPStatus.NOT_FOUND, {"error": "not found"})

    @app.exception_handler(ApprovalAlreadyDecided)
    def already_decided(error: ApprovalAlreadyDecided) -> Response:
        # Showing a decided request: it is gone (410). Deciding it again: a conflict (409).
        status = HTTPStatus.GONE if app.current_event.http_method == "GET" else HTTPStatus.CONFLICT
        return _json(status, {"error": "this request was already decided", "status": "DECIDED"})

    @app.exception_handler(ApprovalExpired)  # includes TaskTokenRejected: the workflow stopped waiting
    def expired(error: ApprovalExpired) -> Response:
        return _json(HTTPStatus.GONE, {"error": "this request has expired", "status": "EXPIRED"})

    @app.exception_handler(ApprovalNotReady)
    def not_ready(error: ApprovalNotReady) -> Response:
        return _json(
            HTTPStatus.CONFLICT,
            {"error": "this request is not waiting for a decision yet", "status": "PENDING"},
            headers={"Retry-After": str(RETRY_AFTER_TRANSIENT_SECONDS)},
        )

    @app.exception_handler(WrongPasscode)
    def wrong_passcode(error: WrongPasscode) -> Response:
        metrics.add_metric(name="WrongPasscodes", unit=MetricUnit.Count, value=1)
        return _json(HTTPStatus.FORBIDDEN, {"granted": False, "error": "wrong, expired or already used code"})

    @app.exception_handler(DoorLockedOut)
    def locked_out(error: DoorLockedOut) -> Response:
        metrics.add_metric(name="LockedOutTries", unit=MetricUnit.Count, value=1)
        wait = max(1, math.ceil((error.retry_at - now).total_seconds()))
        return _json(
            HTTPStatus.TOO_MANY_REQUESTS,
            {
                "granted": False,
                "error": "too many wrong codes at this door",
                "retryAt": iso_utc(error.retry_at),
                "retryAfterSeconds": wait,
            },
            headers={"Retry-After": str(wait)},
        )

    @app.exception_handler(RingNotDelivered)
    def ring_not_delivered(error: RingNotDelivered) -> Response:
        logger.warning("Doorbell event refused by EventBridge")
        return _json(
            HTTPStatus.SERVICE_UNAVAILABLE,
            {"error": "the doorbell could not be rung, try again"},
            headers={"Retry-After": str(RETRY_AFTER_TRANSIENT_SECONDS)},
        )

    @app.exception_handler(TransientError)
    def transient(error: TransientError) -> Response:
        logger.warning("Transient failure", extra={"error": type(error).__name__})
        return _json(
            HTTPStatus.SERVICE_UNAVAILABLE,
            {"error": "temporarily unavailable, try again"},
            headers={"Retry-After": str(RETRY_AFTER_TRANSIENT_SECONDS)},
        )

    @app.exception_handler(Exception)
    def unexpected(error: Exception) -> Response:
        logger.exception("Unhandled error")
        return _json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal error"})


# ---------------------------------------------------------------------------- Lambda entry point


# Neither the event (OTPs, phone numbers, approval ids) nor responses go to logs or traces.
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def handler(
    event: dict[str, Any],
    context: LambdaContext,
    approvals: ApprovalRepository | None = None,
    task_tokens: TaskTokens | None = None,
    photo_links: PhotoLinks | None = None,
    passcodes: PasscodeVerifier | None = None,
    visitors: VisitorNames | None = None,
    bus: Bus | None = None,
    owner: OwnerEmail | None = None,
    now: datetime | None = None,
    snapshot_forms: SnapshotForms | None = None,
) -> dict[str, Any]:
    settings = load_settings(ApiSettings)
    adapters = Adapters(
        approvals=approvals or DynamoApprovalStore(settings.approvals_table),
        task_tokens=task_tokens or StepFunctionsTaskTokens(),
        photo_links=photo_links or S3PhotoStore(settings.photos_bucket),
        passcodes=passcodes or _default_passcodes(settings),
        visitors=visitors or DynamoVisitorStore(settings.visitors_table),
        bus=bus or EventBridgeBus(settings.event_bus_name),
        owner=owner or SnsNotifier(settings.alerts_topic_arn),
        now=now or utc_now(),
        snapshot_forms=snapshot_forms,
    )
    approval_id = (event.get("pathParameters") or {}).get("approvalId")
    if approval_id:
        logger.append_keys(approval=log_id(str(approval_id)))
    return create_app(settings, adapters).resolve(event, context)
