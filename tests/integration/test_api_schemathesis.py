"""Property-based: schemathesis sends what docs/openapi.json allows to the local server running the
real API handler on moto, and checks that nothing answers 5xx and every answer is documented
(status, content type, body schema). Bounded: MAX_EXAMPLES per operation, derandomized, so CI
runs the same cases every time. To explore further by hand:

    SCHEMATHESIS_MAX_EXAMPLES=300 SCHEMATHESIS_RANDOM=1 pytest tests/integration/test_api_schemathesis.py
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from api.handler import handler as api_handler
from api.handler import reset_adapters
from cdk_app.constants import REPO_ROOT
from smartdoor_local.http_server import LocalServer, direct, smartdoor_api_routes
from tests.e2e.api_world import DOOR_ID, ApiWorld, use_world_environment

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "30"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

schema = schemathesis.openapi.from_path(REPO_ROOT / "docs" / "openapi.json")


class Deployment:
    """The API on moto behind the local server, and live ids for half of the generated cases."""

    def __init__(self, world: ApiWorld, server: LocalServer) -> None:
        self.world = world
        self.server = server
        self.uses = 0
        self.current: str | None = None

    def live_approval_id(self) -> str:
        # Each request serves two cases: the first may decide it, the second then finds it decided.
        self.uses += 1
        if self.current is None or self.uses % 2 == 1:
            approval, _ = self.world.waiting_approval(visit_id=f"visit-{self.uses}")
            self.current = self.world.owner_id(approval)
        return self.current


@pytest.fixture
def deployment(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployment]:
    world = ApiWorld.create()
    use_world_environment(world, monkeypatch)
    with LocalServer(api_routes=smartdoor_api_routes(direct(api_handler))) as server:
        yield Deployment(world, server)
    reset_adapters()


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("SCHEMATHESIS_RANDOM") is None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_api_answers_only_what_its_contract_documents(
    case: schemathesis.Case, deployment: Deployment
) -> None:
    # Half the cases use ids that exist, so the answers beyond 404 are exercised too.
    parameters = case.path_parameters or {}
    if "doorId" in parameters and len(str(parameters["doorId"])) % 2 == 0:
        parameters["doorId"] = DOOR_ID
    if "approvalId" in parameters and len(str(parameters["approvalId"])) % 2 == 0:
        parameters["approvalId"] = deployment.live_approval_id()
    case.call_and_validate(base_url=deployment.server.url, checks=CHECKS)
