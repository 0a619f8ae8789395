"""The Visitors table adapter on moto DynamoDB."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from msgspec import ValidationError

from smartdoor.adapters.visitor_store import DynamoVisitorStore, Visitor
from smartdoor.errors import TransientError

TABLE = "Visitors"


@pytest.fixture
def table(aws: None) -> Any:
    return boto3.resource("dynamodb").create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "visitorId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "visitorId", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def a_visitor(**changes: Any) -> Visitor:
    fields: dict[str, Any] = {
        "visitorId": "v-1f3a",
        "name": "Ada Lovelace",
        "phone": "+15551234567",
        "faceIds": ["face-1", "face-2"],
        "photoKeys": ["visits/visit-1/face.jpg"],
        "createdAt": "2026-11-21T19:00:00Z",
        "approvalId": "appr-1",
        "doorId": "front-door",
    }
    return Visitor.parse(fields | changes)


def test_a_visitor_round_trips_as_a_camel_case_item(table: Any) -> None:
    store = DynamoVisitorStore(TABLE)
    visitor = a_visitor()
    # WHEN stored
    store.put(visitor)
    # THEN the item is camelCase and reads back equal
    item = table.get_item(Key={"visitorId": "v-1f3a"})["Item"]
    assert item == {
        "visitorId": "v-1f3a",
        "name": "Ada Lovelace",
        "phone": "+15551234567",
        "faceIds": ["face-1", "face-2"],
        "photoKeys": ["visits/visit-1/face.jpg"],
        "createdAt": "2026-11-21T19:00:00Z",
        "approvalId": "appr-1",
        "doorId": "front-door",
    }
    assert store.get("v-1f3a") == visitor


def test_optional_fields_may_be_absent(table: Any) -> None:
    store = DynamoVisitorStore(TABLE)
    visitor = a_visitor(faceIds=[], photoKeys=[], approvalId=None, doorId=None)
    store.put(visitor)
    assert store.get("v-1f3a") == visitor
    assert "approvalId" not in table.get_item(Key={"visitorId": "v-1f3a"})["Item"]


def test_put_overwrites_so_a_retried_step_writes_the_same_item(table: Any) -> None:
    store = DynamoVisitorStore(TABLE)
    store.put(a_visitor())
    store.put(a_visitor(faceIds=["face-3"]))
    assert store.get("v-1f3a") == a_visitor(faceIds=["face-3"])
    assert table.scan()["Count"] == 1


def test_an_unknown_visitor_is_none(table: Any) -> None:
    assert DynamoVisitorStore(TABLE).get("nobody") is None


def test_delete_reports_whether_there_was_a_visitor(table: Any) -> None:
    store = DynamoVisitorStore(TABLE)
    store.put(a_visitor())
    assert store.delete("v-1f3a") is True
    assert store.get("v-1f3a") is None
    assert store.delete("v-1f3a") is False


@pytest.mark.parametrize(
    "changes",
    [{"phone": "5551234567"}, {"phone": "+0123456"}, {"name": "  "}, {"visitorId": "a#b"}, {"visitorId": ""}],
)
def test_invalid_visitors_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        a_visitor(**changes)


def test_the_phone_number_stays_out_of_repr() -> None:
    visitor = a_visitor()
    assert "5551234567" not in repr(visitor) and "5551234567" not in str(visitor)


def test_throttling_surfaces_as_a_transient_error() -> None:
    offline_table = boto3.session.Session().resource("dynamodb").Table(TABLE)
    stubber = Stubber(offline_table.meta.client)
    stubber.add_client_error("get_item", "ThrottlingException", http_status_code=400)
    with stubber, pytest.raises(TransientError):
        DynamoVisitorStore(TABLE, table=offline_table).get("v-1f3a")
