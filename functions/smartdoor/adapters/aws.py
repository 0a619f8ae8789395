"""Lazily created boto3 clients and resources, one per service and process.

Nothing here runs at import time, so tests can start moto (or swap in a Stubber) first.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.config import Config

from smartdoor.errors import TransientError
from smartdoor.process_cache import clear_process_caches, process_cache

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=10)


@process_cache
def client(service: str, endpoint_url: str | None = None) -> Any:
    return boto3.client(service, config=_CONFIG, endpoint_url=endpoint_url)  # type: ignore[call-overload]


@process_cache
def dynamodb_table(name: str) -> Any:
    return boto3.resource("dynamodb", config=_CONFIG).Table(name)


class TableAdapter:
    """Base of an adapter that owns one DynamoDB table: by name (the function's setting), or a
    given boto3 Table resource (tests, a second account)."""

    def __init__(self, table_name: str, table: Any | None = None) -> None:
        self._table_name = table_name
        self._explicit_table = table

    @property
    def _table(self) -> Any:
        return self._explicit_table if self._explicit_table is not None else dynamodb_table(self._table_name)


def reset_clients() -> None:
    """Forget every per-process cache of the Lambda code: clients, tables, key sources, engines,
    settings (smartdoor.process_cache). Tests and the local stack call this when they start a
    fresh moto account; nothing outside functions/ needs to know which handler caches what."""
    clear_process_caches()


_TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "InternalServerError",
        "InternalFailure",
        "InternalServerException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalError",
        "KMSThrottlingException",
        # SNS's own codes for ThrottledException and KMSThrottlingException.
        "Throttled",
        "KMSThrottling",
    }
)


def is_transient(error: Exception) -> bool:
    """True for throttling and server-side failures that a later retry may get past."""
    from botocore.exceptions import ClientError, ConnectionError, ReadTimeoutError

    if isinstance(error, ConnectionError | ReadTimeoutError):
        return True
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return code in _TRANSIENT_CODES or status >= 500
    return False


def scan_pages(table: Any, **request: Any) -> Iterator[dict[str, Any]]:
    """Every item a Scan of `table` (a boto3 Table resource) returns, page after page.

    For the owner's rare operations only (listing, forgetting): a Scan reads the whole table.
    Strongly consistent, so a write acknowledged just before is seen.
    """
    request.setdefault("ConsistentRead", True)
    while True:
        with transient_errors_as(TransientError):
            page = table.scan(**request)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@contextmanager
def transient_errors_as(error_type: type[Exception]) -> Iterator[None]:
    """Re-raise throttling/5xx failures of the wrapped AWS calls as `error_type`, others unchanged."""
    try:
        yield
    except Exception as error:
        if is_transient(error):
            raise error_type(f"{type(error).__name__}: transient AWS failure") from error
        raise
