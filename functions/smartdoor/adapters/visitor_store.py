"""The Visitors table (`visitorId` key): one item per known visitor."""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import Field, field_validator

from smartdoor.adapters.aws import dynamodb_table, transient_errors_as
from smartdoor.domain.phones import is_e164
from smartdoor.errors import TransientError
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


class VisitorRepository(Protocol):
    def get(self, visitor_id: str) -> Visitor | None: ...

    def put(self, visitor: Visitor) -> None: ...

    def delete(self, visitor_id: str) -> bool: ...


class DynamoVisitorStore:
    """`VisitorRepository` on DynamoDB. Pass `table` (a boto3 Table resource) to use a specific one."""

    def __init__(self, table_name: str, table: Any | None = None) -> None:
        self._table_name = table_name
        self._explicit_table = table

    @property
    def _table(self) -> Any:
        return self._explicit_table if self._explicit_table is not None else dynamodb_table(self._table_name)

    def get(self, visitor_id: str) -> Visitor | None:
        with transient_errors_as(TransientError):
            item = self._table.get_item(Key={"visitorId": visitor_id}, ConsistentRead=True).get("Item")
        return Visitor.model_validate(item) if item else None

    def put(self, visitor: Visitor) -> None:
        """Create or overwrite (idempotent, so a retried workflow step writes the same item)."""
        with transient_errors_as(TransientError):
            self._table.put_item(Item=visitor.to_wire())

    def delete(self, visitor_id: str) -> bool:
        """Remove the visitor; True if there was one."""
        with transient_errors_as(TransientError):
            response = self._table.delete_item(Key={"visitorId": visitor_id}, ReturnValues="ALL_OLD")
        return bool(response.get("Attributes"))
