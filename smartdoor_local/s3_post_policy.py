"""S3's browser-upload (presigned POST) policy, enforced in front of moto's S3.

moto stores whatever a multipart POST to a bucket carries; AWS S3 first checks the form against
the policy document it carries and its SigV4 signature. `enforce_post_policy(app, secrets)` is a
WSGI middleware that does those checks for every form POST to a path-style bucket URL, and
answers as S3 does (XML `<Error>`) when one fails; only a form that passes reaches moto:

- `policy` and `x-amz-signature` are present, `x-amz-algorithm` is AWS4-HMAC-SHA256 and the
  signature is HMAC-SHA256 of the policy with the signing key of `x-amz-credential`'s access key
  (`secrets`), date, region and service: else 403 AccessDenied / SignatureDoesNotMatch;
- the policy's `expiration` has not passed: else 403 AccessDenied "Policy expired";
- every condition holds: `{"field": value}` and `["eq", "$field", value]` exactly,
  `["starts-with", "$field", prefix]`, `["content-length-range", min, max]` on the file's size
  (400 EntityTooSmall / EntityTooLarge), `{"bucket": name}` on the URL's bucket;
- every field the form sends is named by a condition (except `policy`, `x-amz-signature`,
  `file` and `x-ignore-*`): else 403 "Extra input fields".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import io
import json
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from werkzeug.formparser import parse_form_data

from smartdoor_local.serving import StartResponse, WsgiApp, status_line

ALGORITHM = "AWS4-HMAC-SHA256"
# The largest form read: S3 takes up to 5 GB, the local stack's forms allow 5 MiB files.
MAX_FORM_BYTES = 16 * 1024 * 1024
_UNCHECKED_FIELDS = {"policy", "x-amz-signature", "file"}


class PolicyRefusal(Exception):
    """What S3 answers instead of storing the upload."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _denied(message: str) -> PolicyRefusal:
    return PolicyRefusal(403, "AccessDenied", message)


def _invalid(message: str) -> PolicyRefusal:
    return _denied(f"Invalid according to Policy: {message}")


# ---------------------------------------------------------------------------- the signature


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def check_signature(fields: Mapping[str, str], secrets: Mapping[str, str]) -> None:
    if "policy" not in fields or "x-amz-signature" not in fields:
        raise _denied("Bucket POST must contain a policy and an x-amz-signature field")
    if fields.get("x-amz-algorithm") != ALGORITHM:
        raise PolicyRefusal(400, "InvalidArgument", f"x-amz-algorithm must be {ALGORITHM}")
    scope = fields.get("x-amz-credential", "").split("/")
    if len(scope) != 5 or scope[4] != "aws4_request" or scope[0] not in secrets:
        raise PolicyRefusal(403, "InvalidAccessKeyId", "The access key in x-amz-credential is not known")
    access_key, date, region, service, _ = scope
    key = signing_key(secrets[access_key], date, region, service)
    expected = hmac.new(key, fields["policy"].encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, fields["x-amz-signature"].lower()):
        raise PolicyRefusal(
            403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature"
        )


# ---------------------------------------------------------------------------- the policy document


def decode_policy(encoded: str) -> dict[str, Any]:
    try:
        policy = json.loads(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError):
        raise _invalid("Policy could not be decoded") from None
    if not isinstance(policy, dict) or not isinstance(policy.get("conditions"), list):
        raise _invalid("Policy has no conditions")
    return policy


def check_expiration(policy: Mapping[str, Any], now: float) -> None:
    try:
        expires = datetime.fromisoformat(str(policy["expiration"]).replace("Z", "+00:00")).timestamp()
    except (KeyError, ValueError):
        raise _invalid("Policy has no valid expiration") from None
    if now > expires:
        raise _invalid("Policy expired.")


def _as_condition(condition: Any) -> tuple[str, str, Any, Any]:
    """(operator, field, operand, second operand), field names lower-case without the `$`."""
    if isinstance(condition, dict) and len(condition) == 1:
        ((name, value),) = condition.items()
        return "eq", str(name).lower(), value, None
    if isinstance(condition, list) and len(condition) == 3:
        operator, name, value = condition
        if str(operator).lower() == "content-length-range":
            return "content-length-range", "", name, value
        if str(operator).lower() in {"eq", "starts-with"} and str(name).startswith("$"):
            return str(operator).lower(), str(name)[1:].lower(), value, None
    raise _invalid(f"Policy condition not understood: {json.dumps(condition)}")


def check_conditions(conditions: Iterable[Any], fields: Mapping[str, str], file_size: int) -> None:
    named: set[str] = set()
    for condition in conditions:
        operator, name, operand, second = _as_condition(condition)
        if operator == "content-length-range":
            _check_size(file_size, int(operand), int(second))
            continue
        named.add(name)
        value = fields.get(name, "")
        held = value == str(operand) if operator == "eq" else value.startswith(str(operand))
        if not held:
            raise _invalid(f"Policy Condition failed: {json.dumps(condition)}")
    extra = sorted(
        name
        for name in fields
        if name not in named | _UNCHECKED_FIELDS | {"bucket"} and not name.startswith("x-ignore-")
    )
    if extra:
        raise _invalid(f"Extra input fields: {', '.join(extra)}")


def _check_size(size: int, smallest: int, largest: int) -> None:
    if size < smallest:
        raise PolicyRefusal(
            400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size"
        )
    if size > largest:
        raise PolicyRefusal(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")


def check_form(
    bucket: str, fields: Mapping[str, str], file_size: int, secrets: Mapping[str, str], now: float
) -> None:
    """Raise PolicyRefusal unless S3 would store this upload."""
    check_signature(fields, secrets)
    policy = decode_policy(fields["policy"])
    check_expiration(policy, now)
    check_conditions(policy["conditions"], {**fields, "bucket": bucket}, file_size)


# ---------------------------------------------------------------------------- the middleware


def _error_answer(start_response: StartResponse, refusal: PolicyRefusal) -> list[bytes]:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{refusal.code}</Code><Message>{escape(refusal.message)}</Message>"
        "<RequestId>local</RequestId></Error>"
    ).encode()
    start_response(
        status_line(refusal.status), [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))]
    )
    return [body]


def _is_form_post(environ: Mapping[str, Any]) -> bool:
    segments = str(environ.get("PATH_INFO", "")).strip("/").split("/")
    return (
        environ.get("REQUEST_METHOD") == "POST"
        and str(environ.get("CONTENT_TYPE", "")).lower().startswith("multipart/form-data")
        and len(segments) == 1
        and bool(segments[0])
    )


def _read_form(environ: dict[str, Any]) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or -1)
    except ValueError:
        length = -1
    if length < 0:
        raise PolicyRefusal(411, "MissingContentLength", "You must provide the Content-Length HTTP header.")
    if length > MAX_FORM_BYTES:
        raise PolicyRefusal(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
    return bytes(environ["wsgi.input"].read(length))


def _form_fields(environ: Mapping[str, Any], body: bytes) -> tuple[dict[str, str], int]:
    """The form's fields (names lower-case, first value) and the size of its file."""
    parse_environ = {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
    _, form, files = parse_form_data(parse_environ, max_content_length=MAX_FORM_BYTES)
    if "file" not in files:
        for file in files.values():
            file.close()
        raise PolicyRefusal(400, "InvalidArgument", "POST requires exactly one file upload per request.")
    fields: dict[str, str] = {}
    for name, value in form.items(multi=True):
        fields.setdefault(name.lower(), value)
    size = len(files["file"].read())
    for file in files.values():
        file.close()
    return fields, size


def enforce_post_policy(
    app: WsgiApp, secrets: Mapping[str, str], clock: Callable[[], float] = time.time
) -> WsgiApp:
    """`app` (moto) behind S3's checks of browser-upload forms; `secrets`: access key -> secret key."""

    def checked(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if not _is_form_post(environ):
            return app(environ, start_response)
        try:
            body = _read_form(environ)
            fields, file_size = _form_fields(environ, body)
            check_form(str(environ["PATH_INFO"]).strip("/"), fields, file_size, secrets, clock())
        except PolicyRefusal as refusal:
            return _error_answer(start_response, refusal)
        environ["wsgi.input"] = io.BytesIO(body)
        return app(environ, start_response)

    return checked
