"""The Visitors table (`visitorId` key): one item per known visitor (`smartdoor.domain.visitors.Visitor`)."""

from __future__ import annotations

from smartdoor.adapters.aws import TableAdapter, transient_errors_as
from smartdoor.domain.visitors import Visitor
from smartdoor.errors import TransientError
from smartdoor.ports import (
    VisitorRepository as VisitorRepository,  # the port this adapter implements (re-exported)
)

__all__ = ["DynamoVisitorStore", "Visitor", "VisitorRepository"]


class DynamoVisitorStore(TableAdapter):
    """`VisitorRepository` on DynamoDB. Pass `table` (a boto3 Table resource) to use a specific one."""

    def get(self, visitor_id: str) -> Visitor | None:
        with transient_errors_as(TransientError):
            item = self._table.get_item(Key={"visitorId": visitor_id}, ConsistentRead=True).get("Item")
        return Visitor.parse(item) if item else None

    def put(self, visitor: Visitor) -> None:
        """Create or overwrite (idempotent, so a retried workflow step writes the same item)."""
        with transient_errors_as(TransientError):
            self._table.put_item(Item=visitor.to_wire())

    def delete(self, visitor_id: str) -> bool:
        """Remove the visitor; True if there was one."""
        with transient_errors_as(TransientError):
            response = self._table.delete_item(Key={"visitorId": visitor_id}, ReturnValues="ALL_OLD")
        return bool(response.get("Attributes"))
