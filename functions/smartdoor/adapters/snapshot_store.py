"""Edge-device snapshots in S3 (upload forms, inspection) and their processing log (DynamoDB).

- `S3SnapshotUploads.upload_form(key)`: a presigned POST for exactly that key, accepting only
  `Content-Type: image/jpeg` and 1 byte to `MAX_SNAPSHOT_BYTES` (S3 enforces both, which a
  presigned PUT cannot do for the size), valid `UPLOAD_URL_SECONDS`.
- `S3SnapshotUploads.inspect(bucket, key, max_bytes)`: HeadObject for the size, then only the
  first bytes (a ranged GetObject) when the size is acceptable: an oversized upload is never
  downloaded.
- `DynamoSnapshotLog`: one item per upload in the Visits table, `SNAPSHOT#<s3Key>` /
  `UPLOAD` (docs/internals.md): `status` PROCESSING (with `leaseUntil`), then SEARCHED or
  REJECTED (with `reason`), `doorId`, `size`, `processedAt`, `expiresAt` (TTL).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from smartdoor.adapters.aws import client, dynamodb_table, transient_errors_as
from smartdoor.adapters.conditional_writes import conditional_write
from smartdoor.domain.snapshot_keys import (
    JPEG_CONTENT_TYPE,
    MAX_SNAPSHOT_BYTES,
    UPLOAD_URL_SECONDS,
    UploadedObject,
)
from smartdoor.domain.times import iso_utc
from smartdoor.errors import TransientError
from smartdoor.process_cache import process_cache

if TYPE_CHECKING:
    from smartdoor.domain.snapshots import SnapshotOutcome

# Enough for the JPEG magic bytes and, past a camera's EXIF, the frame header (its size).
HEAD_BYTES = 64 * 1024
LOG_SK = "UPLOAD"
LOG_TTL_SECONDS = 30 * 24 * 3600  # as long as the snapshot itself (photoRetentionDays default)
# A claim older than this belongs to an invocation that died; the retry may take it over.
CLAIM_LEASE_SECONDS = 120
_CLAIMABLE = "attribute_not_exists(pk) OR (#s = :processing AND leaseUntil < :now)"


@process_cache
def _presigning_client() -> Any:
    # SigV4 and virtual-hosted addressing: the regional bucket URL a device can post to.
    return boto3.client("s3", config=Config(signature_version="s3v4", s3={"addressing_style": "virtual"}))


def _code(error: Exception) -> str:
    return str((getattr(error, "response", None) or {}).get("Error", {}).get("Code", ""))


class S3SnapshotUploads:
    def __init__(
        self, bucket: str, s3_client: Any | None = None, presigning_client: Any | None = None
    ) -> None:
        if not bucket:
            raise ValueError("an uploads bucket name is required")
        self._bucket = bucket
        self._s3 = s3_client
        self._presigner = presigning_client

    @property
    def bucket(self) -> str:
        return self._bucket

    @property
    def _client(self) -> Any:
        return self._s3 or client("s3")

    def upload_form(self, key: str, expires_in: int = UPLOAD_URL_SECONDS) -> dict[str, Any]:
        """`{"url", "fields"}`: POST multipart/form-data with these fields, then the file as `file`."""
        form = (self._presigner or _presigning_client()).generate_presigned_post(
            Bucket=self._bucket,
            Key=key,
            Fields={"Content-Type": JPEG_CONTENT_TYPE},
            Conditions=[
                {"Content-Type": JPEG_CONTENT_TYPE},
                ["content-length-range", 1, MAX_SNAPSHOT_BYTES],
            ],
            ExpiresIn=expires_in,
        )
        return {"url": str(form["url"]), "fields": dict(form["fields"])}

    def inspect(self, bucket: str, key: str, max_bytes: int) -> UploadedObject | None:
        try:
            with transient_errors_as(TransientError):
                size = int(self._client.head_object(Bucket=bucket, Key=key)["ContentLength"])
        except Exception as error:
            if _code(error) in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise
        if size <= 0 or size > max_bytes:
            return UploadedObject(size=size, head=b"")
        with transient_errors_as(TransientError):
            response = self._client.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{HEAD_BYTES - 1}")
            head = bytes(response["Body"].read(HEAD_BYTES))
        return UploadedObject(size=size, head=head)


def log_pk(key: str) -> str:
    return f"SNAPSHOT#{key}"


class DynamoSnapshotLog:
    def __init__(
        self, table_name: str, *, table: Any | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self._table_name = table_name
        self._table_override = table
        self._clock = clock

    @property
    def _table(self) -> Any:
        return self._table_override or dynamodb_table(self._table_name)

    def claim(self, key: str, now: float) -> bool:
        return conditional_write(
            self._table.put_item,
            Item={
                "pk": log_pk(key),
                "sk": LOG_SK,
                "s3Key": key,
                "status": "PROCESSING",
                "leaseUntil": Decimal(str(round(now + CLAIM_LEASE_SECONDS, 3))),
                "receivedAt": iso_utc(now),
                "expiresAt": int(now) + LOG_TTL_SECONDS,
            },
            ConditionExpression=_CLAIMABLE,
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":processing": "PROCESSING", ":now": Decimal(str(round(now, 3)))},
        )

    def release(self, key: str) -> None:
        # Not PROCESSING any more (finished, or taken over): nothing to give back.
        conditional_write(
            self._table.delete_item,
            Key={"pk": log_pk(key), "sk": LOG_SK},
            ConditionExpression="#s = :processing",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":processing": "PROCESSING"},
        )

    def finish(self, outcome: SnapshotOutcome, now: float) -> None:
        item = outcome.to_item() | {
            "pk": log_pk(outcome.key),
            "sk": LOG_SK,
            "processedAt": iso_utc(now),
            "expiresAt": int(now) + LOG_TTL_SECONDS,
        }
        with transient_errors_as(TransientError):
            self._table.put_item(Item=item)

    def get(self, key: str) -> dict[str, Any] | None:
        with transient_errors_as(TransientError):
            item: dict[str, Any] | None = self._table.get_item(
                Key={"pk": log_pk(key), "sk": LOG_SK}, ConsistentRead=True
            ).get("Item")
        return item


__all__ = ["MAX_SNAPSHOT_BYTES", "DynamoSnapshotLog", "S3SnapshotUploads"]
