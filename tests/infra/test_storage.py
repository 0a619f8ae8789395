"""Storage: the DynamoDB tables of docs/internals.md, encrypted, on-demand, with TTL."""

from __future__ import annotations

import pytest

from tests.infra.synth import Synthesized

pytestmark = pytest.mark.infra

TABLE_KEYS = {
    "visits_table": [("pk", "HASH"), ("sk", "RANGE")],
}


@pytest.mark.parametrize("table", sorted(TABLE_KEYS))
def test_tables_have_the_documented_keys(synthesized: Synthesized, table: str) -> None:
    properties = synthesized.properties(getattr(synthesized.stack.storage, table))
    keys = [(k["AttributeName"], k["KeyType"]) for k in properties["KeySchema"]]
    assert keys == TABLE_KEYS[table]
    assert {a["AttributeType"] for a in properties["AttributeDefinitions"]} == {"S"}


@pytest.mark.parametrize("table", sorted(TABLE_KEYS))
def test_tables_are_encrypted_on_demand_with_ttl_and_recovery(synthesized: Synthesized, table: str) -> None:
    resource = synthesized.resource(getattr(synthesized.stack.storage, table))
    properties = resource["Properties"]
    assert properties["SSESpecification"] == {"SSEEnabled": True}
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    # Deleting the stack must not delete visitors, approvals or codes with it.
    assert resource["DeletionPolicy"] == "Retain"
