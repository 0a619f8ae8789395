"""SMS budgets on the Passcodes table: one counter item per scope and hour.

Items (docs/internals.md): `SMS#visitor#<visitorId>` / `HOUR#<window start>` and
`SMS#door#<doorId>` / `HOUR#<window start>`, each `{sent, expiresAt}` (`expiresAt`, the table's
TTL attribute, an hour after the window ends; a visitor's also `visitorId`, as every item that
names a visitor has, so that `visitors forget` erases it). One text is one TransactWriteItems of conditional
ADDs: every counter goes up by one, or (a counter already at its limit) none does.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from smartdoor.adapters.aws import TableAdapter, transient_errors_as
from smartdoor.domain.sms_budget import (
    SMS_BUDGET_KEY_PREFIX,
    VISITOR,
    WINDOW_SECONDS,
    SmsBudget,
    SmsLimits,
    SmsScope,
    SmsWindow,
)
from smartdoor.errors import TransientError

_TRANSIENT_CANCELLATIONS = frozenset(
    {"ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded", "TransactionConflict"}
)


def sms_budget_key(scope: SmsScope, window: SmsWindow) -> dict[str, str]:
    return {"pk": f"{SMS_BUDGET_KEY_PREFIX}{scope.kind}#{scope.owner_id}", "sk": f"HOUR#{window.start}"}


def sms_budget(table_name: str, limits: SmsLimits) -> SmsBudget:
    """The production budget: counters in `table_name`, the wall clock."""
    return SmsBudget(DynamoSmsAllowance(table_name), time.time, limits)


class DynamoSmsAllowance(TableAdapter):
    """`SmsAllowance` on DynamoDB (the Passcodes table)."""

    def take(self, scopes: Sequence[SmsScope], window: SmsWindow) -> SmsScope | None:
        table = self._table
        items = [{"Update": self._count(table.name, scope, window)} for scope in scopes]
        try:
            with transient_errors_as(TransientError):
                table.meta.client.transact_write_items(TransactItems=items)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = [str(r.get("Code", "None")) for r in error.response.get("CancellationReasons", [])]
            return self._spent(scopes, reasons, error)
        return None

    @staticmethod
    def _count(table_name: str, scope: SmsScope, window: SmsWindow) -> dict[str, Any]:
        values: dict[str, Any] = {":one": 1, ":limit": scope.limit, ":expires": window.end + WINDOW_SECONDS}
        update = "ADD sent :one SET expiresAt = :expires"
        if scope.kind == VISITOR:
            # Like every item that names a visitor, it says so: `visitors forget` finds it by this.
            update += ", visitorId = :visitor"
            values[":visitor"] = scope.owner_id
        return {
            "TableName": table_name,
            "Key": sms_budget_key(scope, window),
            "UpdateExpression": update,
            "ConditionExpression": "attribute_not_exists(sent) OR sent < :limit",
            "ExpressionAttributeValues": values,
        }

    @staticmethod
    def _spent(scopes: Sequence[SmsScope], reasons: list[str], error: ClientError) -> SmsScope:
        if any(reason in _TRANSIENT_CANCELLATIONS for reason in reasons):
            # Two texts counted at the same moment: the ASL (or the caller) retries.
            raise TransientError("SMS budget busy") from error
        for scope, reason in zip(scopes, reasons, strict=False):
            if reason == "ConditionalCheckFailed":
                return scope
        raise error
