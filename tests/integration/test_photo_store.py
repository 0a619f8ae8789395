"""S3PhotoStore on moto S3."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

import boto3
import pytest

from smartdoor.adapters.photo_store import S3PhotoStore
from smartdoor.models import VisitPhoto

BUCKET = "smartdoor-photos"


@pytest.fixture
def s3(aws: None) -> Any:
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    return client


def keys(s3: Any, bucket: str = BUCKET) -> list[str]:
    return sorted(item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def test_put_jpeg_stores_bytes_as_an_image(s3: Any) -> None:
    store = S3PhotoStore(BUCKET)
    store.put_jpeg("visits/v-1/frame.jpg", b"\xff\xd8frame")
    stored = s3.get_object(Bucket=BUCKET, Key="visits/v-1/frame.jpg")
    assert stored["Body"].read() == b"\xff\xd8frame"
    assert stored["ContentType"] == "image/jpeg"
    assert store.read("visits/v-1/frame.jpg") == b"\xff\xd8frame"


def test_read_fetches_from_another_bucket_when_told(s3: Any) -> None:
    s3.create_bucket(Bucket="edge-uploads")
    s3.put_object(Bucket="edge-uploads", Key="snapshots/front-door/1.jpg", Body=b"snap")
    assert S3PhotoStore(BUCKET).read("snapshots/front-door/1.jpg", bucket="edge-uploads") == b"snap"


def test_reading_a_missing_photo_is_not_hidden(s3: Any) -> None:
    with pytest.raises(s3.exceptions.NoSuchKey):
        S3PhotoStore(BUCKET).read("visits/nope/frame.jpg")


def test_presigned_url_is_a_short_lived_get_of_that_key(s3: Any) -> None:
    url = S3PhotoStore(BUCKET).presigned_get_url("visits/v-1/face.jpg", expires_in=300)
    parsed = urlparse(url)
    query = parse_qs(parsed.query)
    assert BUCKET in parsed.netloc + parsed.path
    assert parsed.path.endswith("/visits/v-1/face.jpg")
    assert query["X-Amz-Expires"] == ["300"]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]


@pytest.mark.parametrize("seconds", [0, 7 * 24 * 3600 + 1])
def test_presigned_url_lifetime_is_bounded(s3: Any, seconds: int) -> None:
    with pytest.raises(ValueError):
        S3PhotoStore(BUCKET).presigned_get_url("visits/v-1/face.jpg", expires_in=seconds)


def test_delete_visit_photos_removes_that_visit_only(s3: Any) -> None:
    # GIVEN photos of two visits, one of them with more files than one delete batch shows
    store = S3PhotoStore(BUCKET)
    mine = VisitPhoto.for_visit(BUCKET, "v-1")
    theirs = VisitPhoto.for_visit(BUCKET, "v-10")  # shares the "v-1" prefix without the slash
    for key in (mine.frame_key, mine.face_key, theirs.frame_key, theirs.face_key):
        store.put_jpeg(key, b"jpeg")
    # WHEN v-1's photos are deleted
    deleted = store.delete_visit_photos("v-1")
    # THEN exactly its two photos are gone
    assert sorted(deleted) == sorted([mine.frame_key, mine.face_key])
    assert keys(s3) == sorted([theirs.frame_key, theirs.face_key])


def test_deleting_a_visit_without_photos_is_a_no_op(s3: Any) -> None:
    assert S3PhotoStore(BUCKET).delete_visit_photos("v-404") == []


@pytest.mark.parametrize("visit_id", ["", "../etc", "a/b", "v..1", "-v"])
def test_unsafe_visit_ids_never_become_keys(s3: Any, visit_id: str) -> None:
    S3PhotoStore(BUCKET).put_jpeg("visits/keep/frame.jpg", b"jpeg")
    with pytest.raises(ValueError):
        S3PhotoStore(BUCKET).delete_visit_photos(visit_id)
    assert keys(s3) == ["visits/keep/frame.jpg"]


def test_a_bucket_is_required() -> None:
    with pytest.raises(ValueError):
        S3PhotoStore("")
