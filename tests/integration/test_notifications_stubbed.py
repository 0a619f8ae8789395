"""The SNS notifier against botocore's Stubber: the SMS Publish request is validated against the
real SNS API model, with the message attributes SNS documents for SMS ("Publishing to a mobile
phone", https://docs.aws.amazon.com/sns/latest/dg/sms_publish-to-phone.html)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from smartdoor.adapters.notifications import SmsOrigin, SnsNotifier
from smartdoor.errors import SmsNotDelivered, TransientError

PHONE = "+15550123467"
TOPIC = "arn:aws:sns:us-east-1:123456789012:smartdoor-alerts"
TRANSACTIONAL = {"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}}


@pytest.fixture
def sns() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("sns", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def test_an_sms_without_an_origin_is_transactional_only(sns: tuple[Any, Stubber]) -> None:
    client, stubber = sns
    stubber.add_response(
        "publish",
        {"MessageId": "m-1"},
        {"PhoneNumber": PHONE, "Message": "code 123456", "MessageAttributes": TRANSACTIONAL},
    )
    assert SnsNotifier(TOPIC, client).send_sms(PHONE, "code 123456") == "m-1"


def test_an_sms_carries_the_configured_sender_id_and_origination_number(sns: tuple[Any, Stubber]) -> None:
    # GIVEN a deployment with -c smsSenderId=SmartDoor -c originationNumber=+18005550100
    client, stubber = sns
    origin = SmsOrigin(sender_id="SmartDoor", origination_number="+18005550100")
    stubber.add_response(
        "publish",
        {"MessageId": "m-2"},
        {
            "PhoneNumber": PHONE,
            "Message": "hello",
            "MessageAttributes": {
                **TRANSACTIONAL,
                "AWS.SNS.SMS.SenderID": {"DataType": "String", "StringValue": "SmartDoor"},
                "AWS.MM.SMS.OriginationNumber": {"DataType": "String", "StringValue": "+18005550100"},
            },
        },
    )
    # WHEN an SMS is sent THEN the request (checked against SNS's model) names both
    SnsNotifier(TOPIC, client, sms_origin=origin).send_sms(PHONE, "hello")


def test_emails_carry_no_sms_attributes(sns: tuple[Any, Stubber]) -> None:
    client, stubber = sns
    stubber.add_response(
        "publish",
        {"MessageId": "m-3"},
        {"TopicArn": TOPIC, "Subject": "Someone is at door", "Message": "body"},
    )
    SnsNotifier(TOPIC, client, sms_origin=SmsOrigin(sender_id="SmartDoor")).send_email(
        "Someone is at door", "body"
    )


@pytest.mark.parametrize("code", ["InvalidParameter", "InvalidParameterValue", "AuthorizationError"])
def test_an_sms_refused_for_good_is_sms_not_delivered_naming_only_the_code(
    sns: tuple[Any, Stubber], code: str, caplog: pytest.LogCaptureFixture
) -> None:
    client, stubber = sns
    stubber.add_client_error(
        "publish",
        service_error_code=code,
        service_message=f"Invalid parameter: PhoneNumber Reason: {PHONE} is not valid to publish to",
        http_status_code=400 if code != "AuthorizationError" else 403,
    )
    with caplog.at_level(logging.INFO), pytest.raises(SmsNotDelivered) as refused:
        SnsNotifier(TOPIC, client).send_sms(PHONE, "hello")
    assert refused.value.code == code
    assert PHONE not in str(refused.value) and refused.value.__cause__ is None
    assert PHONE not in caplog.text


@pytest.mark.parametrize(("code", "status"), [("Throttled", 400), ("InternalError", 500)])
def test_throttling_and_server_errors_are_transient(sns: tuple[Any, Stubber], code: str, status: int) -> None:
    client, stubber = sns
    stubber.add_client_error("publish", service_error_code=code, http_status_code=status)
    with pytest.raises(TransientError):
        SnsNotifier(TOPIC, client).send_sms(PHONE, "hello")
