"""Moto fixtures any integration test can reuse.

`aws` starts one in-process moto context (fake credentials and us-east-1 come from
tests/conftest.py) and forgets the cached boto3 clients and settings before and after, so
every test sees fresh, empty AWS services. `world` is one API deployment in it, for the
test_api_* files (imported when used: building it reads the synthesized template).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend

from smartdoor.adapters.aws import reset_clients
from smartdoor.settings import reset_settings_cache

if TYPE_CHECKING:
    from tests.e2e.api_world import ApiWorld

MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}


@pytest.fixture
def aws() -> Iterator[None]:
    """An empty, offline AWS account (moto) for the duration of one test."""
    reset_clients()
    reset_settings_cache()
    with mock_aws(config=MOTO_CONFIG):  # type: ignore[arg-type]
        yield
    reset_clients()
    reset_settings_cache()


@pytest.fixture
def atomic_items(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Make each moto DynamoDB call atomic, as each DynamoDB request is.

    moto checks a condition and then writes without a lock, so under threads two conditional
    writes can both pass: a moto artefact, not DynamoDB behaviour. One lock per call restores
    DynamoDB's per-request atomicity and nothing more: the service's multi-call sequences still
    interleave freely, which is what the race tests exercise.
    """
    lock = threading.RLock()
    for name in ("get_item", "put_item", "update_item", "delete_item", "transact_write_items"):
        original = getattr(DynamoDBBackend, name)

        @functools.wraps(original)
        def atomic(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return _original(*args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, atomic)
    yield


@pytest.fixture
def world(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiWorld]:
    """One API deployment on moto (tests/e2e/api_world.py), the API handler's settings pointed at it."""
    from api.handler import reset_adapters
    from tests.e2e.api_world import ApiWorld, use_world_environment

    created = ApiWorld.create()
    use_world_environment(created, monkeypatch)
    yield created
    reset_adapters()
