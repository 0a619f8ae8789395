"""The Approvals table: one item per approval request, keyed by `approvalId`.

The key attribute holds the approval's reference (Approval.approval_ref), not the owner's
credential: the link's MAC is never stored. (The attribute keeps its first name because
renaming a DynamoDB key replaces the table.)

Every state change is a single conditional UpdateItem. When the condition fails, DynamoDB hands
back the item as it was (ReturnValuesOnConditionCheckFailure), so the domain can tell "unknown"
from "already decided" from "expired" without a second read that could race.

Item attributes (docs/internals.md): approvalId, status, visitId, doorId, photo {bucket,
frameKey, faceKey}, seenAt, createdAt, expiresAt (epoch seconds, the table's TTL attribute),
expiresAtIso, and as the request moves on: taskToken, executionName, tokenAttachedAt,
smsSentAt, pushSentAt, emailSentAt, visitorName, visitorPhone, decidedAt, expiredAt.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from smartdoor.adapters.aws import TableAdapter, transient_errors_as
from smartdoor.adapters.conditional_writes import is_condition_failure
from smartdoor.domain.approvals import Approval, ApprovalStatus, Channel, ConditionNotMet
from smartdoor.domain.approvals import iso_z as iso
from smartdoor.errors import TransientError
from smartdoor.models import VisitPhoto

_DESERIALIZER = TypeDeserializer()
_NOTIFIED_ATTRIBUTE: dict[str, str] = {"sms": "smsSentAt", "email": "emailSentAt", "push": "pushSentAt"}
# `status` is a DynamoDB reserved word.
_NAMES = {"#status": "status"}
# Times are stored as `iso()` strings; decidedAt is also compared in conditions, so the form is fixed.


def _parse_time(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value)) if value else None


def _epoch(value: datetime) -> Decimal:
    return Decimal(str(value.timestamp()))


def to_item(approval: Approval) -> dict[str, Any]:
    item: dict[str, Any] = {
        "approvalId": approval.approval_ref,
        "status": approval.status.value,
        "visitId": approval.visit_id,
        "doorId": approval.door_id,
        "photo": approval.photo.to_wire(),
        "seenAt": iso(approval.seen_at),
        "createdAt": iso(approval.created_at),
        "expiresAt": int(approval.expires_at.timestamp()),
        "expiresAtIso": iso(approval.expires_at),
        "taskToken": approval.task_token,
        "executionName": approval.execution_name,
        "smsSentAt": iso(approval.sms_sent_at) if approval.sms_sent_at else None,
        "pushSentAt": iso(approval.push_sent_at) if approval.push_sent_at else None,
        "emailSentAt": iso(approval.email_sent_at) if approval.email_sent_at else None,
        "visitorName": approval.visitor_name,
        "visitorPhone": approval.visitor_phone,
        "decidedAt": iso(approval.decided_at) if approval.decided_at else None,
        "expiredAt": iso(approval.expired_at) if approval.expired_at else None,
    }
    return {name: value for name, value in item.items() if value is not None}


def from_item(item: dict[str, Any]) -> Approval:
    expires_at = datetime.fromtimestamp(int(item["expiresAt"]), UTC)
    return Approval(
        approval_ref=str(item["approvalId"]),
        status=ApprovalStatus(item["status"]),
        visit_id=str(item["visitId"]),
        door_id=str(item["doorId"]),
        photo=VisitPhoto.parse(item["photo"]),
        seen_at=datetime.fromisoformat(str(item["seenAt"])),
        created_at=datetime.fromisoformat(str(item["createdAt"])),
        expires_at=expires_at,
        task_token=item.get("taskToken"),
        execution_name=item.get("executionName"),
        sms_sent_at=_parse_time(item.get("smsSentAt")),
        push_sent_at=_parse_time(item.get("pushSentAt")),
        email_sent_at=_parse_time(item.get("emailSentAt")),
        visitor_name=item.get("visitorName"),
        visitor_phone=item.get("visitorPhone"),
        decided_at=_parse_time(item.get("decidedAt")),
        expired_at=_parse_time(item.get("expiredAt")),
    )


def _old_item(error: ClientError) -> Approval | None:
    """The item as it was when the condition failed (low-level attribute values), or None if absent."""
    raw: dict[str, Any] | None = error.response.get("Item")  # type: ignore[assignment]
    if not raw:
        return None
    return from_item({name: _DESERIALIZER.deserialize(value) for name, value in raw.items()})


class DynamoApprovalStore(TableAdapter):
    """ApprovalRepository on DynamoDB (the Approvals table)."""

    def __init__(self, table_name: str, table: Any | None = None) -> None:
        if not table_name and table is None:
            raise ValueError("an approvals table name is required")
        super().__init__(table_name, table)

    def add(self, approval: Approval) -> None:
        try:
            with transient_errors_as(TransientError):
                self._table.put_item(
                    Item=to_item(approval),
                    ConditionExpression="attribute_not_exists(approvalId)",
                )
        except ClientError as error:
            if is_condition_failure(error):
                # 128 random bits do not collide; if this fires, the id source is broken.
                raise RuntimeError("approvalRef already exists: the ref generator is not random") from error
            raise

    def get(self, approval_ref: str) -> Approval | None:
        with transient_errors_as(TransientError):
            response = self._table.get_item(Key={"approvalId": approval_ref}, ConsistentRead=True)
        item = response.get("Item")
        return from_item(item) if item else None

    def delete(self, approval_ref: str) -> bool:
        """Remove the request and everything on it (`smartdoor visitors forget`); False if absent."""
        with transient_errors_as(TransientError):
            response = self._table.delete_item(Key={"approvalId": approval_ref}, ReturnValues="ALL_OLD")
        return bool(response.get("Attributes"))

    def _update(self, approval_ref: str, **request: Any) -> Approval:
        """One conditional UpdateItem returning the new item; ConditionNotMet carries the old one."""
        try:
            with transient_errors_as(TransientError):
                response = self._table.update_item(
                    Key={"approvalId": approval_ref},
                    ReturnValues="ALL_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                    **request,
                )
        except ClientError as error:
            if is_condition_failure(error):
                raise ConditionNotMet(_old_item(error)) from None
            raise
        return from_item(response["Attributes"])

    def attach_task_token(
        self, approval_ref: str, task_token: str, execution_name: str, now: datetime
    ) -> Approval:
        return self._update(
            approval_ref,
            UpdateExpression="SET taskToken = :token, executionName = :execution, tokenAttachedAt = :now_iso",
            ConditionExpression="#status = :pending AND expiresAt > :now",
            ExpressionAttributeNames=_NAMES,
            ExpressionAttributeValues={
                ":token": task_token,
                ":execution": execution_name,
                ":now_iso": iso(now),
                ":pending": ApprovalStatus.PENDING.value,
                ":now": _epoch(now),
            },
        )

    def mark_notified(self, approval_ref: str, channel: Channel, at: datetime) -> None:
        attribute = _NOTIFIED_ATTRIBUTE[channel]
        self._update(
            approval_ref,
            UpdateExpression=f"SET {attribute} = if_not_exists({attribute}, :at)",
            ConditionExpression="attribute_exists(approvalId)",
            ExpressionAttributeValues={":at": iso(at)},
        )

    def record_decision(
        self,
        approval_ref: str,
        status: ApprovalStatus,
        visitor_name: str | None,
        visitor_phone: str | None,
        now: datetime,
    ) -> Approval:
        if status not in (ApprovalStatus.APPROVED, ApprovalStatus.DENIED):
            raise ValueError(f"a decision is APPROVED or DENIED, not {status}")
        assignments = ["#status = :status", "decidedAt = :now_iso"]
        values: dict[str, Any] = {
            ":status": status.value,
            ":now_iso": iso(now),
            ":pending": ApprovalStatus.PENDING.value,
            ":now": _epoch(now),
        }
        if visitor_name is not None and visitor_phone is not None:
            assignments += ["visitorName = :name", "visitorPhone = :phone"]
            values |= {":name": visitor_name, ":phone": visitor_phone}
        return self._update(
            approval_ref,
            UpdateExpression="SET " + ", ".join(assignments),
            ConditionExpression="#status = :pending AND expiresAt > :now AND attribute_exists(taskToken)",
            ExpressionAttributeNames=_NAMES,
            ExpressionAttributeValues=values,
        )

    def expire(
        self,
        approval_ref: str,
        now: datetime,
        from_status: ApprovalStatus = ApprovalStatus.PENDING,
        decided_at: datetime | None = None,
    ) -> Approval:
        condition = "#status = :from"
        values: dict[str, Any] = {
            ":from": from_status.value,
            ":expired": ApprovalStatus.EXPIRED.value,
            ":now_iso": iso(now),
        }
        if decided_at is not None:
            condition += " AND decidedAt = :decided_at"
            values[":decided_at"] = iso(decided_at)
        return self._update(
            approval_ref,
            UpdateExpression=(
                "SET #status = :expired, expiredAt = :now_iso REMOVE visitorName, visitorPhone, taskToken"
            ),
            ConditionExpression=condition,
            ExpressionAttributeNames=_NAMES,
            ExpressionAttributeValues=values,
        )

    def reopen(self, approval_ref: str, from_status: ApprovalStatus, decided_at: datetime) -> Approval:
        return self._update(
            approval_ref,
            UpdateExpression="SET #status = :pending REMOVE decidedAt, visitorName, visitorPhone",
            ConditionExpression="#status = :from AND decidedAt = :decided_at",
            ExpressionAttributeNames=_NAMES,
            ExpressionAttributeValues={
                ":pending": ApprovalStatus.PENDING.value,
                ":from": from_status.value,
                ":decided_at": iso(decided_at),
            },
        )
