"""docs/openapi.json is the API as the code builds it: regenerate with `make openapi`."""

from __future__ import annotations

import json

from api.openapi import openapi_document, openapi_json
from cdk_app.constants import REPO_ROOT
from smartdoor_local.http_server import smartdoor_api_routes

PUBLISHED = REPO_ROOT / "docs" / "openapi.json"


def test_the_published_document_is_what_the_code_generates() -> None:
    assert PUBLISHED.read_text() == openapi_json(), "docs/openapi.json is stale: run `make openapi`"


def test_the_document_has_every_route_the_api_gateway_resources_have() -> None:
    # GIVEN the resources API Gateway (and the local server, which mirrors it) sends to the function
    resources = {
        (route.resource, method.lower())
        for route in smartdoor_api_routes(lambda event, context: {})
        for method in route.methods
        if method != "OPTIONS"  # CORS preflight: answered by the resolver, not an operation
    }
    # THEN the document describes exactly those operations
    documented = {
        (path, method) for path, operations in openapi_document()["paths"].items() for method in operations
    }
    assert documented == resources


def test_bodies_are_the_validated_request_models() -> None:
    document = json.loads(PUBLISHED.read_text())
    schemas = document["components"]["schemas"]
    unlock = document["paths"]["/doors/{doorId}/unlock"]["post"]["requestBody"]
    assert unlock["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/UnlockRequest"}
    assert schemas["UnlockRequest"]["properties"]["otp"]["pattern"] == "^[0-9]{6}$"
    assert schemas["DecisionRequest"]["properties"]["decision"]["enum"] == ["approve", "deny"]
    assert schemas["DecisionRequest"]["required"] == ["decision"]


def test_only_statuses_the_api_answers_are_documented() -> None:
    # Validation failures are 400 naming the field (docs/api.md), never Powertools' default 422.
    for path, operations in openapi_document()["paths"].items():
        for method, operation in operations.items():
            statuses = set(operation["responses"])
            assert "422" not in statuses, (path, method)
            assert statuses <= {
                "200",
                "201",
                "202",
                "400",
                "403",
                "404",
                "409",
                "410",
                "413",
                "415",
                "429",
                "503",
            }
    decide = openapi_document()["paths"]["/approvals/{approvalId}"]["post"]["responses"]
    assert set(decide) == {"200", "400", "404", "409", "410", "413", "415", "503"}
