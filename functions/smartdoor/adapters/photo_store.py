"""Visit photos in S3: the frame and the face crop of each visit, under `visits/<visitId>/`.

The key layout is `VisitPhoto.for_visit` (smartdoor.models).
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from smartdoor.adapters.aws import client, transient_errors_as
from smartdoor.errors import TransientError
from smartdoor.models import visit_photo_prefix
from smartdoor.ports import PhotoStore as PhotoStore  # the port this adapter implements (re-exported)
from smartdoor.process_cache import process_cache

JPEG_CONTENT_TYPE = "image/jpeg"
_RETRYABLE_DELETE_CODES = frozenset({"InternalError", "SlowDown", "ServiceUnavailable"})


@process_cache
def _presigning_client() -> Any:
    # SigV4 explicitly: botocore may still presign S3 GETs with SigV2, which KMS-encrypted
    # objects refuse; virtual-hosted addressing gives the regional bucket URL.
    return boto3.client("s3", config=Config(signature_version="s3v4", s3={"addressing_style": "virtual"}))


class S3PhotoStore:
    """Photos in one bucket. `read` can also fetch from another bucket (an edge device's upload)."""

    def __init__(self, bucket: str, s3_client: Any | None = None) -> None:
        if not bucket:
            raise ValueError("a photos bucket name is required")
        self._bucket = bucket
        self._s3 = s3_client

    @property
    def bucket(self) -> str:
        return self._bucket

    @property
    def _client(self) -> Any:
        return self._s3 or client("s3")

    def put_jpeg(self, key: str, data: bytes) -> None:
        with transient_errors_as(TransientError):
            self._client.put_object(Bucket=self._bucket, Key=key, Body=data, ContentType=JPEG_CONTENT_TYPE)

    def read(self, key: str, bucket: str | None = None) -> bytes:
        with transient_errors_as(TransientError):
            response = self._client.get_object(Bucket=bucket or self._bucket, Key=key)
            return bytes(response["Body"].read())

    def presigned_get_url(self, key: str, expires_in: int) -> str:
        """A short-lived link for the owner page; S3 caps SigV4 links at 7 days."""
        if not 1 <= expires_in <= 7 * 24 * 3600:
            raise ValueError("expires_in must be between 1 second and 7 days")
        url = (self._s3 or _presigning_client()).generate_presigned_url(
            "get_object",
            Params={"Bucket": self._bucket, "Key": key},
            ExpiresIn=expires_in,
        )
        return str(url)

    def delete_visit_photos(self, visit_id: str) -> list[str]:
        """Delete every object under the visit's prefix; returns the deleted keys."""
        prefix = visit_photo_prefix(visit_id)
        deleted: list[str] = []
        with transient_errors_as(TransientError):
            pages = self._client.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=prefix)
            for page in pages:
                keys = [item["Key"] for item in page.get("Contents", [])]
                if not keys:
                    continue
                response = self._client.delete_objects(
                    Bucket=self._bucket,
                    Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True},
                )
                errors = response.get("Errors", [])
                if errors:
                    failed = ", ".join(f"{e.get('Key')}: {e.get('Code')}" for e in errors)
                    message = f"could not delete photos of visit {visit_id}: {failed}"
                    if all(e.get("Code") in _RETRYABLE_DELETE_CODES for e in errors):
                        raise TransientError(message)
                    raise RuntimeError(message)
                deleted.extend(keys)
        return deleted
