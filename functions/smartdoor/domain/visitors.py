"""A known visitor: the model behind the Visitors table (no boto3, so domain code may import it)."""

from __future__ import annotations

from typing import Annotated

from smartdoor.domain.phones import is_e164
from smartdoor.models import WireModel
from smartdoor.schema import Meta


class Visitor(WireModel, kw_only=True):
    """A known visitor. Stored camelCase, exactly as `to_wire()` renders it.

    The phone number is left out of repr/str so a logged model cannot leak it.
    """

    __hidden__ = frozenset({"phone"})

    visitor_id: Annotated[str, Meta(min_length=1, max_length=128, pattern="^[A-Za-z0-9_.:\\-]+$")]
    name: Annotated[str, Meta(min_length=1, max_length=100)]
    phone: str
    face_ids: tuple[str, ...] = ()
    photo_keys: tuple[str, ...] = ()
    created_at: str  # ISO-8601 UTC
    approval_id: str | None = None
    door_id: str | None = None

    def __post_init__(self) -> None:
        if not is_e164(self.phone):
            raise ValueError("phone must be in E.164 form, e.g. +15551234567")
        if not self.name.strip():
            raise ValueError("name must not be blank")
