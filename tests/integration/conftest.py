"""Moto fixtures any integration test can reuse.

`aws` starts one in-process moto context (fake credentials and us-east-1 come from
tests/conftest.py) and forgets the cached boto3 clients and settings before and after, so
every test sees fresh, empty AWS services.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from smartdoor.adapters.aws import reset_clients
from smartdoor.settings import reset_settings_cache

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
