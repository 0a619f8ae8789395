"""`smartdoor visitors forget` on the local stack after the whole story: afterwards no item of
any table and no object of any bucket names the visitor.

The story leaves the visitor everywhere: the approval request with the name and phone the owner
typed, the visit photos, the face, the record, a used code and a live one with its pointer,
event and workflow claims in two visits, and the door's current visit. The check reads every
table (ListTables, every page of a Scan) and every object of every bucket (ListBuckets, every
key and every byte), so a store added later without a forget path fails it.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from smartdoor_local.app import LocalApp
from smartdoor_local.cli import main
from smartdoor_local.console import Console
from smartdoor_local.stack import LocalConfig, LocalStack
from smartdoor_local.story import VISITOR_NAME, VISITOR_PHONE, Story

KEY_ATTRIBUTES = ("pk", "sk", "approvalId", "visitorId", "faceId")


@pytest.fixture
def app() -> Iterator[LocalApp]:
    with LocalApp(LocalConfig(), port=0, console=Console(io.StringIO())) as running:
        yield running


def needles(visitor_id: str, approval_id: str) -> dict[str, bytes]:
    """What names the visitor: id, name, phone (also as bare digits) and the approval that made them."""
    return {
        "visitor id": visitor_id.encode(),
        "name": VISITOR_NAME.encode(),
        "phone": VISITOR_PHONE.encode(),
        "phone digits": VISITOR_PHONE.removeprefix("+").encode(),
        "approval id": approval_id.encode(),
    }


def table_items(stack: LocalStack) -> Iterator[tuple[str, dict[str, Any]]]:
    dynamodb = stack.client("dynamodb")
    for table in dynamodb.list_tables()["TableNames"]:
        for page in dynamodb.get_paginator("scan").paginate(TableName=table):
            for item in page["Items"]:
                yield table, item


def bucket_objects(stack: LocalStack) -> Iterator[tuple[str, str, bytes]]:
    s3 = stack.client("s3")
    for bucket in s3.list_buckets()["Buckets"]:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"]):
            for entry in page.get("Contents", []):
                body = s3.get_object(Bucket=bucket["Name"], Key=entry["Key"])["Body"].read()
                yield bucket["Name"], entry["Key"], body


def stored_keys(stack: LocalStack, prefix: str) -> list[str]:
    listing = stack.client("s3").list_objects_v2(Bucket=stack.names["photos"], Prefix=prefix)
    return [entry["Key"] for entry in listing.get("Contents", [])]


def traces(stack: LocalStack, named: dict[str, bytes]) -> list[tuple[str, str, str]]:
    """(where, what, which needle) for every table item and stored object that names the visitor."""
    found: list[tuple[str, str, str]] = []
    for table, item in table_items(stack):
        # Binary attributes (the local engine's embeddings) are searched byte for byte too.
        text = json.dumps(item, sort_keys=True, default=lambda raw: raw.decode("latin-1")).encode()
        key = "/".join(str(*item[name].values()) for name in KEY_ATTRIBUTES if name in item)
        found += [(table, key, what) for what, needle in named.items() if needle in text]
    for bucket, key, body in bucket_objects(stack):
        found += [
            (bucket, key, what) for what, needle in named.items() if needle in key.encode() or needle in body
        ]
    return found


def test_after_forget_no_table_item_and_no_object_names_the_visitor(
    app: LocalApp, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the story: approved, enrolled, a code used at the door, known on her return (a new code)
    result = Story(app.url, app.config, Console(io.StringIO())).play()
    stack = app.stack
    (visitor,) = stack.client("dynamodb").scan(TableName=stack.names["visitors"])["Items"]
    visitor_id = visitor["visitorId"]["S"]
    named = needles(visitor_id, result.approval_link.rsplit("=", 1)[1])
    before = traces(stack, named)
    where = {place for place, _, _ in before}
    names = stack.names
    expected = {names[t] for t in ("approvals", "visitors", "passcodes", "visits", "faces")}
    assert expected <= where, before
    photos = [key["S"] for key in visitor["photoKeys"]["L"]]
    assert photos and all(stored_keys(stack, key) == [key] for key in photos)

    # WHEN the owner forgets her
    status = main(["visitors", "forget", visitor_id, "--port", str(app.server.port)])
    out = capsys.readouterr().out

    # THEN nothing stored names her, and the CLI said what went
    assert status == 0, out
    assert traces(stack, named) == []
    # The approval's frame and face crop (named by her record, not by her name) went too.
    assert [stored_keys(stack, key.rsplit("/", 1)[0]) for key in photos] == [[] for _ in photos]
    # Her live code, its pointer and her hourly SMS counter (the used code went when the second
    # was issued); the event claim
    # of her return, the known-visitor claims of both visits, approvedVisitorId on the stranger's
    # claim and her place in the door's current visit.
    assert out == (
        f"Forgot {VISITOR_NAME} ({visitor_id}): erased 1 faces, 2 photos, 3 passcode items, "
        "5 visit items, the approval request and the record; their passcode no longer works.\n"
    )
    # ... and she is unknown now: forgetting again is the clear error of an unknown id.
    assert main(["visitors", "forget", visitor_id, "--port", str(app.server.port)]) == 2
