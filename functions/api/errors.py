"""The one place where failures become HTTP answers (docs/api.md is the contract).

Every refusal is a typed exception: the domain's, the request guards' below, or a
ValidationError when a body does not fit its request model. `answer_error` picks the answer of
the error's most specific class in `ANSWERS`. Bodies are `{"error": ...}`, a 400 names the
field, and no answer echoes what the caller sent.
"""

from __future__ import annotations

import binascii
import json
import math
import re
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any

from api.router import Answer, Call, InvalidBody, NotFound, NotJson, body_text, json_answer
from smartdoor.domain.approvals import (
    ApprovalAlreadyDecided,
    ApprovalExpired,
    ApprovalNotFound,
    ApprovalNotReady,
)
from smartdoor.domain.push import TooManySubscriptions
from smartdoor.errors import (
    InvalidField,
    MalformedPasscode,
    SmartDoorError,
    TransientError,
    UnknownCommand,
    UnknownDoor,
)
from smartdoor.observability import log_counts, logger
from smartdoor.schema import ValidationError, where
from smartdoor.services.door_devices import RingNotDelivered
from smartdoor.services.unlock import DoorAlreadyOpen, DoorLockedOut, WrongPasscode, iso_utc

# Every body this API accepts is a few dozen bytes; anything near this is not a real client.
MAX_BODY_BYTES = 4096
RETRY_AFTER_TRANSIENT_SECONDS = 5

# What a 400 says about a body field, by the field and the kind of error ("*": any other).
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


def read_json_object(event: Mapping[str, Any]) -> Any:
    """The router's JSON body reader: refuses anything large or malformed before parsing it."""
    text = body_text(event)
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


_MISSING = re.compile(r"^Object missing required field `(?P<field>[^`]+)`")


def _first_problem(error: ValidationError) -> tuple[str, str]:
    """(field, message) for a body that does not fit its model: a body field, or the body itself."""
    missing = _MISSING.match(str(error))
    field_name = missing.group("field") if missing else where(error).split(".")[0].split("[")[0]
    if not field_name:
        return "body", "must be a JSON object"
    kind = "missing" if missing else "*"
    message = _FIELD_MESSAGES.get((field_name, kind)) or _FIELD_MESSAGES.get((field_name, "*"))
    if message is None:
        message = "is required" if missing else "is not valid"
    return field_name, message


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


def answer_error(error: Exception, call: Call) -> Answer:
    """The answer for `error`: the entry of its most specific class in ANSWERS."""
    for kind in type(error).__mro__:
        answer = ANSWERS.get(kind)
        if answer is not None:
            return answer(error, call)
    raise error  # BaseException only: ANSWERS has Exception


def _field_error(field_name: str, message: str) -> Answer:
    return json_answer(HTTPStatus.BAD_REQUEST, {"error": f"{field_name} {message}", "field": field_name})


def _bad_request(error: BadRequest, call: Call) -> Answer:
    return _field_error(error.field, error.message)


def _invalid_body(error: InvalidBody, call: Call) -> Answer:
    field_name, message = _first_problem(error.problem)
    if field_name == "otp":
        return _malformed_passcode(MalformedPasscode(message), call)
    return _field_error(field_name, message)


def _not_base64(error: binascii.Error, call: Call) -> Answer:
    return _field_error("body", "is not valid base64")


def _not_utf8(error: UnicodeDecodeError, call: Call) -> Answer:
    return _field_error("body", "is not valid JSON")


def _invalid_field(error: InvalidField, call: Call) -> Answer:
    return _field_error(error.field, error.message)


def _too_many_subscriptions(error: TooManySubscriptions, call: Call) -> Answer:
    return json_answer(HTTPStatus.CONFLICT, {"error": str(error)})


def _malformed_passcode(error: MalformedPasscode, call: Call) -> Answer:
    return json_answer(
        HTTPStatus.BAD_REQUEST, {"granted": False, "error": "otp must be exactly 6 digits", "field": "otp"}
    )


def _payload_too_large(error: PayloadTooLarge, call: Call) -> Answer:
    return json_answer(
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": f"request body must be at most {MAX_BODY_BYTES} bytes"}
    )


def _not_json(error: NotJson, call: Call) -> Answer:
    return json_answer(
        HTTPStatus.UNSUPPORTED_MEDIA_TYPE, {"error": "send the body as Content-Type: application/json"}
    )


def _not_found(error: Exception, call: Call) -> Answer:
    return json_answer(HTTPStatus.NOT_FOUND, {"error": "not found"})


def _already_decided(error: ApprovalAlreadyDecided, call: Call) -> Answer:
    # Showing a decided request: it is gone (410). Deciding it again: a conflict (409).
    status = HTTPStatus.GONE if call.method == "GET" else HTTPStatus.CONFLICT
    return json_answer(status, _refusal_body(error))


def _expired(
    error: ApprovalExpired, call: Call
) -> Answer:  # TaskTokenRejected too: the workflow stopped waiting
    return json_answer(HTTPStatus.GONE, _refusal_body(error))


def _not_ready(error: ApprovalNotReady, call: Call) -> Answer:
    return json_answer(
        HTTPStatus.CONFLICT,
        {"error": "this request is not waiting for a decision yet", "status": "PENDING"},
        headers={"Retry-After": str(RETRY_AFTER_TRANSIENT_SECONDS)},
    )


def _wrong_passcode(error: WrongPasscode, call: Call) -> Answer:
    log_counts("Wrong passcode", {"WrongPasscodes": 1})
    return json_answer(
        HTTPStatus.FORBIDDEN, {"granted": False, "error": "wrong, expired or already used code"}
    )


def _locked_out(error: DoorLockedOut, call: Call) -> Answer:
    log_counts("Locked out", {"LockedOutTries": 1}, door_wide=error.door_wide)
    wait = max(1, math.ceil((error.retry_at - call.adapters.now).total_seconds()))
    where = "at this door" if error.door_wide else "from this address"
    return json_answer(
        HTTPStatus.TOO_MANY_REQUESTS,
        {
            "granted": False,
            "error": f"too many wrong codes {where}",
            "retryAt": iso_utc(error.retry_at),
            "retryAfterSeconds": wait,
        },
        headers={"Retry-After": str(wait)},
    )


def _already_open(error: DoorAlreadyOpen, call: Call) -> Answer:
    return json_answer(
        HTTPStatus.CONFLICT,
        {"granted": False, "alreadyOpen": True, "error": "this code opened the door moments ago"},
    )


def _ring_not_delivered(error: RingNotDelivered, call: Call) -> Answer:
    logger.warning("Doorbell event refused by EventBridge")
    return json_answer(
        HTTPStatus.SERVICE_UNAVAILABLE,
        {"error": "the doorbell could not be rung, try again"},
        headers={"Retry-After": str(RETRY_AFTER_TRANSIENT_SECONDS)},
    )


def _transient(error: TransientError, call: Call) -> Answer:
    logger.warning("Transient failure", extra={"error": type(error).__name__})
    return json_answer(
        HTTPStatus.SERVICE_UNAVAILABLE,
        {"error": "temporarily unavailable, try again"},
        headers={"Retry-After": str(RETRY_AFTER_TRANSIENT_SECONDS)},
    )


def _unexpected(error: Exception, call: Call) -> Answer:
    logger.exception("Unhandled error")
    return json_answer(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal error"})


ANSWERS: dict[type, Callable[[Any, Call], Answer]] = {
    BadRequest: _bad_request,
    InvalidBody: _invalid_body,
    binascii.Error: _not_base64,
    UnicodeDecodeError: _not_utf8,
    InvalidField: _invalid_field,  # InvalidApprovalInput, InvalidPushSubscription
    TooManySubscriptions: _too_many_subscriptions,
    MalformedPasscode: _malformed_passcode,
    PayloadTooLarge: _payload_too_large,
    ApprovalNotFound: _not_found,
    UnknownDoor: _not_found,
    UnknownCommand: _not_found,
    NotFound: _not_found,
    NotJson: _not_json,
    ApprovalAlreadyDecided: _already_decided,
    ApprovalExpired: _expired,
    ApprovalNotReady: _not_ready,
    WrongPasscode: _wrong_passcode,
    DoorLockedOut: _locked_out,
    DoorAlreadyOpen: _already_open,
    RingNotDelivered: _ring_not_delivered,
    TransientError: _transient,
    Exception: _unexpected,
}
