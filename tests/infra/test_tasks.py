"""Workflow task Lambdas: packaging, the environment their settings read, least-privilege grants."""

from __future__ import annotations

from typing import Any

import pytest

from cdk_app.constants import TASK_FUNCTIONS
from smartdoor.settings import read_settings
from smartdoor.settings import variables as settings_variables
from tests.infra.synth import (
    LOGS,
    OWNER_PHONE,
    XRAY,
    Synthesized,
    actions_on,
    all_actions,
    as_list,
    deployed_value,
    settings_models,
    statements_of,
)

pytestmark = pytest.mark.infra

ALL_FUNCTIONS = ("stream_match", *TASK_FUNCTIONS)
# Settings a function reads that deliberately keep their code default (not deployment choices).
CODE_DEFAULTS = {"EMISSION_LEASE_SECONDS", "VISIT_RECORD_TTL_SECONDS"}


def _function(synthesized: Synthesized, name: str) -> Any:
    stack = synthesized.stack
    return stack.stream_match.handler if name == "stream_match" else stack.tasks.by_name[name]


@pytest.mark.parametrize("name", ALL_FUNCTIONS)
def test_every_function_runs_its_handler_on_python_313_arm64_traced(
    synthesized: Synthesized, name: str
) -> None:
    function = _function(synthesized, name)
    properties = synthesized.properties(function.function)
    assert properties["Handler"] == f"{name}.handler.handler"
    assert properties["Runtime"] == "python3.13"
    assert properties["Architectures"] == ["arm64"]
    assert properties["TracingConfig"] == {"Mode": "Active"}
    assert properties["LoggingConfig"] == {"LogGroup": {"Ref": synthesized.logical_id(function.log_group)}}
    assert synthesized.properties(function.log_group)["RetentionInDays"] == 14
    assert properties["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == name
    assert "POWERTOOLS_METRICS_NAMESPACE" not in properties["Environment"]["Variables"]


def test_all_functions_share_one_code_asset(synthesized: Synthesized) -> None:
    keys = {
        synthesized.properties(_function(synthesized, n).function)["Code"]["S3Key"] for n in ALL_FUNCTIONS
    }
    assert len(keys) == 1


def test_only_extract_frame_carries_the_pillow_layer(synthesized: Synthesized) -> None:
    pillow = {"Ref": synthesized.logical_id(synthesized.stack.node.find_child("Packaging").pillow)}
    with_pillow = {
        name
        for name in ALL_FUNCTIONS
        if pillow in synthesized.properties(_function(synthesized, name).function)["Layers"]
    }
    assert with_pillow == {"extract_frame"}
    properties = synthesized.properties(synthesized.stack.node.find_child("Packaging").pillow)
    assert properties["CompatibleArchitectures"] == ["arm64"]
    assert properties["CompatibleRuntimes"] == ["python3.13"]


@pytest.mark.parametrize("name", ALL_FUNCTIONS)
def test_the_environment_is_exactly_what_the_handler_settings_read(
    synthesized_custom: Synthesized, name: str
) -> None:
    # GIVEN the handler's own settings model(s) and the deployed environment
    [model] = settings_models(name)
    variables = synthesized_custom.properties(_function(synthesized_custom, name).function)["Environment"][
        "Variables"
    ]
    env = {key: deployed_value(synthesized_custom, value) for key, value in variables.items()}
    read = settings_variables(model)
    # THEN every setting it reads is deployed (except tuning knobs left at their code default)
    assert read - CODE_DEFAULTS <= set(env), f"{name} misses {sorted(read - CODE_DEFAULTS - set(env))}"
    # AND nothing is deployed that it does not read (Powertools' own are universal)
    unread = set(env) - read - {"POWERTOOLS_SERVICE_NAME"}
    assert unread == set(), f"{name} gets {sorted(unread)} it never reads"
    # AND the deployed values pass the model's own validation (as at cold start)
    read_settings(model, env)


def test_ask_owner_links_to_the_cloudfront_site_unless_configured(synthesized: Synthesized) -> None:
    # GIVEN no -c siteUrl: approval links point at the pages' CloudFront distribution
    variables = synthesized.properties(synthesized.stack.tasks.ask_owner.function)["Environment"]["Variables"]
    distribution = synthesized.logical_id(synthesized.stack.web.distribution)
    assert variables["SITE_URL"] == {
        "Fn::Join": ["", ["https://", {"Fn::GetAtt": [distribution, "DomainName"]}]]
    }


def test_ask_owner_gets_the_configured_site_url(synthesized_custom: Synthesized) -> None:
    variables = synthesized_custom.properties(synthesized_custom.stack.tasks.ask_owner.function)[
        "Environment"
    ]["Variables"]
    assert variables["SITE_URL"] == "https://door.example.com"


def test_only_ask_owner_knows_the_owners_phone_and_only_the_code_and_link_makers_the_otp_key(
    synthesized: Synthesized,
) -> None:
    knows_phone, knows_key = set(), set()
    for name in ALL_FUNCTIONS:
        variables = synthesized.properties(_function(synthesized, name).function)["Environment"]["Variables"]
        if OWNER_PHONE in variables.values() or "OWNER_PHONE" in variables:
            knows_phone.add(name)
        if "OTP_SECRET_ARN" in variables:
            knows_key.add(name)
    assert knows_phone == {"ask_owner"}
    # issue_passcode hashes codes with it; ask_owner signs the approval link with it
    assert knows_key == {"issue_passcode", "ask_owner"}


# ------------------------------------------------------------------ least privilege


def _grants(synthesized: Synthesized, name: str) -> dict[str, set[str]]:
    """The function's permissions, keyed by a readable resource name."""
    stack = synthesized.stack
    function = _function(synthesized, name)
    statements = statements_of(synthesized, function.role)
    photos = synthesized.logical_id(stack.storage.photos_bucket)

    def arn(construct: Any) -> dict[str, Any]:
        return {"Fn::GetAtt": [synthesized.logical_id(construct), "Arn"]}

    def objects(prefix: str) -> dict[str, Any]:
        return {"Fn::Join": ["", [{"Fn::GetAtt": [photos, "Arn"]}, f"/{prefix}*"]]}

    resources = {
        "logs": arn(function.log_group),
        "*": "*",
        "video stream": arn(stack.ingestion.video_stream),
        "visits/*": objects("visits/"),
        "snapshots/*": objects("snapshots/"),
        "collection": arn(stack.faces.collection),
        "approvals": arn(stack.storage.approvals_table),
        "visitors": arn(stack.storage.visitors_table),
        "passcodes": arn(stack.storage.passcodes_table),
        "otp key": {"Ref": synthesized.logical_id(stack.storage.otp_secret)},
        "alerts topic": {"Ref": synthesized.logical_id(stack.alerts.topic)},
        "alerts key": arn(stack.alerts.key),
    }
    grants = {label: actions_on(statements, resource) for label, resource in resources.items()}
    granted = {label: actions for label, actions in grants.items() if actions}
    # Nothing may be granted on a resource this test does not know about.
    named = set().union(*granted.values())
    assert all_actions(statements) == named, f"{name}: unexpected grants {all_actions(statements) - named}"
    return granted


EXPECTED_GRANTS: dict[str, dict[str, set[str]]] = {
    "extract_frame": {
        "video stream": {"kinesisvideo:GetDataEndpoint", "kinesisvideo:GetImages"},
        "snapshots/*": {"s3:GetObject"},
        "visits/*": {"s3:PutObject"},
    },
    "check_collection": {
        "collection": {"rekognition:SearchFacesByImage"},
        "visits/*": {"s3:GetObject"},
    },
    "create_approval": {"approvals": {"dynamodb:PutItem", "dynamodb:GetItem"}},
    "ask_owner": {
        "approvals": {"dynamodb:GetItem", "dynamodb:UpdateItem"},
        # the SMS counters, and the owner's push subscriptions (PUSH# items only: test_push.py)
        "passcodes": {"dynamodb:UpdateItem", "dynamodb:Query", "dynamodb:DeleteItem"},
        "visits/*": {"s3:GetObject"},
        "alerts topic": {"sns:Publish"},
        "alerts key": {"kms:GenerateDataKey", "kms:Decrypt"},
        "otp key": {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"},
        "*": XRAY | {"sns:Publish"},  # SMS to a phone number has no resource ARN
    },
    "enrol_face": {
        "collection": {"rekognition:IndexFaces"},
        "visits/*": {"s3:GetObject"},
    },
    "save_visitor": {
        "approvals": {"dynamodb:GetItem"},
        "visitors": {"dynamodb:GetItem", "dynamodb:PutItem"},
    },
    "issue_passcode": {
        "otp key": {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"},
        "passcodes": {
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:DeleteItem",
            "dynamodb:ConditionCheckItem",
            "dynamodb:UpdateItem",
        },
        "visitors": {"dynamodb:GetItem"},
        "*": XRAY | {"sns:Publish"},
    },
}


def test_every_function_that_may_text_counts_its_texts(synthesized: Synthesized) -> None:
    # sns:Publish on '*' is what texting a phone number takes: each such function in the template
    # counts every text against the hourly budgets (docs/sms.md, "Limits").
    texting = set()
    for logical_id, resource in synthesized.resources.items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        role = resource["Properties"]["Role"]["Fn::GetAtt"][0]
        statements = [
            statement
            for policy in synthesized.resources.values()
            if policy["Type"] == "AWS::IAM::Policy" and {"Ref": role} in policy["Properties"]["Roles"]
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        ]
        if any("sns:Publish" in _as_list(s["Action"]) and "*" in _as_list(s["Resource"]) for s in statements):
            variables = resource["Properties"]["Environment"]["Variables"]
            assert {"SMS_BUDGET_TABLE", "SMS_PER_VISITOR_PER_HOUR", "SMS_PER_DOOR_PER_HOUR"} <= set(variables)
            texting.add(logical_id)
    assert len(texting) == 2  # ask_owner and issue_passcode


@pytest.mark.parametrize("name", ["ask_owner", "issue_passcode"])
def test_functions_that_text_may_update_only_the_sms_counters(synthesized: Synthesized, name: str) -> None:
    # UpdateItem on the Passcodes table is limited to partition keys SMS#... (the hourly counters):
    # neither function can touch a code or a failure record through it.
    function = _function(synthesized, name)
    table = {"Fn::GetAtt": [synthesized.logical_id(synthesized.stack.storage.passcodes_table), "Arn"]}
    statements = [
        statement
        for statement in statements_of(synthesized, function.role)
        if "dynamodb:UpdateItem" in _as_list(statement["Action"]) and table in _as_list(statement["Resource"])
    ]
    assert [statement["Condition"] for statement in statements] == [
        {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["SMS#*"]}}
    ]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("name", sorted(EXPECTED_GRANTS))
def test_task_functions_are_granted_exactly_what_they_call(synthesized: Synthesized, name: str) -> None:
    expected = {"logs": LOGS, "*": XRAY, **EXPECTED_GRANTS[name]}
    assert _grants(synthesized, name) == expected


@pytest.mark.parametrize("name", ALL_FUNCTIONS)
def test_no_function_uses_a_managed_policy(synthesized: Synthesized, name: str) -> None:
    role = synthesized.properties(_function(synthesized, name).role)
    assert "ManagedPolicyArns" not in role
    trust = role["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "lambda.amazonaws.com"}]


def test_ask_owner_cannot_complete_its_own_task(synthesized: Synthesized) -> None:
    # The owner's decision comes from the approval API; ask_owner only stores the token.
    statements = statements_of(synthesized, synthesized.stack.tasks.ask_owner.role)
    assert not any(action.startswith("states:") for action in all_actions(statements))


def test_sms_permission_is_the_only_statement_in_its_policy(synthesized: Synthesized) -> None:
    policies = [
        resource["Properties"]
        for logical_id, resource in synthesized.resources.items()
        if resource["Type"] == "AWS::IAM::Policy" and "SmsPolicy" in logical_id
    ]
    assert len(policies) == 2  # ask_owner and issue_passcode
    for policy in policies:
        assert policy["PolicyDocument"]["Statement"] == [
            {"Action": "sns:Publish", "Effect": "Allow", "Resource": "*", "Sid": "SendSmsToPhoneNumbers"}
        ]
        assert len(as_list(policy["Roles"])) == 1


def test_the_code_asset_holds_every_function_and_no_tests_or_caches(synthesized: Synthesized) -> None:
    key = synthesized.properties(synthesized.stack.stream_match.function)["Code"]["S3Key"]
    asset = synthesized.outdir / f"asset.{key.removesuffix('.zip')}"
    assert {p.name for p in asset.iterdir()} >= {"smartdoor", *ALL_FUNCTIONS}
    for name in ALL_FUNCTIONS:
        assert (asset / name / "handler.py").is_file()
    leftovers = [p for p in asset.rglob("*") if p.name in ("__pycache__", "tests") or p.suffix == ".pyc"]
    assert leftovers == []
