"""Every IAM action the template names exists for its service.

An action `prefix:Name` (or a pattern such as `s3:GetObject*`) must match an operation of a
botocore service model whose signing name or endpoint prefix is `prefix` (IAM actions are the
API operation names for almost every service), or be one of the IAM-only actions below: names
that authorize something other than one API operation, each with the AWS page that lists it.
IAM compares action names case-insensitively, and so does this test.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from functools import cache
from typing import Any

import botocore.session
import pytest

from tests.infra.synth import Synthesized

pytestmark = pytest.mark.infra

_SAR = "https://docs.aws.amazon.com/service-authorization/latest/reference"
# IAM actions that are not an API operation's name.
IAM_ONLY_ACTIONS = {
    # The permission for the Invoke API (and for event source mappings, Step Functions, ...).
    "lambda:InvokeFunction": f"{_SAR}/list_awslambda.html",
    # The ConditionCheck part of TransactWriteItems (CDK's grantReadWriteData includes it).
    "dynamodb:ConditionCheckItem": f"{_SAR}/list_amazondynamodb.html",
    # Tagging a specific object version (CDK's BucketDeployment role).
    "s3:PutObjectVersionTagging": f"{_SAR}/list_amazons3.html",
    # Vended-log delivery that a state machine's logging configuration needs
    # (https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html).
    "logs:CreateLogDelivery": f"{_SAR}/list_amazoncloudwatchlogs.html",
    "logs:GetLogDelivery": f"{_SAR}/list_amazoncloudwatchlogs.html",
    "logs:UpdateLogDelivery": f"{_SAR}/list_amazoncloudwatchlogs.html",
    "logs:DeleteLogDelivery": f"{_SAR}/list_amazoncloudwatchlogs.html",
    "logs:ListLogDeliveries": f"{_SAR}/list_amazoncloudwatchlogs.html",
    # Handing a role to a service (SNS's SMS delivery-status logging role, cdk_app/components/sms.py).
    "iam:PassRole": f"{_SAR}/list_awsidentityandaccessmanagementiam.html",
    # Calling an API Gateway method with SigV4 (deviceAuth=iam).
    "execute-api:Invoke": f"{_SAR}/list_amazonapigatewaymanagement.html",
}


@cache
def operations_by_prefix() -> dict[str, frozenset[str]]:
    """IAM service prefix (signing name or endpoint prefix) -> lower-cased operation names."""
    session = botocore.session.get_session()
    found: dict[str, set[str]] = {}
    for service in session.get_available_services():
        model = session.get_service_model(service)
        for prefix in {model.metadata.get("signingName"), model.metadata.get("endpointPrefix")} - {None}:
            found.setdefault(str(prefix).lower(), set()).update(o.lower() for o in model.operation_names)
    return {prefix: frozenset(names) for prefix, names in found.items()}


def unknown_action(action: str) -> str | None:
    """Why an action string names nothing IAM can grant (None: it exists)."""
    if action == "*" or action.lower() in {a.lower() for a in IAM_ONLY_ACTIONS}:
        return None
    prefix, separator, name = action.partition(":")
    operations = operations_by_prefix().get(prefix.lower())
    if not separator or not name:
        return "not prefix:Action"
    if operations is None:
        return f"no service with the prefix {prefix!r}"
    if not fnmatch.filter(operations, name.lower()):
        return f"{prefix!r} has no operation matching {name!r}"
    return None


def policy_actions(template: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(logical id, action) for every statement's Action/NotAction, wherever a policy document
    sits (roles, policies, bucket/queue/topic/key policies), and every Lambda permission."""

    def walk(value: Any, logical_id: str) -> Iterator[tuple[str, str]]:
        if isinstance(value, dict):
            for statement in value.get("Statement", []) if isinstance(value.get("Statement"), list) else []:
                for key in ("Action", "NotAction"):
                    actions = statement.get(key, [])
                    for action in actions if isinstance(actions, list) else [actions]:
                        yield logical_id, action
            for child in value.values():
                yield from walk(child, logical_id)
        elif isinstance(value, list):
            for child in value:
                yield from walk(child, logical_id)

    for logical_id, resource in template["Resources"].items():
        yield from walk(resource.get("Properties", {}), logical_id)
        if resource["Type"] == "AWS::Lambda::Permission":
            yield logical_id, resource["Properties"]["Action"]


@pytest.mark.parametrize("fixture", ["synthesized", "synthesized_custom"])
def test_every_action_in_the_template_exists_for_its_service(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    synthesized: Synthesized = request.getfixturevalue(fixture)
    found = list(policy_actions(synthesized.template_json))
    assert len(found) > 50, "the walk missed the policies"
    problems = {
        f"{logical_id}: {action} ({why})" for logical_id, action in found if (why := unknown_action(action))
    }
    assert problems == set()


def test_a_misspelt_or_invented_action_is_refused() -> None:
    assert unknown_action("dynamodb:GetItem") is None
    assert unknown_action("s3:GetObject*") is None
    assert unknown_action("kinesisvideo:GetImages") is None  # kinesis-video-archived-media
    assert unknown_action("dynamodb:GetItems") is not None
    assert unknown_action("rekognition:SearchFaceByImage") is not None
    assert unknown_action("kinesisvideo:GetImagez*") is not None
    assert unknown_action("smartdoor:Unlock") is not None
    assert unknown_action("s3GetObject") is not None


def test_every_iam_only_action_really_is_not_an_operation_name() -> None:
    # An allow-listed name that botocore knows as an operation does not belong in the list.
    for action in IAM_ONLY_ACTIONS:
        prefix, _, name = action.partition(":")
        assert name.lower() not in operations_by_prefix().get(prefix, frozenset()), action
