"""A known visitor: the model behind the Visitors table (no boto3, so domain code may import it)."""

from __future__ import annotations

from pydantic import Field, field_validator

from smartdoor.domain.phones import is_e164
from smartdoor.models import WireModel


class Visitor(WireModel):
    """A known visitor. Stored camelCase, exactly as `to_wire()` renders it.

    The phone number is left out of repr/str so a logged model cannot leak it.
    """

    visitor_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")
    name: str = Field(min_length=1, max_length=100)
    phone: str = Field(repr=False)
    face_ids: tuple[str, ...] = ()
    photo_keys: tuple[str, ...] = ()
    created_at: str  # ISO-8601 UTC
    approval_id: str | None = None
    door_id: str | None = None

    @field_validator("phone")
    @classmethod
    def _phone_is_e164(cls, value: str) -> str:
        if not is_e164(value):
            raise ValueError("phone must be in E.164 form, e.g. +15551234567")
        return value

    @field_validator("name")
    @classmethod
    def _name_is_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("name must not be blank")
        return value
