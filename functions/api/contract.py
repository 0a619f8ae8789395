"""The HTTP API's request and answer shapes.

Request models are what the router validates a body against before a route runs (api.router);
answer models only document (the routes build their answers). Together they are the OpenAPI
document `docs/openapi.json` (`python -m api.openapi`). Field rules that need more than one
field (a name and phone to approve) stay in the domain, which names the field.
"""

from __future__ import annotations

from typing import Annotated, Literal

from api.router import Documented
from smartdoor.domain.approvals import MAX_NAME_LENGTH
from smartdoor.schema import Meta, Model

E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"
OTP_PATTERN = r"^[0-9]{6}$"
LINK_KEY_PATTERN = r"^[A-Za-z0-9_-]{22}$"


class _Wire(Model, rename="camel"):
    """An answer whose fields are camelCase on the wire."""


# ---------------------------------------------------------------------------- requests


class DecisionRequest(Model):
    """The owner's decision. To approve, `name` and `phone` are required (checked by the domain)."""

    decision: Literal["approve", "deny"]
    name: (
        Annotated[
            str,
            Meta(
                description=(
                    f"the visitor's name, 1-{MAX_NAME_LENGTH} printable characters "
                    "(surrounding spaces dropped)"
                ),
                examples=["Ada Lovelace"],
            ),
        ]
        | None
    ) = None
    phone: (
        Annotated[
            str,
            Meta(
                description="the visitor's mobile number, E.164 (+, country code, number, no spaces)",
                examples=["+447700900123"],
            ),
        ]
        | None
    ) = None


class UnlockRequest(Model):
    otp: Annotated[
        str, Meta(pattern=OTP_PATTERN, description="the 6-digit passcode from the SMS", examples=["123456"])
    ]
    key: (
        Annotated[
            str,
            Meta(
                pattern=LINK_KEY_PATTERN,
                description=(
                    "the key from the SMS's one-tap link (its #key=): with it the code opens the door "
                    "even while the keypad refuses typed codes"
                ),
            ),
        ]
        | None
    ) = None


# ---------------------------------------------------------------------------- answers


class ErrorAnswer(Model):
    error: str
    field: Annotated[str, Meta(description="the field that is wrong (400 only)")] | None = None


class ApprovalShown(_Wire):
    approval_id: str
    status: Literal["PENDING"]
    door_id: str
    seen_at: str
    expires_at: str
    now: Annotated[str, Meta(description="the server's clock, for the page's countdown")]
    photo_url: Annotated[str, Meta(description="presigned GET of the face crop, valid at most 5 minutes")]
    frame_url: Annotated[str, Meta(description="presigned GET of the whole frame, valid at most 5 minutes")]
    photo_url_expires_at: str


class ApprovalDecided(_Wire):
    approval_id: str
    decision: Literal["approve", "deny"]
    status: Literal["APPROVED", "DENIED"]
    decided_at: str


class ApprovalRefused(_Wire):
    """Why a request cannot be shown or decided (any more), and how it ended."""

    error: str
    status: Literal["DECIDED", "EXPIRED", "PENDING"]
    outcome: (
        Annotated[
            Literal["approved", "denied", "expired"],
            Meta(description="how the request ended (absent while it is PENDING)"),
        ]
        | None
    ) = None
    decided_at: Annotated[str, Meta(description="when it was approved or denied")] | None = None
    expired_at: Annotated[str, Meta(description="when it expired")] | None = None
    visitor: (
        Annotated[str, Meta(description="an approval: the visitor's name, as the owner typed it")] | None
    ) = None


class Unlocked(_Wire):
    granted: Literal[True]
    visitor: str | None
    command_id: Annotated[
        str, Meta(description="the lock's command (uuid4): GET /doors/{doorId}/lock/{commandId}")
    ]
    lock: Annotated[
        Literal["pending", "none"],
        Meta(description="pending: a lock was told, ask its state; none: no lock is configured"),
    ]
    expires_at: Annotated[str, Meta(description="ISO-8601 UTC: the lock ignores the command after this")]


class UnlockRefused(_Wire):
    granted: Literal[False]
    error: str
    already_open: Annotated[bool, Meta(description="409: this code opened the door moments ago")] | None = (
        None
    )
    field: str | None = None
    retry_at: str | None = None
    retry_after_seconds: int | None = None


class LockAnswer(_Wire):
    state: Literal["pending", "unlocked", "locked", "no-answer"]
    updated_at: Annotated[str, Meta(description="ISO-8601 UTC of the last change")]


class Rang(_Wire):
    door_id: str
    accepted: Literal[True]
    ring_at: str


class UploadForm(_Wire):
    method: Literal["POST"]
    url: str
    fields: dict[str, str]
    file_field: str


class SnapshotUploadForm(_Wire):
    door_id: str
    key: str
    upload: UploadForm
    content_type: Literal["image/jpeg"]
    max_bytes: int
    expires_at: str


def answer(description: str, model: type = ErrorAnswer) -> Documented:
    """One entry of a route's `responses`: a description and a JSON body model."""
    return Documented(description, model)
