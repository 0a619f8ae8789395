"""Doorbell infrastructure: the Express session state machine and the rules that start it, the
snapshot path (bucket events -> rule -> function), the four functions' environments and
least-privilege grants, and the door device routes with their API key and usage plan.

`synthesized` is the default deployment (faceSource=images, deviceAuth=apiKey);
`synthesized_doorbell` has a stream processor and IAM-signed device routes. cdk-nag passes on
both (synth raises otherwise); cfn-lint runs on both in test_compliance-style."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cfnlint.api import lint_file
from cfnlint.config import ManualArgs

from cdk_app.components.doorbell import (
    DEVICE_BURST_LIMIT,
    DEVICE_DAILY_QUOTA,
    DEVICE_RATE_LIMIT,
    SESSION_FUNCTION_PLACEHOLDERS,
    Doorbell,
)
from cdk_app.components.functions import SmartDoorFunction
from cdk_app.components.workflows import dynamodb_calls, placeholders_in, workflow_file
from smartdoor.settings import read_settings
from smartdoor.settings import variables as settings_variables
from smartdoor_local.workflows import render_definition
from tests.infra.synth import (
    LOGS,
    XRAY,
    Synthesized,
    actions_on,
    all_actions,
    deployed_value,
    settings_models,
    statements_of,
    synthesize,
)

pytestmark = pytest.mark.infra

FUNCTIONS = ("open_session", "sample_door", "stream_processor", "process_snapshot")
RING = "/doors/{doorId}/ring"
SNAPSHOTS = "/doors/{doorId}/snapshots"


@pytest.fixture(scope="session")
def synthesized_doorbell(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """An account that still has Rekognition streaming video, with IAM-signed door devices and
    non-default session settings."""
    return synthesize(
        tmp_path_factory.mktemp("cdk-out-doorbell"),
        faceSource="streamProcessor",
        deviceAuth="iam",
        samplingIntervalSeconds="2",
        sessionSeconds="45",
        maxFramesPerSession="20",
        maxFramesPerDay="500",
        maxEmptySamples="4",
    )


def _doorbell(synthesized: Synthesized) -> Doorbell:
    return synthesized.stack.doorbell


def _function(synthesized: Synthesized, name: str) -> SmartDoorFunction:
    function: SmartDoorFunction = getattr(_doorbell(synthesized), name)
    return function


def _variables(synthesized: Synthesized, name: str) -> dict[str, Any]:
    variables: dict[str, Any] = synthesized.properties(_function(synthesized, name).function)["Environment"][
        "Variables"
    ]
    return variables


# ------------------------------------------------------------------ functions


@pytest.mark.parametrize("fixture", ["synthesized", "synthesized_doorbell"])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_each_function_gets_exactly_what_its_settings_read_and_valid_values(
    request: pytest.FixtureRequest, fixture: str, name: str
) -> None:
    synthesized: Synthesized = request.getfixturevalue(fixture)
    properties = synthesized.properties(_function(synthesized, name).function)
    assert properties["Handler"] == f"{name}.handler.handler"
    assert properties["Runtime"] == "python3.13" and properties["Architectures"] == ["arm64"]
    assert properties["TracingConfig"] == {"Mode": "Active"}
    env = {key: deployed_value(synthesized, value) for key, value in _variables(synthesized, name).items()}
    [model] = settings_models(name)
    read = settings_variables(model)
    unread = set(env) - read - {"POWERTOOLS_SERVICE_NAME"}
    assert unread == set(), f"{name} gets {sorted(unread)} it never reads"
    required = settings_variables(model, required_only=True)
    assert required <= set(env)
    read_settings(model, env)


def test_session_settings_follow_the_configuration(synthesized_doorbell: Synthesized) -> None:
    sample = _variables(synthesized_doorbell, "sample_door")
    assert (
        sample["SAMPLING_INTERVAL_SECONDS"],
        sample["MAX_FRAMES_PER_SESSION"],
        sample["MAX_FRAMES_PER_DAY"],
        sample["MAX_EMPTY_SAMPLES"],
    ) == ("2", "20", "500", "4")
    opened = _variables(synthesized_doorbell, "open_session")
    assert (opened["FACE_SOURCE"], opened["SESSION_SECONDS"]) == ("streamProcessor", "45")
    assert _variables(synthesized_doorbell, "process_snapshot")["MAX_FRAMES_PER_DAY"] == "500"


def test_defaults_are_the_documented_ones(synthesized: Synthesized) -> None:
    sample = _variables(synthesized, "sample_door")
    assert (
        sample["SAMPLING_INTERVAL_SECONDS"],
        sample["MAX_FRAMES_PER_SESSION"],
        sample["MAX_FRAMES_PER_DAY"],
        sample["MAX_EMPTY_SAMPLES"],
    ) == ("1", "15", "1000", "5")
    assert _variables(synthesized, "open_session")["SESSION_SECONDS"] == "30"
    assert _variables(synthesized, "open_session")["FACE_SOURCE"] == "images"


def test_only_a_stream_processor_deployment_names_its_processor(
    synthesized: Synthesized, synthesized_doorbell: Synthesized
) -> None:
    assert "STREAM_PROCESSOR_NAME" not in _variables(synthesized, "stream_processor")
    processor = synthesized_doorbell.stack.faces.stream_processor
    assert processor is not None
    assert _variables(synthesized_doorbell, "stream_processor")["STREAM_PROCESSOR_NAME"] == {
        "Ref": synthesized_doorbell.logical_id(processor)
    }
    # ... and a deployment that only watches never samples the camera itself
    assert "VIDEO_STREAM_ARN" not in _variables(synthesized_doorbell, "sample_door")


def _grants(synthesized: Synthesized, name: str) -> dict[str, set[str]]:
    stack = synthesized.stack
    function = _function(synthesized, name)
    statements = statements_of(synthesized, function.role)
    photos = synthesized.logical_id(stack.storage.photos_bucket)

    def arn(construct: Any) -> dict[str, Any]:
        return {"Fn::GetAtt": [synthesized.logical_id(construct), "Arn"]}

    resources: dict[str, Any] = {
        "logs": arn(function.log_group),
        "*": "*",
        "visits table": arn(stack.storage.visits_table),
        "video stream": arn(stack.ingestion.video_stream),
        "collection": arn(stack.faces.collection),
        "face-search stream": arn(stack.ingestion.face_search_stream),
        "snapshots/*": {"Fn::Join": ["", [{"Fn::GetAtt": [photos, "Arn"]}, "/snapshots/*"]]},
        "alerts topic": {"Ref": synthesized.logical_id(stack.alerts.topic)},
        "alerts key": arn(stack.alerts.key),
        "snapshot dead letters": arn(stack.doorbell.snapshot_dead_letters),
    }
    if stack.faces.stream_processor is not None:
        resources["stream processor"] = arn(stack.faces.stream_processor)
    grants = {label: actions_on(statements, resource) for label, resource in resources.items()}
    granted = {label: actions for label, actions in grants.items() if actions}
    named = set().union(*granted.values())
    assert all_actions(statements) == named, f"{name}: unexpected grants {all_actions(statements) - named}"
    return granted


EMAIL = {"alerts topic": {"sns:Publish"}, "alerts key": {"kms:GenerateDataKey", "kms:Decrypt"}}
SEARCH_AND_WRITE = {
    "collection": {"rekognition:SearchFacesByImage"},
    "face-search stream": {"kinesis:PutRecords"},
}
# Lambda's on-failure destination (SqsDestination grants these on the queue).
LAMBDA_ON_FAILURE = {"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"}
EXPECTED_GRANTS: dict[str, dict[str, dict[str, set[str]]]] = {
    "synthesized": {
        "open_session": {"visits table": {"dynamodb:GetItem", "dynamodb:PutItem"}},
        "sample_door": {
            "visits table": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"},
            "video stream": {
                "kinesisvideo:GetDataEndpoint",
                "kinesisvideo:GetImages",
                "kinesisvideo:ListFragments",
            },
            **SEARCH_AND_WRITE,
            **EMAIL,
        },
        "stream_processor": {},
        "process_snapshot": {
            "visits table": {"dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:UpdateItem"},
            "snapshots/*": {"s3:GetObject"},
            "snapshot dead letters": LAMBDA_ON_FAILURE,
            **SEARCH_AND_WRITE,
            **EMAIL,
        },
    },
    "synthesized_doorbell": {
        "open_session": {"visits table": {"dynamodb:GetItem", "dynamodb:PutItem"}},
        "sample_door": {
            "visits table": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"},
            **EMAIL,
        },
        "stream_processor": {
            "stream processor": {
                "rekognition:StartStreamProcessor",
                "rekognition:StopStreamProcessor",
                "rekognition:DescribeStreamProcessor",
            }
        },
        "process_snapshot": {
            "visits table": {"dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:UpdateItem"},
            "snapshots/*": {"s3:GetObject"},
            "snapshot dead letters": LAMBDA_ON_FAILURE,
            **SEARCH_AND_WRITE,
            **EMAIL,
        },
    },
}


@pytest.mark.parametrize("fixture", ["synthesized", "synthesized_doorbell"])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_functions_are_granted_exactly_what_they_call(
    request: pytest.FixtureRequest, fixture: str, name: str
) -> None:
    synthesized: Synthesized = request.getfixturevalue(fixture)
    expected = {"logs": LOGS, "*": XRAY, **EXPECTED_GRANTS[fixture][name]}
    assert _grants(synthesized, name) == expected


# ------------------------------------------------------------------ the session workflow


def test_the_session_is_an_express_state_machine_logged_and_traced(synthesized: Synthesized) -> None:
    doorbell = _doorbell(synthesized)
    machine = synthesized.properties(doorbell.session)
    assert machine["StateMachineType"] == "EXPRESS"
    assert machine["TracingConfiguration"] == {"Enabled": True}
    logging = machine["LoggingConfiguration"]
    assert logging["Level"] == "ALL"
    # Express executions keep no history: the logs, with data, are the record.
    assert logging["IncludeExecutionData"] is True
    log_group = synthesized.properties(doorbell.session_logs)
    assert log_group["RetentionInDays"] == 14
    assert log_group["LogGroupName"].startswith("/aws/vendedlogs/states/")


def test_the_deployed_session_is_the_asl_file_with_its_placeholders(synthesized: Synthesized) -> None:
    machine = synthesized.properties(_doorbell(synthesized).session)
    asset = synthesized.outdir / f"asset.{machine['DefinitionS3Location']['Key']}"
    assert asset.read_bytes() == workflow_file("doorbell_session").read_bytes()
    substitutions = machine["DefinitionSubstitutions"]
    assert set(substitutions) == placeholders_in(workflow_file("doorbell_session"))
    for placeholder, function in SESSION_FUNCTION_PLACEHOLDERS.items():
        logical_id, attribute = substitutions[placeholder]["Fn::GetAtt"]
        assert attribute == "Arn"
        assert synthesized.resources[logical_id]["Properties"]["Handler"] == f"{function}.handler.handler"
    assert substitutions["VisitsTableName"] == {
        "Ref": synthesized.logical_id(synthesized.stack.storage.visits_table)
    }
    rendered = render_definition(
        workflow_file("doorbell_session"), {key: f"value-of-{key}" for key in substitutions}
    )
    assert json.loads(rendered)["TimeoutSeconds"] < 300  # Express executions end at 5 minutes


def test_the_session_role_invokes_its_three_functions_and_only_closes_sessions(
    synthesized: Synthesized,
) -> None:
    doorbell = _doorbell(synthesized)
    statements = statements_of(synthesized, doorbell.session.role)
    functions = [
        {"Fn::GetAtt": [synthesized.logical_id(f.function), "Arn"]}
        for f in (doorbell.open_session, doorbell.sample_door, doorbell.stream_processor)
    ]
    for function in functions:
        assert actions_on(statements, function) == {"lambda:InvokeFunction"}
    visits = {"Fn::GetAtt": [synthesized.logical_id(synthesized.stack.storage.visits_table), "Arn"]}
    assert actions_on(statements, visits) == {"dynamodb:UpdateItem"}
    assert dynamodb_calls(workflow_file("doorbell_session")) == {"VisitsTableName": {"dynamodb:UpdateItem"}}
    invoke = [s for s in statements if "lambda:InvokeFunction" in json.dumps(s["Action"])]
    assert sum(len(s["Resource"]) if isinstance(s["Resource"], list) else 1 for s in invoke) == 3


@pytest.mark.parametrize("detail_type", ["DoorbellPressed", "MotionDetected"])
def test_rings_and_motion_on_the_bus_start_the_session(synthesized: Synthesized, detail_type: str) -> None:
    stack = synthesized.stack
    rule = synthesized.properties(stack.events.rules[detail_type])
    assert rule["EventBusName"] == {"Ref": synthesized.logical_id(stack.events.bus)}
    assert rule["EventPattern"] == {"source": ["smartdoor"], "detail-type": [detail_type]}
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Ref": synthesized.logical_id(_doorbell(synthesized).session)}
    assert "DeadLetterConfig" in target and target["RetryPolicy"]["MaximumRetryAttempts"] > 0


# ------------------------------------------------------------------ snapshots


def test_the_photos_bucket_tells_eventbridge_and_snapshots_reach_the_function(
    synthesized: Synthesized,
) -> None:
    stack = synthesized.stack
    doorbell = _doorbell(synthesized)
    bucket = synthesized.properties(stack.storage.photos_bucket)
    assert bucket["NotificationConfiguration"] == {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}
    # no notification custom resource (and its Lambda) is needed for that
    assert not synthesized.template.find_resources("Custom::S3BucketNotifications")
    rule = synthesized.properties(doorbell.snapshot_rule)
    assert "EventBusName" not in rule  # S3 publishes on the default bus
    assert rule["EventPattern"] == {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": [{"Ref": synthesized.logical_id(stack.storage.photos_bucket)}]},
            "object": {"key": [{"prefix": "snapshots/"}]},
        },
    }
    (target,) = rule["Targets"]
    assert target["Arn"] == {
        "Fn::GetAtt": [synthesized.logical_id(doorbell.process_snapshot.function), "Arn"]
    }
    assert target["DeadLetterConfig"]["Arn"] == {
        "Fn::GetAtt": [synthesized.logical_id(doorbell.snapshot_dead_letters), "Arn"]
    }
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 4}


def test_a_snapshot_that_keeps_failing_in_lambda_lands_in_the_same_dead_letter_queue(
    synthesized: Synthesized,
) -> None:
    # GIVEN the rule's asynchronous invocation of process_snapshot (cfn-lint-serverless ES1007)
    doorbell = _doorbell(synthesized)
    function = {"Ref": synthesized.logical_id(doorbell.process_snapshot.function)}
    queue_arn = {"Fn::GetAtt": [synthesized.logical_id(doorbell.snapshot_dead_letters), "Arn"]}
    # THEN Lambda's own retries end in the snapshot dead-letter queue, which the role may write to
    (config,) = synthesized.template.find_resources("AWS::Lambda::EventInvokeConfig").values()
    assert config["Properties"]["FunctionName"] == function
    assert config["Properties"]["MaximumRetryAttempts"] == 2
    assert config["Properties"]["DestinationConfig"] == {"OnFailure": {"Destination": queue_arn}}
    statements = statements_of(synthesized, doorbell.process_snapshot.role)
    assert "sqs:SendMessage" in actions_on(statements, queue_arn)


def test_undelivered_snapshots_failing_snapshots_and_failing_sessions_alarm_the_owner(
    synthesized: Synthesized,
) -> None:
    doorbell = _doorbell(synthesized)
    alarms = json.dumps(synthesized.template.find_resources("AWS::CloudWatch::Alarm"))
    topic = {"Ref": synthesized.logical_id(synthesized.stack.alerts.topic)}
    for watched in (
        {"Fn::GetAtt": [synthesized.logical_id(doorbell.snapshot_dead_letters), "QueueName"]},
        {"Ref": synthesized.logical_id(doorbell.process_snapshot.function)},
        {"Ref": synthesized.logical_id(doorbell.session)},
    ):
        assert json.dumps(watched) in alarms, watched
    assert json.dumps(topic) in alarms


# ------------------------------------------------------------------ device routes


def _method(synthesized: Synthesized, resource: Any) -> dict[str, Any]:
    resource_id = synthesized.logical_id(resource)
    [method] = [
        r["Properties"]
        for r in synthesized.resources.values()
        if r["Type"] == "AWS::ApiGateway::Method" and r["Properties"]["ResourceId"] == {"Ref": resource_id}
    ]
    return method


@pytest.mark.parametrize("route", ["ring_resource", "snapshots_resource"])
def test_device_routes_need_the_devices_api_key_by_default(synthesized: Synthesized, route: str) -> None:
    method = _method(synthesized, getattr(_doorbell(synthesized), route))
    assert method["HttpMethod"] == "POST"
    assert method["ApiKeyRequired"] is True
    assert method["AuthorizationType"] == "NONE"
    assert method["Integration"]["Type"] == "AWS_PROXY"
    assert method["RequestParameters"] == {"method.request.path.doorId": True}


@pytest.mark.parametrize("route", ["ring_resource", "snapshots_resource"])
def test_device_routes_can_be_iam_signed_instead(synthesized_doorbell: Synthesized, route: str) -> None:
    method = _method(synthesized_doorbell, getattr(_doorbell(synthesized_doorbell), route))
    assert method["AuthorizationType"] == "AWS_IAM"
    assert method.get("ApiKeyRequired") in (None, False)
    assert not synthesized_doorbell.template.find_resources("AWS::ApiGateway::ApiKey")


def test_owner_and_visitor_routes_stay_keyless(synthesized: Synthesized) -> None:
    api = synthesized.stack.api
    for method in (api.show_approval, api.decide_approval, api.unlock_door):
        properties = synthesized.properties(method)
        assert properties.get("ApiKeyRequired") in (None, False)
        assert properties["AuthorizationType"] == "NONE"


def test_the_devices_usage_plan_throttles_and_caps_them_per_day(synthesized: Synthesized) -> None:
    doorbell = _doorbell(synthesized)
    plan = synthesized.properties(doorbell.usage_plan)
    assert plan["Throttle"] == {"RateLimit": DEVICE_RATE_LIMIT, "BurstLimit": DEVICE_BURST_LIMIT}
    assert plan["Quota"] == {"Limit": DEVICE_DAILY_QUOTA, "Period": "DAY"}
    (stage,) = plan["ApiStages"]
    assert stage["ApiId"] == {"Ref": synthesized.logical_id(synthesized.stack.api.rest_api)}
    keys = synthesized.template.find_resources("AWS::ApiGateway::UsagePlanKey")
    (key,) = keys.values()
    assert key["Properties"]["UsagePlanId"] == {"Ref": synthesized.logical_id(doorbell.usage_plan)}
    assert key["Properties"]["KeyType"] == "API_KEY"
    outputs = synthesized.template_json["Outputs"]
    assert any("DeviceApiKeyId" in name for name in outputs)


def test_device_bodies_must_be_empty_objects(synthesized: Synthesized) -> None:
    method = _method(synthesized, _doorbell(synthesized).ring_resource)
    model_id = method["RequestModels"]["application/json"]["Ref"]
    schema = synthesized.resources[model_id]["Properties"]["Schema"]
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert schema["maxProperties"] == 0


# ------------------------------------------------------------------ compliance


def test_cfn_lint_finds_no_errors_with_a_stream_processor_and_iam_devices(
    synthesized_doorbell: Synthesized,
) -> None:
    matches = lint_file(
        synthesized_doorbell.template_path, config=ManualArgs(regions=["us-east-1", "eu-west-1"])
    )
    assert [f"{m.rule.id} {m.message}" for m in matches if m.rule.id not in {"W3005"}] == []


def test_the_workflow_tests_substitute_the_same_function_names_as_the_stack() -> None:
    # The workflow world renders the session from the template the local stack reads.
    from tests.workflows.conftest import world_deployer
    from tests.workflows.doorbell_world import SESSION_WORKFLOW

    session = world_deployer().state_machine(SESSION_WORKFLOW)
    assert set(SESSION_FUNCTION_PLACEHOLDERS) <= set(session.substitutions)
