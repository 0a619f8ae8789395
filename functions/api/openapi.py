"""The HTTP API's OpenAPI document, generated from the routes and their models.

    python -m api.openapi > docs/openapi.json     (make openapi)

tests/unit/test_openapi.py fails when docs/openapi.json and the code disagree.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn

from api.handler import create_app
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
}


def openapi_document() -> dict[str, Any]:
    app = create_app(ApiSettings.model_validate(_EXAMPLE_SETTINGS))
    document: dict[str, Any] = json.loads(
        app.get_openapi_json_schema(
            title=TITLE,
            version=VERSION,
            description=DESCRIPTION,
            security_schemes={
                "deviceApiKey": APIKey.model_validate({"name": "x-api-key", "in": APIKeyIn.header})
            },
        )
    )
    return _without_unprotocolled_422(document)


def _without_unprotocolled_422(document: dict[str, Any]) -> dict[str, Any]:
    """Powertools documents its own 422 for a request that fails validation; this API answers those
    400 naming the field (api.errors), so the 422 and the schemas only it uses are dropped."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
    schemas = document.get("components", {}).get("schemas", {})
    text = json.dumps(document["paths"])
    for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        if f"#/components/schemas/{name}" not in text:
            schemas.pop(name, None)
    return document


def openapi_json() -> str:
    return json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(openapi_json())
