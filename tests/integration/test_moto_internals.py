"""The moto internals the emulation and the test worlds patch or read still have the shape they rely on.

moto's backends are not a public API: a release may rename a method, reorder its parameters or
move an attribute, and a patch that no longer fits would fail far from the cause (a workflow
that never starts, an SMS that is never recorded). Each case names where the internal is used:

- smartdoor_local/lambda_runtime.py: `LambdaSimpleBackend.invoke`, `get_function(...).function_arn`;
- smartdoor_local/outbox.py, tests/workflows/conftest.py (SnsOutage, sms): `SNSBackend.publish`,
  `list_subscriptions_by_topic`, `sms_messages`, `sns_backends`, `SNSException`;
- smartdoor_local/event_rules.py, tests/workflows/conftest.py (`matches`): `Rule.send_to_targets`,
  `Rule.targets`, `Rule.event_pattern.matches_event`, `EventsBackend.put_events`, `EventPattern.load`;
- smartdoor_local/event_rules.py: `stepfunctions.responses.get_backend(...).start_execution`;
- tests/integration/conftest.py, test_approval_store.py: `DynamoDBBackend`'s item methods;
- smartdoor_local/iot.py (MqttPublish): `IoTDataPlaneBackend.publish(topic, payload)`, called by
  moto's Publish response with those keywords;
- smartdoor_local/http_tasks.py (HttpInvoke): `state_task_factory.state_task_service_for`,
  `CustomErrorName.__init__`, `StateTaskService` (`_eval_service_task`, `_from_error`), an events
  `Connection.secret_arn` whose secret holds the auth parameters in snake case;
- smartdoor_local/stack.py (MotoServer): `DomainDispatcherApplication`, `create_backend_app`,
  `MotoRequestHandler.make_environ`.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID

REGION = "us-east-1"


def parameters(function: Callable[..., Any]) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_lambda_invoke_takes_what_the_runtime_patches_in() -> None:
    from moto.awslambda_simple.models import LambdaSimpleBackend

    assert parameters(LambdaSimpleBackend.invoke) == [
        "self",
        "function_name",
        "qualifier",
        "body",
        "headers",
        "response_headers",
    ]
    assert parameters(LambdaSimpleBackend.get_function)[:3] == ["self", "function_name_or_arn", "qualifier"]


def test_a_deployed_function_has_the_arn_the_runtime_reads() -> None:
    from moto.awslambda.models import lambda_backends

    from smartdoor_local.lambda_runtime import placeholder_package

    with mock_aws():
        role = boto3.client("iam").create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        created = boto3.client("lambda", region_name=REGION).create_function(
            FunctionName="f",
            Runtime="python3.13",
            Role=role,
            Handler="f.handler",
            Code={"ZipFile": placeholder_package()},
        )
        deployed = lambda_backends[DEFAULT_ACCOUNT_ID][REGION].get_function("f", None)
        assert deployed.function_arn == created["FunctionArn"]


def test_sns_publish_and_subscriptions_have_the_outbox_shape() -> None:
    from moto.sns.models import SNSBackend

    # Positional: message, arn, phone_number, subject (the outbox passes them in this order).
    assert parameters(SNSBackend.publish)[:5] == ["self", "message", "arn", "phone_number", "subject"]
    assert parameters(SNSBackend.list_subscriptions_by_topic)[:2] == ["self", "topic_arn"]


def test_sns_keeps_texts_and_subscriptions_where_the_worlds_read_them() -> None:
    from moto.sns.exceptions import SNSException
    from moto.sns.models import sns_backends

    with mock_aws():
        sns = boto3.client("sns", region_name=REGION)
        topic = sns.create_topic(Name="t")["TopicArn"]
        sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="owner@example.com")
        sns.publish(PhoneNumber="+15550100000", Message="hello")
        backend = sns_backends[DEFAULT_ACCOUNT_ID][REGION]
        assert list(backend.sms_messages.values()) == [("+15550100000", "hello")]
        subscriptions, _ = backend.list_subscriptions_by_topic(topic_arn=topic)
        assert [(s.protocol, s.endpoint) for s in subscriptions] == [("email", "owner@example.com")]
    error = SNSException("InternalErrorException", "outage")
    assert error.code == "InternalErrorException"


def test_event_rules_have_the_delivery_shape() -> None:
    from moto.events.models import EventPattern, EventsBackend, Rule

    assert parameters(Rule.send_to_targets) == ["self", "original_event", "transform_input"]
    assert parameters(EventsBackend.put_events) == ["self", "events"]
    pattern = EventPattern.load(json.dumps({"source": ["smartdoor"], "detail-type": ["DoorbellPressed"]}))
    assert pattern.matches_event({"source": "smartdoor", "detail-type": "DoorbellPressed", "detail": {}})
    assert not pattern.matches_event({"source": "smartdoor", "detail-type": "MotionDetected", "detail": {}})


def test_a_rule_keeps_its_targets_and_pattern_where_delivery_reads_them() -> None:
    from moto.events.models import events_backends

    with mock_aws():
        events = boto3.client("events", region_name=REGION)
        events.create_event_bus(Name="bus")
        events.put_rule(Name="r", EventBusName="bus", EventPattern=json.dumps({"source": ["smartdoor"]}))
        arn = f"arn:aws:states:{REGION}:{DEFAULT_ACCOUNT_ID}:stateMachine:m"
        events.put_targets(Rule="r", EventBusName="bus", Targets=[{"Id": "t", "Arn": arn}])
        backend = events_backends[DEFAULT_ACCOUNT_ID][REGION]
        (rule,) = [r for bus in backend.event_buses.values() for r in bus.rules.values()]
        assert [target["Arn"] for target in rule.targets] == [arn]
        assert rule.event_pattern.matches_event({"source": "smartdoor", "detail": {}})


def test_step_functions_start_execution_has_the_delivery_shape() -> None:
    from moto.stepfunctions.models import StepFunctionBackend
    from moto.stepfunctions.responses import get_backend

    assert parameters(get_backend) == ["account", "region"]
    assert parameters(StepFunctionBackend.start_execution) == [
        "self",
        "state_machine_arn",
        "name",
        "execution_input",
    ]
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):  # type: ignore[arg-type]
        role = boto3.client("iam").create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        machine = boto3.client("stepfunctions", region_name=REGION).create_state_machine(
            name="m",
            definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
            roleArn=role,
        )["stateMachineArn"]
        execution = get_backend(DEFAULT_ACCOUNT_ID, REGION).start_execution(
            machine, name="e", execution_input="{}"
        )
        assert execution.execution_arn.endswith(":e")


@pytest.mark.parametrize(
    "name", ["get_item", "put_item", "update_item", "delete_item", "transact_write_items"]
)
def test_dynamodb_item_methods_exist_for_the_atomicity_wrapper(name: str) -> None:
    from moto.dynamodb.models import DynamoDBBackend

    assert callable(getattr(DynamoDBBackend, name))


def test_the_moto_server_parts_exist_with_the_shape_the_stack_serves() -> None:
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )

    assert parameters(DomainDispatcherApplication.__init__)[:2] == ["self", "create_app"]
    assert callable(create_backend_app)
    assert parameters(MotoRequestHandler.make_environ) == ["self"]


def test_iot_data_publish_reaches_the_backend_method_the_broker_bridge_wraps() -> None:
    from moto.iotdata.models import IoTDataPlaneBackend, iotdata_backends

    assert parameters(IoTDataPlaneBackend.publish) == ["self", "topic", "payload"]
    seen: list[tuple[str, bytes]] = []
    original = IoTDataPlaneBackend.publish

    def publish(backend: Any, topic: str, payload: bytes) -> None:
        seen.append((topic, payload))
        original(backend, topic, payload)

    IoTDataPlaneBackend.publish = publish  # type: ignore[method-assign]
    try:
        with mock_aws():
            client = boto3.client("iot-data", region_name=REGION)
            client.publish(topic="smartdoor/front-door/commands", qos=1, payload=b'{"a": 1}')
            backend = iotdata_backends[DEFAULT_ACCOUNT_ID][REGION]
            assert backend.published_payloads == [("smartdoor/front-door/commands", b'{"a": 1}')]
    finally:
        IoTDataPlaneBackend.publish = original  # type: ignore[method-assign]
    assert seen == [("smartdoor/front-door/commands", b'{"a": 1}')]


def test_the_task_factory_knows_no_http_integration_and_refuses_states_error_names() -> None:
    from antlr4 import RecognitionException
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (
        StateTaskService,
    )

    assert parameters(state_task_factory.state_task_service_for) == ["service_name"]
    with pytest.raises(RecognitionException):  # if moto learns http:invoke, drop the emulation
        state_task_factory.state_task_service_for(service_name="http")
    assert parameters(CustomErrorName.__init__) == ["self", "error_name"]
    with pytest.raises(ValueError, match="States"):
        CustomErrorName(error_name="States.Http.StatusCode.503")
    assert parameters(StateTaskService._eval_service_task) == [
        "self",
        "env",
        "resource_runtime_part",
        "normalised_parameters",
        "state_credentials",
    ]
    assert parameters(StateTaskService._from_error) == ["self", "env", "ex"]


def test_a_connection_keeps_its_api_key_in_a_secret_in_snake_case() -> None:
    from moto.events.models import events_backends
    from moto.secretsmanager.models import secretsmanager_backends

    with mock_aws():
        boto3.client("events", region_name=REGION).create_connection(
            Name="c",
            AuthorizationType="API_KEY",
            AuthParameters={"ApiKeyAuthParameters": {"ApiKeyName": "X-Key", "ApiKeyValue": "v"}},
        )
        connection = events_backends[DEFAULT_ACCOUNT_ID][REGION].connections["c"]
        secret = secretsmanager_backends[DEFAULT_ACCOUNT_ID][REGION].get_secret_value(
            connection.secret_arn, None, None
        )
        assert json.loads(secret["SecretString"]) == {"api_key_name": "X-Key", "api_key_value": "v"}
