"""Lazily created boto3 clients and resources, one per service and process.

Nothing here runs at import time, so tests can start moto (or swap in a Stubber) first.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=10)


@cache
def client(service: str, endpoint_url: str | None = None) -> Any:
    return boto3.client(service, config=_CONFIG, endpoint_url=endpoint_url)  # type: ignore[call-overload]


@cache
def dynamodb_table(name: str) -> Any:
    return boto3.resource("dynamodb", config=_CONFIG).Table(name)


def reset_clients() -> None:
    """Forget cached clients (tests that start a fresh moto context call this)."""
    client.cache_clear()
    dynamodb_table.cache_clear()
