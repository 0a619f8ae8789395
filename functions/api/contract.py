"""The HTTP API's request and answer shapes, as pydantic models.

Request models are what Powertools validates a body against (`enable_validation=True`) before
a route runs; answer models only document (the routes build their answers). Together they are
the OpenAPI document `docs/openapi.json` (`python -m api.openapi`). Field rules that need more
than one field (a name and phone to approve) stay in the domain, which names the field.
"""

from __future__ import annotations

from typing import Literal

from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel, ConfigDict, Field

from smartdoor.domain.approvals import MAX_NAME_LENGTH

E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"
OTP_PATTERN = r"^[0-9]{6}$"


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class _Wire(BaseModel):
    model_config = ConfigDict(alias_generator=_camel, populate_by_name=True)


# ---------------------------------------------------------------------------- requests


class DecisionRequest(BaseModel):
    """The owner's decision. To approve, `name` and `phone` are required (checked by the domain)."""

    decision: Literal["approve", "deny"]
    name: str | None = Field(
        None,
        description=(
            f"the visitor's name, 1-{MAX_NAME_LENGTH} printable characters (surrounding spaces dropped)"
        ),
        examples=["Ada Lovelace"],
    )
    phone: str | None = Field(
        None,
        description="the visitor's mobile number, E.164 (+, country code, number, no spaces)",
        examples=["+447700900123"],
    )


class UnlockRequest(BaseModel):
    otp: str = Field(
        pattern=OTP_PATTERN, description="the 6-digit passcode from the SMS", examples=["123456"]
    )


# ---------------------------------------------------------------------------- answers


class ErrorAnswer(BaseModel):
    error: str
    field: str | None = Field(None, description="the field that is wrong (400 only)")


class ApprovalShown(_Wire):
    approval_id: str
    status: Literal["PENDING"]
    door_id: str
    seen_at: str
    expires_at: str
    now: str = Field(description="the server's clock, for the page's countdown")
    photo_url: str = Field(description="presigned GET of the face crop, valid at most 5 minutes")
    frame_url: str = Field(description="presigned GET of the whole frame, valid at most 5 minutes")
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
    outcome: Literal["approved", "denied", "expired"] | None = Field(
        None, description="how the request ended (absent while it is PENDING)"
    )
    decided_at: str | None = Field(None, description="when it was approved or denied")
    expired_at: str | None = Field(None, description="when it expired")
    visitor: str | None = Field(None, description="an approval: the visitor's name, as the owner typed it")


class Unlocked(BaseModel):
    granted: Literal[True]
    visitor: str | None


class UnlockRefused(BaseModel):
    granted: Literal[False]
    error: str
    field: str | None = None
    retry_at: str | None = Field(None, alias="retryAt")
    retry_after_seconds: int | None = Field(None, alias="retryAfterSeconds")


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


def answer(description: str, model: type[BaseModel] = ErrorAnswer) -> OpenAPIResponse:
    """One entry of a route's `responses`: a description and a JSON body model."""
    return {"description": description, "content": {"application/json": {"model": model}}}
