"""Storage: the DynamoDB tables of docs/internals.md, encrypted, on-demand, with TTL."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Match

from tests.infra.synth import Synthesized

pytestmark = pytest.mark.infra

TABLE_KEYS = {
    "visits_table": [("pk", "HASH"), ("sk", "RANGE")],
    "approvals_table": [("approvalId", "HASH")],
    "visitors_table": [("visitorId", "HASH")],
    "passcodes_table": [("pk", "HASH"), ("sk", "RANGE")],
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


def _bucket_denies_plain_http(synthesized: Synthesized, bucket: Any) -> None:
    synthesized.template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": synthesized.logical_id(bucket)},
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Action": "s3:*",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            },
        },
    )


def test_the_photos_bucket_is_private_encrypted_and_tls_only(synthesized: Synthesized) -> None:
    storage = synthesized.stack.storage
    photos = synthesized.properties(storage.photos_bucket)
    assert photos["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert photos["BucketEncryption"] == {
        "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
    }
    assert photos["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert "VersioningConfiguration" not in photos  # a deleted photo is gone, not kept as a version
    assert photos["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": synthesized.logical_id(storage.access_logs_bucket)},
        "LogFilePrefix": "photos/",
    }
    _bucket_denies_plain_http(synthesized, storage.photos_bucket)


def test_the_access_log_bucket_is_private_and_tls_only(synthesized: Synthesized) -> None:
    logs = synthesized.properties(synthesized.stack.storage.access_logs_bucket)
    assert all(logs["PublicAccessBlockConfiguration"].values())
    assert "BucketEncryption" in logs
    _bucket_denies_plain_http(synthesized, synthesized.stack.storage.access_logs_bucket)


def _expiry_days(synthesized: Synthesized) -> dict[str, int]:
    rules = synthesized.properties(synthesized.stack.storage.photos_bucket)["LifecycleConfiguration"]["Rules"]
    return {rule["Prefix"]: rule["ExpirationInDays"] for rule in rules if "Prefix" in rule}


def test_unknown_visitors_photos_expire_after_30_days_by_default(synthesized: Synthesized) -> None:
    # GIVEN the default deployment
    # THEN visit photos (frames, face crops) and edge snapshots are deleted after 30 days
    assert _expiry_days(synthesized) == {"visits/": 30, "snapshots/": 30}


def test_photo_retention_follows_the_configuration(synthesized_custom: Synthesized) -> None:
    # GIVEN -c photoRetentionDays=7
    assert _expiry_days(synthesized_custom) == {"visits/": 7, "snapshots/": 7}


def test_the_otp_key_is_generated_at_deploy(synthesized: Synthesized) -> None:
    secret = synthesized.properties(synthesized.stack.storage.otp_secret)
    generated = secret["GenerateSecretString"]
    assert generated["PasswordLength"] == 64
    assert generated["ExcludePunctuation"] is True
    assert "SecretString" not in secret  # never a value in the template
