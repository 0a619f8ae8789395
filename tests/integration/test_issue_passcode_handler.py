"""The issue_passcode task Lambda on moto: DynamoDB, Secrets Manager and SNS (SMS recorded by moto)."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sns.models import sns_backends
from msgspec import ValidationError

from issue_passcode.handler import handler, reset_adapters
from smartdoor.adapters.notifications import SnsNotifier
from smartdoor.adapters.visitor_store import DynamoVisitorStore, Visitor
from smartdoor.errors import TransientError, VisitorNotFound
from smartdoor.observability import logger
from smartdoor.settings import reset_settings_cache

REGION = "us-east-1"
OTP_KEY = "per-deployment-key-from-secrets-manager-7c1d"
PHONE = "+15557654321"
MASKED = "+1*******321"
DOOR = "front-door"
VISIT = "front-door-1800000000000"
SMS_CODE = re.compile(r"^Smart Door: your code for front-door is (\d{6})\. It expires in 5 minutes\.$")


@dataclass
class FakeLambdaContext:
    function_name: str = "issue_passcode"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{DEFAULT_ACCOUNT_ID}:function:issue_passcode"
    aws_request_id: str = "req-1"


@pytest.fixture
def deployment(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Tables, secret and topic as the stack creates them, and the function's environment."""
    dynamodb = boto3.resource("dynamodb")
    dynamodb.create_table(
        TableName="Passcodes",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.create_table(
        TableName="Visitors",
        KeySchema=[{"AttributeName": "visitorId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "visitorId", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    secret_arn = boto3.client("secretsmanager").create_secret(Name="otp-key", SecretString=OTP_KEY)["ARN"]
    topic_arn = boto3.client("sns").create_topic(Name="alerts")["TopicArn"]
    env = {
        "PASSCODES_TABLE": "Passcodes",
        "VISITORS_TABLE": "Visitors",
        "OTP_SECRET_ARN": secret_arn,
        "ALERTS_TOPIC_ARN": topic_arn,
        "OTP_TTL_SECONDS": "300",
        "SMS_BUDGET_TABLE": "Passcodes",
        "SMS_PER_VISITOR_PER_HOUR": "3",
        "SMS_PER_DOOR_PER_HOUR": "20",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    DynamoVisitorStore("Visitors").put(
        Visitor(visitor_id="v1", name="Ada", phone=PHONE, created_at="2026-11-21T19:00:00Z")
    )
    reset_adapters()
    yield env
    reset_adapters()


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """Everything the shared Powertools logger writes, formatted as in Lambda."""
    stream = io.StringIO()
    capture = logging.StreamHandler(stream)
    capture.setFormatter(logger.registered_formatter)
    std_logger = logging.getLogger(logger.service)
    std_logger.addHandler(capture)
    yield stream
    std_logger.removeHandler(capture)


def sent_sms() -> list[tuple[str, str]]:
    return list(sns_backends[DEFAULT_ACCOUNT_ID][REGION].sms_messages.values())


def code_items() -> list[dict[str, Any]]:
    items = boto3.resource("dynamodb").Table("Passcodes").scan(ConsistentRead=True)["Items"]
    return [item for item in items if item["sk"] == "CODE"]


def invoke(event: dict[str, Any], **adapters: Any) -> dict[str, Any]:
    return handler(event, FakeLambdaContext(), **adapters)  # type: ignore[no-any-return]


@pytest.mark.usefixtures("deployment")
def test_the_visitor_gets_the_code_by_sms_and_the_workflow_never_sees_it() -> None:
    # WHEN the task runs for a known visitor
    result = invoke({"visitorId": "v1", "doorId": DOOR, "visitId": VISIT})
    # THEN one SMS went to the visitor's phone with a 6-digit code
    ((phone, text),) = sent_sms()
    match = SMS_CODE.match(text)
    assert phone == PHONE and match, text
    code = match.group(1)
    # AND the table holds exactly that code's HMAC under the per-deployment key, bound to the door
    digest = hmac.new(OTP_KEY.encode(), f"{DOOR}:{code}".encode(), hashlib.sha256).hexdigest()
    (item,) = code_items()
    assert item["pk"] == f"CODE#{DOOR}#{digest}" and item["visitorId"] == "v1"
    # AND the code item remembers the visit it was issued for
    assert item["visitId"] == VISIT
    # AND the output (which enters the execution history) has the masked phone and no code
    assert set(result) == {"visitorId", "doorId", "visitId", "expiresAt", "sentTo", "held", "heldReason"}
    assert result["visitorId"] == "v1" and result["doorId"] == DOOR and result["sentTo"] == MASKED
    assert result["held"] is False and result["heldReason"] is None
    assert result["visitId"] == VISIT
    assert code not in json.dumps(result) and PHONE not in json.dumps(result)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", result["expiresAt"])
    assert int(item["expiresAt"]) - int(item["issuedAt"]) == 300


@pytest.mark.usefixtures("deployment")
def test_neither_the_code_nor_the_phone_number_is_logged_in_clear(
    captured_logs: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    invoke({"visitorId": "v1", "doorId": DOOR, "visitId": VISIT})
    ((_, text),) = sent_sms()
    code = text.split(" is ")[1][:6]
    written = captured_logs.getvalue() + "".join(capsys.readouterr())
    # THEN the logs record the issue with the masked phone only
    records = [json.loads(line) for line in captured_logs.getvalue().splitlines()]
    assert any(
        r["message"] == "Passcode issued and sent" and r["to"] == MASKED and r["visit_id"] == VISIT
        for r in records
    )
    assert code not in written
    assert PHONE not in written and PHONE[1:] not in written


@pytest.mark.usefixtures("deployment")
def test_a_second_run_replaces_the_first_code() -> None:
    invoke({"visitorId": "v1", "doorId": DOOR, "visitId": VISIT})
    invoke({"visitorId": "v1", "doorId": DOOR, "visitId": VISIT})
    _, (_, second) = sent_sms()
    second_code = second.split(" is ")[1][:6]
    (item,) = code_items()
    digest = hmac.new(OTP_KEY.encode(), f"{DOOR}:{second_code}".encode(), hashlib.sha256).hexdigest()
    assert item["pk"] == f"CODE#{DOOR}#{digest}"


@pytest.mark.usefixtures("deployment")
def test_an_unknown_visitor_raises_visitor_not_found_and_sends_nothing() -> None:
    with pytest.raises(VisitorNotFound):
        invoke({"visitorId": "ghost", "doorId": DOOR, "visitId": VISIT})
    assert sent_sms() == [] and code_items() == []


@pytest.mark.usefixtures("deployment")
@pytest.mark.parametrize(
    "event",
    [
        {"visitorId": "v1", "visitId": VISIT},
        {"doorId": DOOR, "visitId": VISIT},
        {"visitorId": "v1", "doorId": DOOR},
        {"visitorId": "v1", "doorId": "front#door", "visitId": VISIT},
        {"visitorId": "v1", "doorId": DOOR, "visitId": "visits/../x"},
        {"visitorId": "v1", "doorId": DOOR, "visitId": ""},
        {},
    ],
)
def test_a_malformed_input_is_rejected_and_changes_nothing(event: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        invoke(event)
    assert sent_sms() == [] and code_items() == []


@pytest.mark.usefixtures("deployment")
def test_a_throttled_sms_surfaces_as_transient_and_the_retry_sends_a_fresh_code(
    deployment: dict[str, str],
) -> None:
    # GIVEN SNS throttles the first SMS
    sns = boto3.client("sns")
    stubber = Stubber(sns)
    stubber.add_client_error("publish", "Throttling", http_status_code=400)
    # WHEN the task runs, fails, and the state machine retries it
    with stubber, pytest.raises(TransientError):
        invoke(
            {"visitorId": "v1", "doorId": DOOR, "visitId": VISIT},
            notifier=SnsNotifier(deployment["ALERTS_TOPIC_ARN"], sns),
        )
    invoke({"visitorId": "v1", "doorId": DOOR, "visitId": VISIT})
    # THEN the visitor got one SMS, and its code is the one live code
    ((_, text),) = sent_sms()
    code = text.split(" is ")[1][:6]
    digest = hmac.new(OTP_KEY.encode(), f"{DOOR}:{code}".encode(), hashlib.sha256).hexdigest()
    assert [item["pk"] for item in code_items()] == [f"CODE#{DOOR}#{digest}"]


@pytest.mark.usefixtures("deployment")
def test_a_throttled_table_surfaces_as_transient() -> None:
    offline_table = boto3.session.Session().resource("dynamodb").Table("Visitors")
    stubber = Stubber(offline_table.meta.client)
    stubber.add_client_error("get_item", "ProvisionedThroughputExceededException", http_status_code=400)
    with stubber, pytest.raises(TransientError):
        invoke(
            {"visitorId": "v1", "doorId": DOOR, "visitId": VISIT},
            visitors=DynamoVisitorStore("Visitors", table=offline_table),
        )
    assert sent_sms() == []


def visit(number: int) -> str:
    return f"front-door-{1800000000000 + number}"


@pytest.mark.usefixtures("deployment")
def test_past_the_visitors_hourly_budget_nothing_is_texted_and_the_live_code_keeps_working() -> None:
    # GIVEN the visitor was texted three codes this hour (a photo of them held up, three visits)
    for number in range(3):
        assert invoke({"visitorId": "v1", "doorId": DOOR, "visitId": visit(number)})["held"] is False
    (live,) = code_items()
    # WHEN a fourth visit of their face asks for a code
    result = invoke({"visitorId": "v1", "doorId": DOOR, "visitId": visit(3)})
    # THEN no SMS goes and no code is issued: the third code is still the live one
    assert len(sent_sms()) == 3
    assert code_items() == [live]
    # AND the output says so, with a reason the owner's email can carry
    assert result["held"] is True and result["sentTo"] is None and result["expiresAt"] is None
    assert "texted 3 times this hour" in result["heldReason"]


@pytest.mark.usefixtures("deployment")
def test_past_the_doors_hourly_budget_no_visitor_is_texted(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a door allowed two texts an hour, and three visitors
    monkeypatch.setenv("SMS_PER_DOOR_PER_HOUR", "2")
    reset_settings_cache()
    for visitor in ("v2", "v3"):
        DynamoVisitorStore("Visitors").put(
            Visitor(visitor_id=visitor, name=visitor, phone=PHONE, created_at="2026-11-21T19:00:00Z")
        )
    # WHEN each visitor comes once
    results = [
        invoke({"visitorId": v, "doorId": DOOR, "visitId": visit(n)})
        for n, v in enumerate(["v1", "v2", "v3"])
    ]
    # THEN the first two are texted and the third is held by the door's budget (not the visitor's)
    assert [result["held"] for result in results] == [False, False, True]
    assert "this door has caused 2 texts this hour" in results[2]["heldReason"]
    assert len(sent_sms()) == 2
    # AND the held text counted nowhere: v3's own budget is untouched
    table = boto3.resource("dynamodb").Table("Passcodes")
    counters = {
        item["pk"]: int(item["sent"]) for item in table.scan()["Items"] if item["pk"].startswith("SMS#")
    }
    assert counters == {"SMS#door#front-door": 2, "SMS#visitor#v1": 1, "SMS#visitor#v2": 1}
