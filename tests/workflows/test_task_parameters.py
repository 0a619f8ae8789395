"""Each Task's Parameters are a valid request of the API its integration calls (botocore's input
shape, plus the limits in tests/aws_models.py), as Step Functions would send them.

A `"Name.$"` field becomes `"Name"` with a value of the type the shape expects (its real value
comes from the state input at run time); the optimized integrations' own conveniences are
applied first: lambda:invoke and events:putEvents accept a JSON object where the API wants a
string or blob (`Payload`, `Entries[].Detail`) and serialize it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest
from botocore.model import OperationModel, Shape

from smartdoor_local.workflows import placeholders, render_definition, workflow_path
from tests.aws_models import violations

WORKFLOWS = ("unknown_visitor", "known_visitor", "doorbell_session", "open_lock_iot", "open_lock_webhook")
# Optimized integration -> botocore service and operation.
OPERATIONS = {
    "lambda:invoke": ("lambda", "Invoke"),
    "lambda:invoke.waitForTaskToken": ("lambda", "Invoke"),
    "dynamodb:putItem": ("dynamodb", "PutItem"),
    "dynamodb:getItem": ("dynamodb", "GetItem"),
    "dynamodb:updateItem": ("dynamodb", "UpdateItem"),
    "sns:publish": ("sns", "Publish"),
    "events:putEvents": ("events", "PutEvents"),
    "sqs:sendMessage": ("sqs", "SendMessage"),
}
# The HTTP Task has no botocore model: its Parameters as the Step Functions developer guide
# documents them (call-https-apis.html, "HTTP Task fields").
HTTP_TASK = "http:invoke"
HTTP_REQUIRED = {"ApiEndpoint", "Method", "Authentication"}
HTTP_OPTIONAL = {"Headers", "QueryParameters", "RequestBody", "Transform"}
HTTP_METHODS = {"GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"}
CONNECTION_ARN = re.compile(r"^arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:connection/[^/]+/[^/]+$")


def http_task_violations(parameters: dict[str, Any]) -> list[str]:
    """What Step Functions would refuse in an HTTP Task's Parameters (as documented)."""
    fields = {key.removesuffix(".$") for key in parameters}
    problems = [f"missing {name}" for name in sorted(HTTP_REQUIRED - fields)]
    problems += [f"unknown field {name}" for name in sorted(fields - HTTP_REQUIRED - HTTP_OPTIONAL)]
    endpoint = parameters.get("ApiEndpoint")
    if isinstance(endpoint, str) and not endpoint.startswith("https://"):
        problems.append("ApiEndpoint must be an https:// URL")
    if "Method" in parameters and parameters["Method"] not in HTTP_METHODS:
        problems.append(f"Method {parameters['Method']!r}")
    authentication = parameters.get("Authentication")
    if not isinstance(authentication, dict) or set(authentication) != {"ConnectionArn"}:
        problems.append("Authentication must be exactly {ConnectionArn}")
    elif not CONNECTION_ARN.match(str(authentication["ConnectionArn"])):
        problems.append("ConnectionArn is not an EventBridge connection ARN")
    for name in ("Headers", "QueryParameters"):
        if name in parameters and not isinstance(parameters[name], dict):
            problems.append(f"{name} must be an object")
    return problems


ACCOUNT = "123456789012"


def stand_in(name: str) -> str:
    """A deployed-looking value for a placeholder (ARN patterns are checked by the models)."""
    if name == "LockConnectionArn":
        return f"arn:aws:events:us-east-1:{ACCOUNT}:connection/SmartDoor-Lock/0f1e2d3c-4b5a-6978"
    if name == "LockWebhookUrl":
        return "https://home.example.com/api/webhook/smartdoor"
    if name == "LockDeadLettersQueueUrl":
        return f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/SmartDoor-LockDeadLetters"
    if name.endswith("FunctionArn"):
        return f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:SmartDoor-{name[: -len('FunctionArn')]}"
    if name == "AlertsTopicArn":
        return f"arn:aws:sns:us-east-1:{ACCOUNT}:SmartDoor-Alerts"
    return f"SmartDoor-{name}"


def rendered(workflow: str) -> dict[str, Any]:
    text = workflow_path(workflow).read_text(encoding="utf-8")
    result: dict[str, Any] = json.loads(render_definition(text, {n: stand_in(n) for n in placeholders(text)}))
    return result


def tasks(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in states.items():
        if state["Type"] == "Task":
            yield name, state


def sample(shape: Shape) -> Any:
    """A value of the shape's type, as a JSONPath at run time would provide."""
    kind = shape.type_name
    if kind == "string":
        return shape.enum[0] if shape.enum else "x" * max(1, shape.metadata.get("min", 1))  # type: ignore[attr-defined]
    if kind in ("integer", "long"):
        return max(1, shape.metadata.get("min", 1))
    if kind in ("float", "double"):
        return 1.0
    if kind == "boolean":
        return True
    if kind == "blob":
        return b"x"
    if kind == "timestamp":
        return "2026-12-02T18:00:00Z"
    if kind == "list":
        return [sample(shape.member)]  # type: ignore[attr-defined]
    if kind == "map":
        return {"k": sample(shape.value)}  # type: ignore[attr-defined]
    return {}


def concrete(value: Any, shape: Shape | None) -> Any:
    """Parameters with every "Name.$" resolved to a value of Name's type."""
    if isinstance(value, list):
        member = shape.member if shape is not None and shape.type_name == "list" else None  # type: ignore[attr-defined]
        return [concrete(item, member) for item in value]
    if not isinstance(value, dict):
        return value
    result: dict[str, Any] = {}
    for key, item in value.items():
        name = key[:-2] if key.endswith(".$") else key
        member = None
        if shape is not None and shape.type_name == "structure":
            member = shape.members.get(name)  # type: ignore[attr-defined]
        elif shape is not None and shape.type_name == "map":
            member = shape.value  # type: ignore[attr-defined]
        if key.endswith(".$"):
            result[name] = sample(member) if member is not None else "x"
        else:
            result[name] = concrete(item, member)
    return result


def as_sent(resource: str, parameters: dict[str, Any], operation: OperationModel) -> dict[str, Any]:
    params = concrete(parameters, operation.input_shape)
    if resource.startswith("lambda:invoke") and isinstance(params.get("Payload"), dict | list):
        params["Payload"] = json.dumps(params["Payload"]).encode()
    if resource == "sqs:sendMessage" and isinstance(params.get("MessageBody"), dict):
        params["MessageBody"] = json.dumps(params["MessageBody"])  # the integration serializes it
    if resource == "events:putEvents":
        for entry in params.get("Entries", []):
            if isinstance(entry.get("Detail"), dict):
                entry["Detail"] = json.dumps(entry["Detail"])
    return params


def all_tasks() -> list[tuple[str, str, dict[str, Any]]]:
    return [(w, name, state) for w in WORKFLOWS for name, state in tasks(rendered(w)["States"])]


@pytest.mark.parametrize(
    ("workflow", "name", "state"), all_tasks(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_the_task_parameters_are_a_valid_request(workflow: str, name: str, state: dict[str, Any]) -> None:
    resource = state["Resource"].removeprefix("arn:aws:states:::")
    if resource == HTTP_TASK:
        assert http_task_violations(state["Parameters"]) == [], f"{workflow}: {name!r}"
        return
    assert resource in OPERATIONS, f"{workflow}: {name!r} uses {resource}, which this test cannot map"
    service, operation_name = OPERATIONS[resource]
    operation = botocore.session.get_session().get_service_model(service).operation_model(operation_name)
    params = as_sent(resource, state["Parameters"], operation)
    assert violations(operation, params) == [], f"{workflow}: {name!r}"


def test_a_misnamed_or_missing_field_is_refused() -> None:
    operation = botocore.session.get_session().get_service_model("dynamodb").operation_model("UpdateItem")
    good = {"TableName": "Visits", "Key": {"pk": {"S.$": "$.x"}}, "UpdateExpression": "SET a = :a"}
    assert violations(operation, as_sent("dynamodb:updateItem", good, operation)) == []
    misnamed = {**good, "ConditionExpresion": "attribute_exists(pk)"}
    assert violations(operation, as_sent("dynamodb:updateItem", misnamed, operation))
    without_key = {k: v for k, v in good.items() if k != "Key"}
    assert violations(operation, as_sent("dynamodb:updateItem", without_key, operation))
    good_http = {
        "ApiEndpoint": "https://lock.example.com/hook",
        "Method": "POST",
        "Authentication": {"ConnectionArn": stand_in("LockConnectionArn")},
        "RequestBody": {"doorId.$": "$.detail.doorId"},
    }
    assert http_task_violations(good_http) == []
    assert http_task_violations({**good_http, "ApiEndpoint": "http://lock.example.com/hook"})
    assert http_task_violations(
        {**good_http, "Authentication": {"ConnectionArn": "arn:aws:secretsmanager:x"}}
    )
    assert http_task_violations({**good_http, "Body": {}})  # not RequestBody
    assert http_task_violations({k: v for k, v in good_http.items() if k != "Method"})
    publish = botocore.session.get_session().get_service_model("sns").operation_model("Publish")
    assert violations(publish, as_sent("sns:publish", {"TopicArn": "arn:x", "Subject": "s"}, publish))
