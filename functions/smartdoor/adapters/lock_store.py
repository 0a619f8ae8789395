"""The lock-states table (`commandId` key): what became of each unlock command.

Items: `{commandId, doorId, visitId, via: iot|webhook, state, updatedAt, expiresAt}`
(`expiresAt`: the TTL, epoch seconds, a day on). The unlock API records a command `pending`
before DoorUnlocked goes on the bus (so the door page never asks for an id the table does not
have yet); the workflow claims it and writes `unlocked` (webhook 2xx) or `no-answer` itself
(DynamoDB service integrations); the device's reports land through `record_report`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from smartdoor.adapters.aws import TableAdapter, transient_errors_as
from smartdoor.domain.lock import STATE_RETENTION_SECONDS, LockState, iso_z
from smartdoor.errors import TransientError


class DynamoLockStates(TableAdapter):
    def record_pending(
        self, *, command_id: str, door_id: str, visit_id: str, via: str, now: datetime
    ) -> None:
        """A new command, not yet answered (a fresh uuid4: a put cannot overwrite another's)."""
        with transient_errors_as(TransientError):
            self._table.put_item(
                Item={
                    "commandId": command_id,
                    "doorId": door_id,
                    "visitId": visit_id,
                    "via": via,
                    "state": LockState.PENDING.value,
                    "updatedAt": iso_z(now),
                    "expiresAt": int(now.timestamp()) + STATE_RETENTION_SECONDS,
                },
                ConditionExpression="attribute_not_exists(commandId)",
            )

    def record_report(self, *, command_id: str, door_id: str, state: str, at: str) -> bool:
        """Set the state the door's device reported for one of its commands; False (and nothing
        written) when the table has no such command for that door."""
        from botocore.exceptions import ClientError

        try:
            with transient_errors_as(TransientError):
                self._table.update_item(
                    Key={"commandId": command_id},
                    UpdateExpression="SET #state = :state, updatedAt = :at",
                    ConditionExpression="attribute_exists(commandId) AND doorId = :door",
                    ExpressionAttributeNames={"#state": "state"},
                    ExpressionAttributeValues={":state": state, ":at": at, ":door": door_id},
                )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def get(self, command_id: str) -> dict[str, Any] | None:
        """`{state, updatedAt}` of a command, or None for an id the table does not have."""
        with transient_errors_as(TransientError):
            item = self._table.get_item(
                Key={"commandId": command_id},
                ConsistentRead=True,
                ProjectionExpression="#state, updatedAt, doorId",
                ExpressionAttributeNames={"#state": "state"},
            ).get("Item")
        if not item:
            return None
        return {
            "state": str(item["state"]),
            "updatedAt": str(item["updatedAt"]),
            "doorId": str(item["doorId"]),
        }
