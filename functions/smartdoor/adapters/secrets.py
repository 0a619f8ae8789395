"""The per-deployment OTP HMAC key, read from Secrets Manager with Powertools' cache.

The secret (`OTP_SECRET_ARN`) is a string Secrets Manager generates at deploy; its UTF-8 bytes
are the key. Rotating it invalidates live codes, which live only minutes anyway.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from smartdoor.adapters.aws import client, is_transient
from smartdoor.errors import SmartDoorError, TransientError

# A generated Secrets Manager string is 32 characters by default; anything shorter is a mistake.
MIN_KEY_BYTES = 32
DEFAULT_MAX_AGE_SECONDS = 300


class OtpKeyUnavailable(SmartDoorError):
    """The OTP key secret is missing, unreadable or too short (a deployment error, not retried)."""


class SecretsManagerHmacKey:
    """`HmacKeySource` backed by one Secrets Manager secret.

    Keep one instance per process: the cache lives in it, so warm invocations make no call
    until `max_age_seconds` have passed.
    """

    def __init__(
        self,
        secret_arn: str,
        max_age_seconds: int = DEFAULT_MAX_AGE_SECONDS,
        secrets_client: Any | None = None,
    ) -> None:
        if not secret_arn:
            raise OtpKeyUnavailable("no OTP secret configured (OTP_SECRET_ARN)")
        self._secret_arn = secret_arn
        self._max_age = max_age_seconds
        self._secrets_client = secrets_client
        self._provider: SecretsProvider | None = None

    def hmac_key(self) -> bytes:
        if self._provider is None:
            self._provider = SecretsProvider(boto3_client=self._secrets_client or client("secretsmanager"))
        try:
            value = self._provider.get(self._secret_arn, max_age=self._max_age)
        except GetParameterError as error:
            # Powertools wraps every failure; the AWS error is the implicit context.
            cause = error.__cause__ or error.__context__
            if isinstance(cause, Exception) and is_transient(cause):
                raise TransientError(f"{type(cause).__name__}: transient AWS failure") from error
            raise OtpKeyUnavailable(f"cannot read the OTP secret: {error}") from error
        key = value.encode() if isinstance(value, str) else value
        if not isinstance(key, bytes) or len(key) < MIN_KEY_BYTES:
            raise OtpKeyUnavailable(f"the OTP secret must hold at least {MIN_KEY_BYTES} bytes")
        return key
