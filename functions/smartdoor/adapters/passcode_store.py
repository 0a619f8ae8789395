"""The Passcodes table: code hashes, each visitor's current code, each door's failed tries.

Items (docs/internals.md):
- `CODE#<doorId>#<hmac>` / `CODE`: a live code (visitorId, doorId, visitId, issuedAt, expiresAt,
  linkHash: the HMAC of its one-tap link's key; usedAt once it opened the door);
- `VISITOR#<doorId>#<visitorId>` / `CURRENT`: codeHash of the visitor's latest code, so issuing a
  new one can delete the old one in the same transaction;
- `DOOR#<doorId>` / `FAILURES`: the door's recent failed tries (epoch seconds), lockedUntil,
  version; `DOOR#<doorId>#address#<ip>` / `FAILURES`: the same for one client address;
- `SMS#...` / `HOUR#...`: the hourly SMS counters (smartdoor.adapters.sms_budget_store).
Every item carries `expiresAt` (epoch seconds, the table's TTL attribute). DynamoDB deletes
lazily, so the domain checks a code's expiry itself.

`forget_visitor` deletes every code item (live, used or expired, at any door) and pointer that
names a visitor. A used code keeps its item until its TTL and only the current one has a key
path (the pointer), so it scans for `visitorId`.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from smartdoor.adapters.aws import TableAdapter, scan_pages, transient_errors_as
from smartdoor.adapters.conditional_writes import conditional_write
from smartdoor.adapters.secrets import SecretsManagerHmacKey
from smartdoor.domain.otp import (
    CodeCollision,
    ConcurrentIssue,
    FailureRecord,
    OtpPolicy,
    PasscodeService,
    StoredCode,
)
from smartdoor.errors import TransientError

_CODE_SK = "CODE"
_POINTER_SK = "CURRENT"
_FAILURES_SK = "FAILURES"
_TRANSIENT_CANCELLATIONS = frozenset(
    {"ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"}
)


def code_key(door_id: str, code_hash: str) -> dict[str, str]:
    return {"pk": f"CODE#{door_id}#{code_hash}", "sk": _CODE_SK}


def pointer_key(door_id: str, visitor_id: str) -> dict[str, str]:
    return {"pk": f"VISITOR#{door_id}#{visitor_id}", "sk": _POINTER_SK}


def failures_key(door_id: str) -> dict[str, str]:
    return {"pk": f"DOOR#{door_id}", "sk": _FAILURES_SK}


def _stored_code(code_hash: str, item: dict[str, Any]) -> StoredCode:
    used_at = item.get("usedAt")
    return StoredCode(
        code_hash=code_hash,
        door_id=str(item["doorId"]),
        visitor_id=str(item["visitorId"]),
        visit_id=str(item["visitId"]),
        issued_at=int(item["issuedAt"]),
        expires_at=int(item["expiresAt"]),
        link_hash=str(item["linkHash"]) if "linkHash" in item else None,
        used_at=float(used_at) if used_at is not None else None,
    )


def _number(value: float) -> Decimal:
    return Decimal(str(value))


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class _PreviousCodeReassigned(Exception):
    """The previous hash now names another visitor's code (ours was used or expired, then reissued)."""


class DynamoPasscodeStore(TableAdapter):
    """`PasscodeStore` on DynamoDB. Pass `table` (a boto3 Table resource) to use a specific one."""

    # -- issuing ----------------------------------------------------------------------------

    def current_code_hash(self, door_id: str, visitor_id: str) -> str | None:
        with transient_errors_as(TransientError):
            item = self._table.get_item(Key=pointer_key(door_id, visitor_id), ConsistentRead=True).get("Item")
        return str(item["codeHash"]) if item else None

    def replace_code(self, code: StoredCode, previous_hash: str | None) -> None:
        try:
            self._write_replacement(code, previous_hash, delete_previous=True)
        except _PreviousCodeReassigned:
            # Our old code is gone already and its hash now belongs to someone else: leave it.
            self._write_replacement(code, previous_hash, delete_previous=False)

    def _write_replacement(self, code: StoredCode, previous_hash: str | None, delete_previous: bool) -> None:
        table_name = self._table.name
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": table_name,
                    "Item": {
                        **code_key(code.door_id, code.code_hash),
                        "doorId": code.door_id,
                        "visitorId": code.visitor_id,
                        "visitId": code.visit_id,
                        "issuedAt": code.issued_at,
                        "expiresAt": code.expires_at,
                        **({"linkHash": code.link_hash} if code.link_hash else {}),
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {"Put": self._pointer_put(table_name, code, previous_hash)},
        ]
        if previous_hash is not None and previous_hash != code.code_hash and delete_previous:
            items.append(
                {
                    "Delete": {
                        "TableName": table_name,
                        "Key": code_key(code.door_id, previous_hash),
                        "ConditionExpression": "attribute_not_exists(pk) OR visitorId = :visitor",
                        "ExpressionAttributeValues": {":visitor": code.visitor_id},
                    }
                }
            )
        try:
            with transient_errors_as(TransientError):
                self._table.meta.client.transact_write_items(TransactItems=items)
        except ClientError as error:
            if _error_code(error) != "TransactionCanceledException":
                raise
            reasons = [str(r.get("Code", "None")) for r in error.response.get("CancellationReasons", [])]
            self._raise_for_cancellation(reasons, error)

    @staticmethod
    def _pointer_put(table_name: str, code: StoredCode, previous_hash: str | None) -> dict[str, Any]:
        put: dict[str, Any] = {
            "TableName": table_name,
            "Item": {
                **pointer_key(code.door_id, code.visitor_id),
                "doorId": code.door_id,
                "visitorId": code.visitor_id,
                "codeHash": code.code_hash,
                "issuedAt": code.issued_at,
                "expiresAt": code.expires_at,
            },
        }
        # Compare-and-swap on the pointer: two concurrent issues for one visitor cannot both win
        # and leave two live codes.
        if previous_hash is None:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put["ConditionExpression"] = "codeHash = :previous"
            put["ExpressionAttributeValues"] = {":previous": previous_hash}
        return put

    @staticmethod
    def _raise_for_cancellation(reasons: list[str], error: ClientError) -> None:
        if any(reason in _TRANSIENT_CANCELLATIONS for reason in reasons):
            raise TransientError("code replacement throttled") from error
        if any(reason == "TransactionConflict" for reason in reasons):
            raise ConcurrentIssue("another request is replacing this visitor's code") from error
        failed = [index for index, reason in enumerate(reasons) if reason == "ConditionalCheckFailed"]
        if 0 in failed:
            raise CodeCollision("a live code at this door has the same hash") from error
        if 1 in failed:
            raise ConcurrentIssue("the visitor's current code changed") from error
        if 2 in failed:
            raise _PreviousCodeReassigned() from error
        raise error

    # -- verifying --------------------------------------------------------------------------

    def peek_code(self, door_id: str, code_hash: str) -> StoredCode | None:
        with transient_errors_as(TransientError):
            item = self._table.get_item(Key=code_key(door_id, code_hash), ConsistentRead=True).get("Item")
        return _stored_code(code_hash, item) if item else None

    def take_code(self, door_id: str, code_hash: str, now: float) -> StoredCode | None:
        # One conditional UpdateItem is atomic: of concurrent ones, exactly one finds no usedAt.
        try:
            with transient_errors_as(TransientError):
                response = self._table.update_item(
                    Key=code_key(door_id, code_hash),
                    UpdateExpression="SET usedAt = :now",
                    ConditionExpression="attribute_exists(pk) AND attribute_not_exists(usedAt)",
                    ExpressionAttributeValues={":now": _number(now)},
                    ReturnValues="ALL_OLD",
                )
        except ClientError as error:
            if _error_code(error) != "ConditionalCheckFailedException":
                raise
            return self.peek_code(door_id, code_hash)  # no such code, or used already
        return _stored_code(code_hash, response["Attributes"])

    def delete_code(self, door_id: str, code_hash: str) -> bool:
        """Remove the code (revoked: `smartdoor visitors forget`); False if there was none."""
        with transient_errors_as(TransientError):
            response = self._table.delete_item(Key=code_key(door_id, code_hash), ReturnValues="ALL_OLD")
        return bool(response.get("Attributes"))

    def forget_visitor(self, visitor_id: str) -> int:
        """Delete every item naming the visitor, codes before pointers; returns how many went."""
        items = list(
            scan_pages(
                self._table,
                FilterExpression="visitorId = :visitor",
                ExpressionAttributeValues={":visitor": visitor_id},
                ProjectionExpression="pk, sk",
            )
        )
        # Codes first: a live code stops opening the door before anything else goes.
        items.sort(key=lambda item: item["sk"] == _POINTER_SK)
        return sum(
            conditional_write(
                self._table.delete_item,
                Key={"pk": item["pk"], "sk": item["sk"]},
                ConditionExpression="visitorId = :visitor",  # a reissued hash may name someone else now
                ExpressionAttributeValues={":visitor": visitor_id},
            )
            for item in items
        )

    def release_code(self, door_id: str, code_hash: str) -> None:
        try:
            with transient_errors_as(TransientError):
                self._table.update_item(
                    Key=code_key(door_id, code_hash),
                    UpdateExpression="REMOVE usedAt",
                    ConditionExpression="attribute_exists(pk)",
                )
        except ClientError as error:
            if _error_code(error) != "ConditionalCheckFailedException":  # replaced meanwhile: nothing to free
                raise

    def load_failures(self, door_id: str) -> FailureRecord:
        with transient_errors_as(TransientError):
            item = self._table.get_item(Key=failures_key(door_id), ConsistentRead=True).get("Item")
        if not item:
            return FailureRecord()
        locked_until = item.get("lockedUntil")
        return FailureRecord(
            failures=tuple(float(t) for t in item.get("failures", [])),
            locked_until=float(locked_until) if locked_until is not None else None,
            version=int(item["version"]),
        )

    def save_failures(self, door_id: str, record: FailureRecord, expected_version: int, ttl: int) -> bool:
        item: dict[str, Any] = {
            **failures_key(door_id),
            "doorId": door_id,
            "failures": [_number(t) for t in record.failures],
            "version": record.version,
            "expiresAt": ttl,
        }
        if record.locked_until is not None:
            item["lockedUntil"] = _number(record.locked_until)
        if expected_version == 0:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            condition = {
                "ConditionExpression": "#version = :expected",
                "ExpressionAttributeNames": {"#version": "version"},
                "ExpressionAttributeValues": {":expected": expected_version},
            }
        try:
            with transient_errors_as(TransientError):
                self._table.put_item(Item=item, **condition)
        except ClientError as error:
            if _error_code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True


def passcode_service(table_name: str, otp_secret_arn: str, policy: OtpPolicy) -> PasscodeService:
    """The deployed PasscodeService: codes in the Passcodes table, the HMAC key from Secrets
    Manager (cached by the key source between invocations), wall-clock time."""
    return PasscodeService(
        store=DynamoPasscodeStore(table_name),
        keys=SecretsManagerHmacKey(otp_secret_arn),
        clock=time.time,
        policy=policy,
    )
