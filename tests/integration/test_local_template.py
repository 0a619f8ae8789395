"""The local stack is built from the synthesized template (smartdoor_local.emulation), so it
cannot drift from cdk_app/: every resource of the template is either built locally or skipped by
a written rule, and every local function's environment is its template environment except the
named local overrides."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smartdoor.settings import UnknownSettingVariable, project_variables, read_settings
from smartdoor_local.emulation import template
from smartdoor_local.emulation.model import Intrinsics, UnresolvedIntrinsic
from smartdoor_local.emulation.overrides import ENVIRONMENT_OVERRIDES
from smartdoor_local.emulation.resources import (
    CREATED_TYPES,
    SKIPPED_TYPES,
    function_skip_reason,
    type_rule,
)
from smartdoor_local.stack import LocalConfig, LocalStack


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(LocalConfig(), moto_port=None, poll_stream=False) as running:
        yield running


def test_every_resource_type_of_the_template_is_built_or_skipped_with_a_reason(stack: LocalStack) -> None:
    # GIVEN the synthesized template WHEN each resource type is looked up in the local rules
    unaccounted = {
        resource["Type"]
        for resource in stack.model.resources.values()
        if not (type_rule(resource["Type"], CREATED_TYPES) or type_rule(resource["Type"], SKIPPED_TYPES))
    }
    # THEN none is left out by omission
    assert unaccounted == set()


def test_type_rules_match_families_but_not_strangers() -> None:
    assert type_rule("AWS::ApiGateway::Stage", SKIPPED_TYPES) is not None
    assert type_rule("Custom::Anything", SKIPPED_TYPES) is not None
    assert type_rule("AWS::DynamoDB::GlobalTable", CREATED_TYPES) is None
    assert type_rule("AWS::DynamoDB::GlobalTable", SKIPPED_TYPES) is None


def test_every_table_of_the_template_exists_locally_with_its_keys_and_ttl(stack: LocalStack) -> None:
    dynamodb = stack.client("dynamodb")
    for table in stack.model.tables():
        name = stack.refs.refs[table.logical_id]
        description = dynamodb.describe_table(TableName=name)["Table"]
        assert description["KeySchema"] == table.key_schema
        ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        assert ttl.get("AttributeName") == table.ttl_attribute


def test_every_function_of_the_template_runs_locally_or_is_skipped_by_a_rule(stack: LocalStack) -> None:
    for function in stack.model.functions():
        local_name = stack.refs.refs[function.logical_id]
        runs = local_name in stack.runtime.names
        assert runs != (function_skip_reason(function) is not None), function.logical_id


def test_every_state_machine_and_rule_of_the_template_exists_locally(stack: LocalStack) -> None:
    sfn, events = stack.client("stepfunctions"), stack.client("events")
    for machine in stack.model.state_machines():
        arn = stack.refs.refs[machine.logical_id]
        assert sfn.describe_state_machine(stateMachineArn=arn)["type"] == machine.type
    for rule in stack.model.rules():
        bus = stack.refs.refs[rule.bus] if rule.bus else "default"
        assert events.describe_rule(Name=_rule_name(rule.logical_id), EventBusName=bus)["State"] == "ENABLED"


def _rule_name(logical_id: str) -> str:
    from smartdoor_local.emulation.resources import stem

    return stem(logical_id)


def test_the_rules_start_what_the_template_says(stack: LocalStack) -> None:
    events = stack.client("events")
    for rule in stack.model.rules():
        bus = stack.refs.refs[rule.bus] if rule.bus else "default"
        targets = events.list_targets_by_rule(Rule=_rule_name(rule.logical_id), EventBusName=bus)["Targets"]
        expected = {stack.refs.refs[f"{target.logical_id}.Arn"] for target in rule.targets}
        assert {target["Arn"] for target in targets} == expected


def test_each_local_environment_is_the_template_one_but_the_named_overrides(stack: LocalStack) -> None:
    intrinsics = Intrinsics(stack.refs.refs)
    for function in stack.model.functions():
        if function_skip_reason(function) is not None:
            continue
        local = dict(stack.runtime.function(stack.refs.refs[function.logical_id]).environment)
        overridden = {name for name in function.environment if name in ENVIRONMENT_OVERRIDES}
        rendered = {
            name: intrinsics.text(value)
            for name, value in function.environment.items()
            if name not in overridden
        }
        assert {name: value for name, value in local.items() if name not in overridden} == rendered
        assert overridden <= set(local)


def test_the_overrides_are_the_local_server_and_the_local_visit_gap(stack: LocalStack) -> None:
    environments = {name: stack.runtime.function(name).environment for name in stack.runtime.names}
    assert environments["ask_owner"]["SITE_URL"] == stack.site_url
    assert environments["api"]["SITE_ORIGIN"] == stack.site_url.rstrip("/")
    assert environments["stream_match"]["VISIT_GAP_SECONDS"] == str(stack.config.visit_gap_seconds)


def test_every_local_function_reads_its_settings_from_its_environment(stack: LocalStack) -> None:
    # GIVEN every handler imported (so every settings class is known) WHEN each function's
    # settings are read from its local environment THEN none holds a variable it does not read
    import importlib

    from tests.infra.synth import settings_models

    for name in stack.runtime.names:
        importlib.import_module(f"{name}.handler")
    for name in stack.runtime.names:
        for model in settings_models(name):
            read_settings(model, stack.runtime.function(name).environment)


def test_settings_refuse_another_functions_variable() -> None:
    from api.settings import ApiSettings

    environ = {
        "APPROVALS_TABLE": "a",
        "VISITORS_TABLE": "v",
        "PASSCODES_TABLE": "p",
        "PHOTOS_BUCKET": "b",
        "EVENT_BUS_NAME": "e",
        "ALERTS_TOPIC_ARN": "t",
        "OTP_SECRET_ARN": "s",
        "DOOR_ID": "front-door",
        "AWS_LAMBDA_FUNCTION_NAME": "api",
        "POWERTOOLS_SERVICE_NAME": "api",
    }
    import issue_passcode.handler  # noqa: F401 - declares OTP_TTL_SECONDS

    assert read_settings(ApiSettings, environ).door_id == "front-door"
    assert "OTP_TTL_SECONDS" in project_variables()
    with pytest.raises(UnknownSettingVariable, match="OTP_TTL_SECONDS"):
        read_settings(ApiSettings, environ | {"OTP_TTL_SECONDS": "300"})


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        ({"Ref": "Table"}, "visits"),
        ({"Fn::GetAtt": ["Table", "Arn"]}, "arn:table/visits"),
        ({"Fn::GetAtt": "Table.Arn"}, "arn:table/visits"),
        ({"Fn::Join": ["-", ["a", {"Ref": "Table"}]]}, "a-visits"),
        ({"Fn::Sub": "${AWS::Region}/${Table}"}, "us-east-1/visits"),
        ({"Fn::Sub": ["${X}!", {"X": {"Ref": "Table"}}]}, "visits!"),
        ({"Fn::Select": [1, {"Fn::Split": [",", "a,b,c"]}]}, "b"),
        ({"bucket": {"name": [{"Ref": "Table"}]}}, {"bucket": {"name": ["visits"]}}),
    ],
)
def test_intrinsics_render_against_the_local_names(value: Any, rendered: Any) -> None:
    refs = {"Table": "visits", "Table.Arn": "arn:table/visits", "AWS::Region": "us-east-1"}
    assert Intrinsics(refs).resolve(value) == rendered


def test_an_intrinsic_naming_nothing_local_fails() -> None:
    with pytest.raises(UnresolvedIntrinsic, match="Nothing"):
        Intrinsics({}).resolve({"Ref": "Nothing"})


def test_the_template_is_cached_per_source_hash_and_context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a cache that already holds a template for one context
    monkeypatch.setenv(template.CACHE_VARIABLE, str(tmp_path))
    context = LocalConfig().context()
    cached = {"template": {"Resources": {}}, "definitions": {}, "workflows": {}}
    (tmp_path / f"{template.source_hash(context)}.json").write_text(json.dumps(cached))
    # WHEN it is asked for THEN it is read, not synthesized
    assert template.synthesized(context).resources == {}
    # AND another context is another entry
    assert template.source_hash(context) != template.source_hash(context | {"doorId": "back-door"})
