"""The one place where failures become HTTP answers (docs/api.md is the contract).

Every refusal is a typed exception: the domain's, the request guards' below, or Powertools'
RequestValidationError when a body does not fit its request model. Bodies are `{"error": ...}`,
a 400 names the field, and no answer echoes what the caller sent.
"""

from __future__ import annotations

import binascii
import json
import math
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.metrics import MetricUnit

from api.adapters import adapters_of
from api.doorbell import RingNotDelivered
from api.unlock import DoorLockedOut, UnknownDoor, WrongPasscode, iso_utc
from smartdoor.domain.approvals import (
    ApprovalAlreadyDecided,
    ApprovalExpired,
    ApprovalNotFound,
    ApprovalNotReady,
    InvalidApprovalInput,
)
from smartdoor.errors import MalformedPasscode, SmartDoorError, TransientError
from smartdoor.observability import logger, metrics

# Every body this API accepts is a few dozen bytes; anything near this is not a real client.
MAX_BODY_BYTES = 4096
RETRY_AFTER_TRANSIENT_SECONDS = 5

# What a 400 says about a body field, by the field and pydantic's error type ("*": any type).
_FIELD_MESSAGES: dict[tuple[str, str], str] = {
    ("decision", "missing"): "is required: 'approve' or 'deny'",
    ("decision", "*"): "must be 'approve' or 'deny'",
    ("name", "*"): "must be a string",
    ("phone", "*"): "must be a string",
}


class BadRequest(SmartDoorError):
    """The body is not the JSON object a route expects (400); `field` names what is wrong."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name} {message}")
        self.field = field_name
        self.message = message


class PayloadTooLarge(SmartDoorError):
    """The body is over MAX_BODY_BYTES (413)."""


def read_json_object(text: str) -> Any:
    """The resolver's JSON body reader: refuses anything large or malformed before parsing it."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"request body over {MAX_BODY_BYTES} bytes")
    if not text.strip():
        raise BadRequest("body", "is required: send a JSON object")
    try:
        parsed = json.loads(text)
    except ValueError:
        raise BadRequest("body", "is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise BadRequest("body", "must be a JSON object")
    return parsed


def json_answer(status: HTTPStatus, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    """A JSON answer that is never cached (every route answers this way)."""
    return Response(
        status_code=status.value,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body),
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def _first_problem(errors: Sequence[Any]) -> tuple[str, str]:
    """(field, message) for the first validation error: a body field, or the body itself."""
    for error in errors:
        location = [part for part in error.get("loc", ()) if isinstance(part, str)]
        kind = str(error.get("type", ""))
        if location[:1] == ["body"] and len(location) >= 2:
            field_name = location[1]
            message = _FIELD_MESSAGES.get((field_name, kind)) or _FIELD_MESSAGES.get((field_name, "*"))
            if message is None:
                message = "is required" if kind == "missing" else "is not valid"
            return field_name, message
        if location[:1] == ["body"]:
            if kind == "missing":
                return "body", "is required: send a JSON object"
            if kind == "json_invalid":
                return "body", "is not valid JSON"
            return "body", "must be a JSON object"
    return "request", "is not valid"


def _refusal_body(error: ApprovalAlreadyDecided | ApprovalExpired) -> dict[str, Any]:
    """How a request ended, for the owner page's "Already approved at 10:02 — Sam was let in"."""
    if isinstance(error, ApprovalAlreadyDecided):
        body: dict[str, Any] = {"error": "this request was already decided", "status": "DECIDED"}
        if error.outcome is not None:
            body["outcome"] = error.outcome.value.lower()
        if error.decided_at is not None:
            body["decidedAt"] = iso_utc(error.decided_at)
        if error.visitor_name:
            body["visitor"] = error.visitor_name
        return body
    body = {"error": "this request has expired", "status": "EXPIRED", "outcome": "expired"}
    if error.expired_at is not None:
        body["expiredAt"] = iso_utc(error.expired_at)
    return body


def map_errors(app: APIGatewayRestResolver) -> None:
    @app.exception_handler(BadRequest)
    def bad_request(error: BadRequest) -> Response:
        return json_answer(
            HTTPStatus.BAD_REQUEST, {"error": f"{error.field} {error.message}", "field": error.field}
        )

    @app.exception_handler(RequestValidationError)
    def invalid_request(error: RequestValidationError) -> Response:
        field_name, message = _first_problem(error.errors())
        if field_name == "otp":
            return malformed_passcode(MalformedPasscode(message))
        return json_answer(HTTPStatus.BAD_REQUEST, {"error": f"{field_name} {message}", "field": field_name})

    # API Gateway base64-encodes binary media types; Powertools decodes before the body reader.
    @app.exception_handler(binascii.Error)
    def not_base64(error: binascii.Error) -> Response:
        return bad_request(BadRequest("body", "is not valid base64"))

    @app.exception_handler(UnicodeDecodeError)
    def not_utf8(error: UnicodeDecodeError) -> Response:
        return bad_request(BadRequest("body", "is not valid JSON"))

    @app.exception_handler(InvalidApprovalInput)
    def invalid_approval_input(error: InvalidApprovalInput) -> Response:
        return json_answer(
            HTTPStatus.BAD_REQUEST, {"error": f"{error.field} {error.message}", "field": error.field}
        )

    @app.exception_handler(MalformedPasscode)
    def malformed_passcode(error: MalformedPasscode) -> Response:
        return json_answer(
            HTTPStatus.BAD_REQUEST,
            {"granted": False, "error": "otp must be exactly 6 digits", "field": "otp"},
        )

    @app.exception_handler(PayloadTooLarge)
    def payload_too_large(error: PayloadTooLarge) -> Response:
        return json_answer(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            {"error": f"request body must be at most {MAX_BODY_BYTES} bytes"},
        )

    @app.exception_handler([ApprovalNotFound, UnknownDoor, NotFoundError])
    def not_found(error: Exception) -> Response:
        return json_answer(HTTPStatus.NOT_FOUND, {"error": "not found"})

    @app.exception_handler(ApprovalAlreadyDecided)
    def already_decided(error: ApprovalAlreadyDecided) -> Response:
        # Showing a decided request: it is gone (410). Deciding it again: a conflict (409).
        status = HTTPStatus.GONE if app.current_event.http_method == "GET" else HTTPStatus.CONFLICT
        return json_answer(status, _refusal_body(error))

    @app.exception_handler(ApprovalExpired)  # includes TaskTokenRejected: the workflow stopped waiting
    def expired(error: ApprovalExpired) -> Response:
        return json_answer(HTTPStatus.GONE, _refusal_body(error))

    @app.exception_handler(ApprovalNotReady)
    def not_ready(error: ApprovalNotReady) -> Response:
        return json_answer(
            HTTPStatus.CONFLICT,
            {"error": "this request is not waiting for a decision yet", "status": "PENDING"},
            headers={"Retry-After": str(RETRY_AFTER_TRANSIENT_SECONDS)},
        )

    @app.exception_handler(WrongPasscode)
    def wrong_passcode(error: WrongPasscode) -> Response:
        metrics.add_metric(name="WrongPasscodes", unit=MetricUnit.Count, value=1)
        return json_answer(
            HTTPStatus.FORBIDDEN, {"granted": False, "error": "wrong, expired or already used code"}
        )

    @app.exception_handler(DoorLockedOut)
    def locked_out(error: DoorLockedOut) -> Response:
        metrics.add_metric(name="LockedOutTries", unit=MetricUnit.Count, value=1)
        wait = max(1, math.ceil((error.retry_at - adapters_of(app).now).total_seconds()))
        return json_answer(
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
        return json_answer(
            HTTPStatus.SERVICE_UNAVAILABLE,
            {"error": "the doorbell could not be rung, try again"},
            headers={"Retry-After": str(RETRY_AFTER_TRANSIENT_SECONDS)},
        )

    @app.exception_handler(TransientError)
    def transient(error: TransientError) -> Response:
        logger.warning("Transient failure", extra={"error": type(error).__name__})
        return json_answer(
            HTTPStatus.SERVICE_UNAVAILABLE,
            {"error": "temporarily unavailable, try again"},
            headers={"Retry-After": str(RETRY_AFTER_TRANSIENT_SECONDS)},
        )

    @app.exception_handler(Exception)
    def unexpected(error: Exception) -> Response:
        logger.exception("Unhandled error")
        return json_answer(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal error"})
