"""Step Functions HTTP Tasks on moto (smartdoor_local.http_tasks): a real request to 127.0.0.1.

A state machine with an `http:invoke` Task, an EventBridge connection with API-key auth (its
key kept, as on AWS, in the connection's secret) and a receiver on 127.0.0.1 that answers
what each test scripts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto import mock_aws
from werkzeug.wrappers import Request, Response

from smartdoor_local.http_tasks import HttpInvoke
from smartdoor_local.mqtt_broker import free_port
from smartdoor_local.workflows import execution_history, wait_for_execution
from tests.wsgi_server import served

REGION = "us-east-1"
KEY = "a-local-webhook-key"
TEMPLATE_URL = "https://lock.example.com/api/webhook/front-door"


@dataclass
class Receiver:
    url: str = ""
    statuses: list[int] = field(default_factory=list)  # answered in turn, then 200
    seen: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)

    def __call__(self, environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        self.seen.append((request.method, request.full_path, dict(request.headers), request.get_data()))
        status = self.statuses.pop(0) if self.statuses else 200
        body = json.dumps({"ok": status < 300})
        return Response(body, status=status, content_type="application/json")(environ, start_response)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    app = Receiver()
    with served(app) as url:
        app.url = url
        yield app


def definition(connection_arn: str, retries: int = 0) -> str:
    return json.dumps(
        {
            "StartAt": "Tell the lock",
            "States": {
                "Tell the lock": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::http:invoke",
                    "Parameters": {
                        "ApiEndpoint": TEMPLATE_URL,
                        "Method": "POST",
                        "Authentication": {"ConnectionArn": connection_arn},
                        "Headers": {"Content-Type": "application/json"},
                        "RequestBody": {"doorId": "front-door", "commandId.$": "$.commandId"},
                    },
                    "Retry": [
                        {
                            "ErrorEquals": ["States.Http.StatusCode.503"],
                            "IntervalSeconds": 1,
                            "MaxAttempts": retries,
                            "BackoffRate": 1,
                        }
                    ],
                    "Catch": [
                        {
                            "ErrorEquals": ["States.ALL"],
                            "ResultPath": "$.failure",
                            "Next": "Lock did not answer",
                        }
                    ],
                    "ResultSelector": {"status.$": "$.StatusCode", "body.$": "$.ResponseBody"},
                    "ResultPath": "$.webhook",
                    "End": True,
                },
                "Lock did not answer": {"Type": "Pass", "End": True},
            },
        }
    )


def run(endpoints: dict[str, str], retries: int = 0) -> tuple[dict[str, Any], list[str], HttpInvoke]:
    moto = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
    with moto, HttpInvoke(endpoints).installed() as invoker:
        connection = boto3.client("events", region_name=REGION).create_connection(
            Name="lock-webhook",
            AuthorizationType="API_KEY",
            AuthParameters={"ApiKeyAuthParameters": {"ApiKeyName": "X-Smartdoor-Key", "ApiKeyValue": KEY}},
        )["ConnectionArn"]
        role = boto3.client("iam").create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        sfn = boto3.client("stepfunctions", region_name=REGION)
        machine = sfn.create_state_machine(
            name="open-lock", definition=definition(connection, retries), roleArn=role
        )["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"commandId": "c-1"}))
        described = wait_for_execution(sfn, execution["executionArn"], timeout=30)
        history = execution_history(sfn, execution["executionArn"])
        failures = [e["taskFailedEventDetails"]["error"] for e in history if "taskFailedEventDetails" in e]
    return json.loads(described.get("output") or "{}"), failures, invoker


def test_a_2xx_answer_is_the_task_result_and_the_request_carries_the_connection_key(
    receiver: Receiver,
) -> None:
    output, failures, _ = run({TEMPLATE_URL: f"{receiver.url}/hook"})
    assert failures == []
    assert output["webhook"] == {"status": 200, "body": {"ok": True}}
    ((method, path, headers, body),) = receiver.seen
    assert (method, path) == ("POST", "/hook?")  # werkzeug's full_path ends with "?"
    assert headers["X-Smartdoor-Key"] == KEY
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"doorId": "front-door", "commandId": "c-1"}


def test_a_non_2xx_answer_fails_the_task_with_its_status_code_and_retries_match_it(
    receiver: Receiver,
) -> None:
    receiver.statuses = [503, 503]
    output, failures, _ = run({TEMPLATE_URL: receiver.url}, retries=2)
    assert failures == ["States.Http.StatusCode.503", "States.Http.StatusCode.503"]
    assert output["webhook"]["status"] == 200
    assert len(receiver.seen) == 3


def test_an_exhausted_retry_is_caught_with_the_status_code_error(receiver: Receiver) -> None:
    receiver.statuses = [500]
    output, failures, _ = run({TEMPLATE_URL: receiver.url}, retries=2)
    assert failures == ["States.Http.StatusCode.500"]  # 500 is not retried by this Retry
    assert output["failure"]["Error"] == "States.Http.StatusCode.500"
    assert "webhook" not in output


def test_no_answer_at_all_is_a_socket_error() -> None:
    output, failures, invoker = run({TEMPLATE_URL: f"http://127.0.0.1:{free_port()}"})
    assert failures == ["States.Http.Socket"]
    assert output["failure"]["Error"] == "States.Http.Socket"
    assert [request.status for request in invoker.requests] == [None]
