"""Web Push in the template: the routes, the least-privilege grants on the owner's subscriptions,
the layer, and no key material anywhere in the template (the VAPID key is derived at run time from
the deployment's generated secret)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.infra.synth import Synthesized, as_list, statements_of, synthesize

PUSH_STATEMENT = "OwnersPushSubscriptions"


@pytest.fixture(scope="module")
def without_push(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("cdk-out-no-push"), webPush="false")


def _push_statements(synthesized: Synthesized, function: Any) -> list[dict[str, Any]]:
    return [s for s in statements_of(synthesized, function.role) if s.get("Sid") == PUSH_STATEMENT]


def _layers(synthesized: Synthesized, function: Any) -> list[Any]:
    return synthesized.properties(function.function)["Layers"]


def _functions_with_layer(synthesized: Synthesized, layer: Any) -> set[str]:
    ref = {"Ref": synthesized.logical_id(layer)}
    stack = synthesized.stack
    every = {**stack.tasks.by_name, "api": stack.api.handler}
    return {name for name, function in every.items() if ref in _layers(synthesized, function)}


def test_only_ask_owner_and_the_api_touch_subscriptions_and_only_the_push_items(
    synthesized: Synthesized,
) -> None:
    stack = synthesized.stack
    passcodes = {"Fn::GetAtt": [synthesized.logical_id(stack.storage.passcodes_table), "Arn"]}
    wanted = {
        "ask_owner": {"dynamodb:Query", "dynamodb:DeleteItem"},
        "api": {"dynamodb:Query", "dynamodb:PutItem", "dynamodb:DeleteItem"},
    }
    every = {**stack.tasks.by_name, "api": stack.api.handler}
    for name, function in every.items():
        statements = _push_statements(synthesized, function)
        if name not in wanted:
            assert statements == [], name
            continue
        [statement] = statements
        assert set(as_list(statement["Action"])) == wanted[name]
        assert as_list(statement["Resource"]) == [passcodes]  # no index, no other table
        assert statement["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["PUSH#*"]}}


def test_the_webpush_layer_is_built_from_wheels_and_carried_only_where_push_is_sent(
    synthesized: Synthesized,
) -> None:
    packaging = synthesized.stack.node.find_child("Packaging")
    layer = synthesized.properties(packaging.webpush)
    assert layer["CompatibleArchitectures"] == ["arm64"]
    assert layer["CompatibleRuntimes"] == ["python3.13"]
    assert "cryptography==" in layer["Description"] and "py-vapid==" in layer["Description"]
    assert _functions_with_layer(synthesized, packaging.webpush) == {"ask_owner", "api"}


def test_ask_owner_and_the_api_get_the_subscriptions_table_and_the_owner_as_vapid_subject(
    synthesized: Synthesized,
) -> None:
    stack = synthesized.stack
    table = {"Ref": synthesized.logical_id(stack.storage.passcodes_table)}
    ask = synthesized.properties(stack.tasks.ask_owner.function)["Environment"]["Variables"]
    api = synthesized.properties(stack.api.function)["Environment"]["Variables"]
    assert ask["PUSH_SUBSCRIPTIONS_TABLE"] == api["PUSH_SUBSCRIPTIONS_TABLE"] == table
    assert ask["VAPID_SUBJECT"].startswith("mailto:") and "@" in ask["VAPID_SUBJECT"]
    assert "VAPID_SUBJECT" not in api


def test_no_key_material_is_in_the_template(synthesized: Synthesized) -> None:
    # The VAPID private key is derived from the generated OTP secret inside the functions; the
    # template holds no key, no PEM, no second secret.
    text = json.dumps(synthesized.template_json)
    assert "PRIVATE KEY" not in text and "BEGIN" not in text
    secrets = [r for r in synthesized.resources.values() if r["Type"] == "AWS::SecretsManager::Secret"]
    assert len(secrets) == 1
    assert "SecretString" not in secrets[0]["Properties"]
    for function in [*synthesized.stack.tasks.by_name.values(), synthesized.stack.api.handler]:
        variables = synthesized.properties(function.function)["Environment"]["Variables"]
        assert not [name for name in variables if "PRIVATE" in name or name.startswith("VAPID_KEY")]


def test_webpush_false_leaves_no_route_grant_layer_or_setting(without_push: Synthesized) -> None:
    stack = without_push.stack
    text = json.dumps(without_push.template_json)
    assert "push-subscription" not in text and "PUSH_SUBSCRIPTIONS_TABLE" not in text
    assert "VAPID_SUBJECT" not in text
    assert not [r for r in without_push.resources.values() if "py-vapid" in json.dumps(r)]
    for function in [*stack.tasks.by_name.values(), stack.api.handler]:
        assert _push_statements(without_push, function) == []


def test_the_layer_build_is_the_same_script_as_pillows() -> None:
    script = (Path(__file__).parents[2] / "scripts" / "build_layer.sh").read_text()
    assert "webpush)" in script and "--only-binary=:all:" in script
