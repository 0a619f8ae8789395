"""The HTTP API's OpenAPI document, generated from the routes and their models.

    python -m api.openapi > docs/openapi.json     (make openapi)

tests/unit/test_openapi.py fails when docs/openapi.json and the code disagree.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import msgspec

from api.handler import api_routes
from api.router import Route
from api.settings import ApiSettings

TITLE = "Smart Door API"
VERSION = "1"
DESCRIPTION = (
    "The owner page's approvals and the door keypad (API Gateway REST; the same handler serves "
    'the local stack). Errors are {"error": ...}; a 400 names the field. Full contract: docs/api.md.'
)

# Placeholders: the document does not depend on a deployment's names.
_EXAMPLE_SETTINGS = {
    "APPROVALS_TABLE": "Approvals",
    "VISITORS_TABLE": "Visitors",
    "PASSCODES_TABLE": "Passcodes",
    "PHOTOS_BUCKET": "photos",
    "EVENT_BUS_NAME": "smartdoor",
    "ALERTS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:alerts",
    "OTP_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:otp",
    "DOOR_ID": "front-door",
    "PUSH_SUBSCRIPTIONS_TABLE": "Passcodes",
}


SECURITY_SCHEMES = {"deviceApiKey": {"type": "apiKey", "name": "x-api-key", "in": "header"}}
_REF = "#/components/schemas/{name}"


def openapi_document() -> dict[str, Any]:
    routes = api_routes(ApiSettings.parse(_EXAMPLE_SETTINGS))
    models = sorted(_models(routes), key=lambda model: model.__name__)
    refs, schemas = msgspec.json.schema_components(models, ref_template=_REF)
    by_model = dict(zip(models, refs, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, by_model)
    return {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": VERSION, "description": DESCRIPTION},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": SECURITY_SCHEMES},
    }


def _models(routes: list[Route]) -> set[type]:
    found = {route.body for route in routes if route.body is not None}
    for route in routes:
        found |= {doc.model for doc in route.doc.responses.values() if doc.model is not None}
    return found


def _operation(route: Route, refs: dict[type, Any]) -> dict[str, Any]:
    doc = route.doc
    operation: dict[str, Any] = {
        "summary": doc.summary,
        "tags": list(doc.tags),
        "operationId": route.run.__name__,
        "parameters": [
            {"name": name, "in": "path", "required": True, "description": text, "schema": {"type": "string"}}
            for name, text in doc.params.items()
        ],
        "responses": {
            str(status): {
                "description": answer.description,
                **({"content": {"application/json": {"schema": refs[answer.model]}}} if answer.model else {}),
            }
            for status, answer in sorted(doc.responses.items())
        },
    }
    if route.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[route.body]}},
        }
    if doc.security is not None:
        operation["security"] = [dict(item) for item in doc.security]
    return operation


def openapi_json() -> str:
    return json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(openapi_json())
