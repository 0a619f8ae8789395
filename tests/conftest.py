"""Test-wide setup: offline AWS credentials and region, quiet Powertools, no network.

Everything here runs before any test module imports Lambda code, so the shared observability
objects and the lazy boto3 clients see a fake, offline environment.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

import cdk_app  # noqa: F401 - before any test imports aws_cdk: jsii runs on the project's Node
from tests.aws_models import install as install_model_checks

# Fake credentials, forced (never setdefault): a developer's real AWS profile must never be used.
for _name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
    os.environ.pop(_name, None)
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
os.environ["AWS_REGION"] = "us-east-1"
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "smartdoor-tests")
os.environ["POWERTOOLS_TRACE_DISABLED"] = "1"
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "INFO")
# `smartdoor local` announces itself in a state directory (smartdoor_local.discovery): the tests'
# stacks, in this process or in child processes, announce themselves here, never in the user's.
os.environ["SMARTDOOR_STATE_DIR"] = tempfile.mkdtemp(prefix="smartdoor-tests-state-")
os.environ.pop("SMARTDOOR_PORT", None)
os.environ.pop("SMARTDOOR_API_URL", None)

TESTS_DIR = Path(__file__).parent
# Layers whose tests must never open a connection beyond this machine.
_OFFLINE_LAYERS = ("unit", "integration", "workflows", "door")
_LOCAL_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


class NetworkBlocked(RuntimeError):
    """A test tried to reach a host other than 127.0.0.1 (AWS is never reachable from tests)."""


def _is_local(address: Any) -> bool:
    if isinstance(address, str | bytes):  # AF_UNIX path
        return True
    if isinstance(address, tuple) and address:
        return str(address[0]) in _LOCAL_HOSTS
    return False


@pytest.fixture(autouse=True)
def _block_outbound_network(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Unit and integration tests may talk to 127.0.0.1 only."""
    layer = Path(str(request.node.path)).relative_to(TESTS_DIR).parts[0]
    if layer not in _OFFLINE_LAYERS:
        yield
        return
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def guarded_connect(sock: socket.socket, address: Any) -> Any:
        if not _is_local(address):
            raise NetworkBlocked(f"test tried to connect to {address!r}; tests are offline")
        return real_connect(sock, address)

    def guarded_connect_ex(sock: socket.socket, address: Any) -> Any:
        if not _is_local(address):
            raise NetworkBlocked(f"test tried to connect to {address!r}; tests are offline")
        return real_connect_ex(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    yield


# Every request any test's boto3 client builds (adapters on moto or Stubber, the local stack) is
# checked against AWS's API models and documented limits (tests/aws_models.py), which moto and
# Stubber do not enforce. A refused request fails the test even if the code swallowed the error.
_REFUSED_REQUESTS: list[str] = []
boto3.setup_default_session()
install_model_checks(boto3.DEFAULT_SESSION.events, _REFUSED_REQUESTS)


@pytest.fixture(autouse=True)
def _requests_match_the_aws_models() -> Iterator[None]:
    _REFUSED_REQUESTS.clear()
    yield
    assert _REFUSED_REQUESTS == [], "requests AWS would refuse"
