"""The OTP HMAC key adapter on moto Secrets Manager (and a Stubber for throttling)."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from smartdoor.adapters.secrets import OtpKeyUnavailable, SecretsManagerHmacKey
from smartdoor.errors import TransientError

GENERATED = "Q7v-generated-by-secrets-manager-9f2c1e"


def create_secret(**value: object) -> str:
    return str(boto3.client("secretsmanager").create_secret(Name="smartdoor/otp-key", **value)["ARN"])


@pytest.mark.usefixtures("aws")
def test_the_secret_string_is_the_key() -> None:
    arn = create_secret(SecretString=GENERATED)
    assert SecretsManagerHmacKey(arn).hmac_key() == GENERATED.encode()


@pytest.mark.usefixtures("aws")
def test_a_binary_secret_is_used_as_is() -> None:
    arn = create_secret(SecretBinary=b"\x00\x01" * 20)
    assert SecretsManagerHmacKey(arn).hmac_key() == b"\x00\x01" * 20


@pytest.mark.usefixtures("aws")
def test_the_key_is_cached_for_max_age() -> None:
    # GIVEN a key source that has read the secret once
    arn = create_secret(SecretString=GENERATED)
    cached = SecretsManagerHmacKey(arn, max_age_seconds=300)
    uncached = SecretsManagerHmacKey(arn, max_age_seconds=0)
    cached.hmac_key()
    uncached.hmac_key()
    # WHEN the secret changes
    boto3.client("secretsmanager").put_secret_value(SecretId=arn, SecretString="R" * 40)
    # THEN the cached source keeps serving the value it read; one with no cache reads the new one
    assert cached.hmac_key() == GENERATED.encode()
    assert uncached.hmac_key() == b"R" * 40


@pytest.mark.usefixtures("aws")
def test_a_short_secret_is_refused() -> None:
    arn = create_secret(SecretString="too-short")
    with pytest.raises(OtpKeyUnavailable, match="at least 32 bytes"):
        SecretsManagerHmacKey(arn).hmac_key()


@pytest.mark.usefixtures("aws")
def test_a_missing_secret_is_a_deployment_error_not_a_transient_one() -> None:
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-AbCdEf"
    with pytest.raises(OtpKeyUnavailable):
        SecretsManagerHmacKey(arn).hmac_key()


def test_no_configured_secret_is_refused_at_construction() -> None:
    with pytest.raises(OtpKeyUnavailable, match="OTP_SECRET_ARN"):
        SecretsManagerHmacKey("")


def test_throttling_surfaces_as_a_transient_error() -> None:
    secrets_client = boto3.client("secretsmanager")
    stubber = Stubber(secrets_client)
    stubber.add_client_error("get_secret_value", "ThrottlingException", http_status_code=400)
    with stubber, pytest.raises(TransientError):
        SecretsManagerHmacKey("arn:secret", secrets_client=secrets_client).hmac_key()
