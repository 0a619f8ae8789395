"""Workflows: Standard state machines from workflows/*.asl.json, logged, traced, least privilege;
and proof that rendering the ASL files (as the workflow tests do) gives what CloudFormation
deploys."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cdk_app.components.workflows import (
    FUNCTION_PLACEHOLDERS,
    Workflow,
    dynamodb_calls,
    placeholders_in,
    workflow_file,
)
from smartdoor_local.workflows import placeholders, render_definition, workflow_path
from tests.infra.synth import Synthesized, actions_on, all_actions, statements_of

pytestmark = pytest.mark.infra

WORKFLOWS = ("unknown_visitor", "known_visitor")
XRAY_AND_LOG_DELIVERY = {
    "logs:CreateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:DescribeLogGroups",
    "logs:DescribeResourcePolicies",
    "logs:GetLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:UpdateLogDelivery",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "xray:PutTelemetryRecords",
    "xray:PutTraceSegments",
}


def _workflow(synthesized: Synthesized, name: str) -> Workflow:
    stack = synthesized.stack
    return stack.unknown_visitor if name == "unknown_visitor" else stack.known_visitor


def _fake_value(intrinsic: Any) -> str:
    """What CloudFormation substitutes for a Ref / GetAtt, made recognisable."""
    if "Ref" in intrinsic:
        return f"name-of-{intrinsic['Ref']}"
    logical_id, attribute = intrinsic["Fn::GetAtt"]
    return f"arn:aws:{attribute.lower()}:us-east-1:111122223333:{logical_id}"


@pytest.mark.parametrize("name", WORKFLOWS)
def test_workflows_are_standard_logged_and_traced(synthesized: Synthesized, name: str) -> None:
    workflow = _workflow(synthesized, name)
    machine = synthesized.properties(workflow.state_machine)
    assert machine["StateMachineType"] == "STANDARD"
    assert machine["TracingConfiguration"] == {"Enabled": True}
    logging = machine["LoggingConfiguration"]
    assert logging["Level"] == "ALL"
    assert logging["Destinations"] == [
        {
            "CloudWatchLogsLogGroup": {
                "LogGroupArn": {"Fn::GetAtt": [synthesized.logical_id(workflow.log_group), "Arn"]}
            }
        }
    ]
    # approval ids (bearer capabilities) and task tokens stay out of the logs
    assert logging["IncludeExecutionData"] is False
    log_group = synthesized.properties(workflow.log_group)
    assert log_group["RetentionInDays"] == 14
    assert log_group["LogGroupName"].startswith("/aws/vendedlogs/states/")


@pytest.mark.parametrize("name", WORKFLOWS)
def test_the_deployed_definition_is_the_asl_file(synthesized: Synthesized, name: str) -> None:
    # GIVEN the state machine's definition as synthesized (a file asset in the cloud assembly)
    machine = synthesized.properties(_workflow(synthesized, name).state_machine)
    asset = synthesized.outdir / f"asset.{machine['DefinitionS3Location']['Key']}"
    # THEN it is the ASL file, byte for byte
    assert asset.read_bytes() == workflow_file(name).read_bytes()


@pytest.mark.parametrize("name", WORKFLOWS)
def test_substitutions_are_exactly_the_placeholders_the_file_uses(
    synthesized: Synthesized, name: str
) -> None:
    machine = synthesized.properties(_workflow(synthesized, name).state_machine)
    path = workflow_path(name)
    assert set(machine["DefinitionSubstitutions"]) == placeholders(path.read_text())
    assert set(machine["DefinitionSubstitutions"]) == placeholders_in(path)


@pytest.mark.parametrize("name", WORKFLOWS)
def test_each_substitution_names_the_intended_resource(synthesized: Synthesized, name: str) -> None:
    stack = synthesized.stack
    substitutions = synthesized.properties(_workflow(synthesized, name).state_machine)[
        "DefinitionSubstitutions"
    ]
    intended = {
        "VisitsTableName": {"Ref": synthesized.logical_id(stack.storage.visits_table)},
        "VisitorsTableName": {"Ref": synthesized.logical_id(stack.storage.visitors_table)},
        "ApprovalsTableName": {"Ref": synthesized.logical_id(stack.storage.approvals_table)},
        "AlertsTopicArn": {"Ref": synthesized.logical_id(stack.alerts.topic)},
        "EventBusName": {"Ref": synthesized.logical_id(stack.events.bus)},
    }
    for placeholder, value in substitutions.items():
        if placeholder in FUNCTION_PLACEHOLDERS:
            # The ARN of the function whose handler is the task named by the placeholder.
            logical_id, attribute = value["Fn::GetAtt"]
            assert attribute == "Arn"
            handler = synthesized.resources[logical_id]["Properties"]["Handler"]
            assert handler == f"{FUNCTION_PLACEHOLDERS[placeholder]}.handler.handler", placeholder
        else:
            assert value == intended[placeholder], placeholder


@pytest.mark.parametrize("name", WORKFLOWS)
def test_rendering_the_asl_file_equals_what_cloudformation_deploys(
    synthesized: Synthesized, name: str
) -> None:
    # GIVEN the synthesized definition and substitutions, with deploy-time values filled in
    machine = synthesized.properties(_workflow(synthesized, name).state_machine)
    deployed_text = (synthesized.outdir / f"asset.{machine['DefinitionS3Location']['Key']}").read_text()
    values = {key: _fake_value(value) for key, value in machine["DefinitionSubstitutions"].items()}
    deployed = deployed_text
    for key, value in values.items():  # what CloudFormation does with DefinitionSubstitutions
        deployed = deployed.replace("${" + key + "}", value)
    # WHEN the workflow tests' renderer renders the repository's file with the same values
    rendered = render_definition(workflow_path(name), values)
    # THEN both are the same state machine, with no placeholder left
    assert rendered == deployed
    assert "${" not in rendered
    json.loads(rendered)


@pytest.mark.parametrize("name", WORKFLOWS)
def test_state_machine_role_allows_exactly_what_the_asl_calls(synthesized: Synthesized, name: str) -> None:
    # GIVEN the ASL file and the state machine's role
    stack = synthesized.stack
    workflow = _workflow(synthesized, name)
    path = workflow_file(name)
    used = placeholders_in(path)
    statements = statements_of(synthesized, workflow.state_machine.role)
    # THEN it may invoke the task functions the file names, and no other
    functions = {
        p: {"Fn::GetAtt": [synthesized.logical_id(stack.tasks.by_name[task].function), "Arn"]}
        for p, task in FUNCTION_PLACEHOLDERS.items()
    }
    for placeholder, arn in functions.items():
        expected = {"lambda:InvokeFunction"} if placeholder in used else set()
        assert actions_on(statements, arn) == expected, placeholder
    # AND make exactly the DynamoDB calls its service integrations make
    tables = {
        "VisitsTableName": stack.storage.visits_table,
        "VisitorsTableName": stack.storage.visitors_table,
        "ApprovalsTableName": stack.storage.approvals_table,
    }
    calls = dynamodb_calls(path)
    for placeholder, table in tables.items():
        arn = {"Fn::GetAtt": [synthesized.logical_id(table), "Arn"]}
        assert actions_on(statements, arn) == calls.get(placeholder, set()), placeholder
    # AND publish to the alerts topic (with its key) and the bus only if it names them
    topic = {"Ref": synthesized.logical_id(stack.alerts.topic)}
    key = {"Fn::GetAtt": [synthesized.logical_id(stack.alerts.key), "Arn"]}
    bus = {"Fn::GetAtt": [synthesized.logical_id(stack.events.bus), "Arn"]}
    assert actions_on(statements, topic) == ({"sns:Publish"} if "AlertsTopicArn" in used else set())
    assert actions_on(statements, key) == (
        {"kms:Decrypt", "kms:GenerateDataKey"} if "AlertsTopicArn" in used else set()
    )
    assert actions_on(statements, bus) == ({"events:PutEvents"} if "EventBusName" in used else set())
    # AND the only wildcard is what X-Ray and log delivery require
    assert actions_on(statements, "*") == XRAY_AND_LOG_DELIVERY
    assert not any(action.startswith("states:") for action in all_actions(statements))


def test_the_asl_files_make_the_dynamodb_calls_the_design_expects() -> None:
    # Guards the derivation above against reading nothing: the files do use DynamoDB.
    assert dynamodb_calls(workflow_file("known_visitor")) == {
        "VisitsTableName": {"dynamodb:PutItem"},
        "VisitorsTableName": {"dynamodb:GetItem"},
    }
    unknown = dynamodb_calls(workflow_file("unknown_visitor"))
    assert "dynamodb:PutItem" in unknown["VisitsTableName"]
    assert unknown["ApprovalsTableName"] <= {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}


# ------------------------------------------------------------------ routing from the bus


ROUTES = {"UnknownFaceDetected": "unknown_visitor", "KnownFaceDetected": "known_visitor"}


@pytest.mark.parametrize(("detail_type", "name"), sorted(ROUTES.items()))
def test_face_events_start_their_workflow(synthesized: Synthesized, detail_type: str, name: str) -> None:
    stack = synthesized.stack
    rule = synthesized.properties(stack.events.rules[detail_type])
    assert rule["EventBusName"] == {"Ref": synthesized.logical_id(stack.events.bus)}
    assert rule["EventPattern"] == {"source": ["smartdoor"], "detail-type": [detail_type]}
    [target] = rule["Targets"]
    assert target["Arn"] == {"Ref": synthesized.logical_id(_workflow(synthesized, name).state_machine)}
    assert "Input" not in target and "InputPath" not in target  # the whole event is the input


@pytest.mark.parametrize("detail_type", sorted(ROUTES))
def test_each_target_retries_and_has_a_dead_letter_queue(synthesized: Synthesized, detail_type: str) -> None:
    stack = synthesized.stack
    [target] = synthesized.properties(stack.events.rules[detail_type])["Targets"]
    queue = stack.events.dead_letter_queues[detail_type]
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [synthesized.logical_id(queue), "Arn"]}}
    retry = target["RetryPolicy"]
    assert 1 <= retry["MaximumRetryAttempts"] <= 20
    assert 60 <= retry["MaximumEventAgeInSeconds"] <= 24 * 3600
    assert synthesized.properties(queue)["SqsManagedSseEnabled"] is True


@pytest.mark.parametrize("detail_type", sorted(ROUTES))
def test_a_failed_delivery_raises_an_alarm(synthesized: Synthesized, detail_type: str) -> None:
    stack = synthesized.stack
    queue_name = {
        "Fn::GetAtt": [synthesized.logical_id(stack.events.dead_letter_queues[detail_type]), "QueueName"]
    }
    topic = {"Ref": synthesized.logical_id(stack.alerts.topic)}
    alarms = [
        alarm["Properties"]
        for alarm in synthesized.template.find_resources("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
        and {"Name": "QueueName", "Value": queue_name} in alarm["Properties"]["Dimensions"]
    ]
    assert len(alarms) == 1
    assert alarms[0]["Threshold"] == 1
    assert alarms[0]["AlarmActions"] == [topic]


def test_events_may_start_only_their_own_state_machine(synthesized: Synthesized) -> None:
    for detail_type, name in ROUTES.items():
        [target] = synthesized.properties(synthesized.stack.events.rules[detail_type])["Targets"]
        role_id = target["RoleArn"]["Fn::GetAtt"][0]
        statements = [
            s
            for r in synthesized.resources.values()
            if r["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in r["Properties"]["Roles"]
            for s in r["Properties"]["PolicyDocument"]["Statement"]
        ]
        machine = {"Ref": synthesized.logical_id(_workflow(synthesized, name).state_machine)}
        assert statements == [{"Action": "states:StartExecution", "Effect": "Allow", "Resource": machine}]


@pytest.mark.parametrize("name", WORKFLOWS)
def test_a_failed_execution_raises_an_alarm(synthesized: Synthesized, name: str) -> None:
    machine = {"Ref": synthesized.logical_id(_workflow(synthesized, name).state_machine)}
    topic = {"Ref": synthesized.logical_id(synthesized.stack.alerts.topic)}
    watching = []
    for alarm in synthesized.template.find_resources("AWS::CloudWatch::Alarm").values():
        properties = alarm["Properties"]
        metrics = {
            query["MetricStat"]["Metric"]["MetricName"]
            for query in properties.get("Metrics", [])
            if "MetricStat" in query
            and {"Name": "StateMachineArn", "Value": machine} in query["MetricStat"]["Metric"]["Dimensions"]
        }
        if metrics:
            watching.append((metrics, properties["AlarmActions"]))
    assert watching == [({"ExecutionsFailed", "ExecutionsTimedOut"}, [topic])]
