"""SMS on a real account (docs/sms.md): the origin on every SMS, SNS delivery status logging set
by a custom resource, and the one alarm that emails the owner when a text message fails."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import App

from cdk_app.app import build_app
from cdk_app.config import ConfigError
from tests.infra.synth import TEST_CONTEXT, Synthesized, as_list, statements_of

pytestmark = pytest.mark.infra

FAILURE_LOG_GROUP = {
    "Fn::Join": [
        "",
        [
            "sns/",
            {"Ref": "AWS::Region"},
            "/",
            {"Ref": "AWS::AccountId"},
            "/DirectPublishToPhoneNumber/Failure",
        ],
    ]
}
SMS_SENDERS = ("ask_owner", "issue_passcode")


def _of_type(synthesized: Synthesized, resource_type: str) -> dict[str, dict[str, Any]]:
    return synthesized.template.find_resources(resource_type)


def _sdk_call(resource: dict[str, Any], event: str) -> dict[str, Any]:
    """The AwsCustomResource call for Create/Update/Delete, with the role ARN token put back."""
    value = resource["Properties"][event]
    if isinstance(value, str):
        parsed: dict[str, Any] = json.loads(value)
        return parsed
    parts = value["Fn::Join"][1]
    text = "".join(part if isinstance(part, str) else "<" + part["Fn::GetAtt"][0] + ">" for part in parts)
    parsed = json.loads(text)
    return parsed


def _environment(synthesized: Synthesized, name: str) -> dict[str, Any]:
    function = synthesized.stack.tasks.by_name[name].function
    variables: dict[str, Any] = synthesized.properties(function)["Environment"]["Variables"]
    return variables


def test_every_sms_sender_gets_the_configured_origin(synthesized_custom: Synthesized) -> None:
    for name in SMS_SENDERS:
        variables = _environment(synthesized_custom, name)
        assert variables["SMS_SENDER_ID"] == "SmartDoor"
        assert variables["SMS_ORIGINATION_NUMBER"] == "+18005550100"


def test_no_origin_is_deployed_unless_configured(synthesized: Synthesized) -> None:
    for name in SMS_SENDERS:
        variables = _environment(synthesized, name)
        assert "SMS_SENDER_ID" not in variables and "SMS_ORIGINATION_NUMBER" not in variables


def test_sns_logs_failed_sms_deliveries_only_through_its_own_role(synthesized: Synthesized) -> None:
    # GIVEN the default deployment
    delivery = synthesized.stack.sms_delivery
    assert delivery is not None
    role_id = synthesized.logical_id(delivery.role)
    [(_, setting)] = _of_type(synthesized, "Custom::SmsDeliveryStatusLogging").items()

    # THEN the account setting points SNS at the stack's role, logging failures and 0 % of successes
    for event in ("Create", "Update"):
        call = _sdk_call(setting, event)
        assert (call["service"], call["action"]) == ("SNS", "setSMSAttributes")
        assert call["parameters"] == {
            "attributes": {"DeliveryStatusIAMRole": f"<{role_id}>", "DeliveryStatusSuccessSamplingRate": "0"}
        }
    # AND deleting the stack stops pointing SNS at the deleted role (best effort)
    assert _sdk_call(setting, "Delete")["parameters"] == {"attributes": {"DeliveryStatusIAMRole": ""}}
    assert setting["Properties"]["InstallLatestAwsSdk"] is False

    # AND only SNS may assume the role, which may only write SNS's SMS log groups
    role = synthesized.properties(delivery.role)
    assert [s["Principal"] for s in role["AssumeRolePolicyDocument"]["Statement"]] == [
        {"Service": "sns.amazonaws.com"}
    ]
    [statement] = statements_of(synthesized, delivery.role)
    assert set(statement["Action"]) == {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}
    resource = "".join(
        part if isinstance(part, str) else "{" + part["Ref"] + "}"
        for part in statement["Resource"]["Fn::Join"][1]
    )
    assert resource == (
        "arn:{AWS::Partition}:logs:{AWS::Region}:{AWS::AccountId}:log-group:"
        "sns/{AWS::Region}/{AWS::AccountId}/DirectPublishToPhoneNumber*"
    )


def test_the_account_setting_may_only_set_sms_attributes_and_pass_that_role(synthesized: Synthesized) -> None:
    delivery = synthesized.stack.sms_delivery
    assert delivery is not None
    policy = synthesized.properties(delivery.account_setting.node.find_child("CustomResourcePolicy"))
    statements = policy["PolicyDocument"]["Statement"]
    assert [(s["Action"], s["Resource"]) for s in statements] == [
        ("sns:SetSMSAttributes", "*"),
        ("iam:PassRole", {"Fn::GetAtt": [synthesized.logical_id(delivery.role), "Arn"]}),
    ]
    assert statements[1]["Condition"] == {"StringEquals": {"iam:PassedToService": "sns.amazonaws.com"}}


def test_failed_sms_are_counted_from_the_failure_log_group_which_expires(synthesized: Synthesized) -> None:
    [metric_filter] = _of_type(synthesized, "AWS::Logs::MetricFilter").values()
    properties = metric_filter["Properties"]
    assert properties["LogGroupName"] == FAILURE_LOG_GROUP
    assert properties["FilterPattern"] == '{ $.status = "FAILURE" }'
    # No default value: no data points (and no custom-metric charge) while nothing fails.
    assert properties["MetricTransformations"] == [
        {"MetricName": "SmsDeliveryFailures", "MetricNamespace": "SmartDoor", "MetricValue": "1"}
    ]
    # The group exists (with an expiry) before the filter is put on it.
    [(retention_id, retention)] = _of_type(synthesized, "Custom::LogRetention").items()
    assert retention["Properties"]["LogGroupName"] == FAILURE_LOG_GROUP
    assert retention["Properties"]["RetentionInDays"] == 14
    assert retention_id in as_list(metric_filter["DependsOn"])


def test_one_alarm_emails_the_owner_on_any_failed_sms(synthesized: Synthesized) -> None:
    alarms = [
        alarm["Properties"]
        for alarm in _of_type(synthesized, "AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("MetricName") == "SmsDeliveryFailures"
    ]
    [alarm] = alarms
    topic = {"Ref": synthesized.logical_id(synthesized.stack.alerts.topic)}
    assert alarm["Namespace"] == "SmartDoor"
    assert (alarm["Statistic"], alarm["Period"], alarm["Threshold"]) == ("Sum", 300, 1)
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["AlarmActions"] == [topic]


def test_sms_delivery_logging_can_be_left_to_another_stack(synthesized_custom: Synthesized) -> None:
    # GIVEN -c smsDeliveryLogs=false (another Smart Door in the account already manages it)
    assert synthesized_custom.stack.sms_delivery is None
    assert _of_type(synthesized_custom, "Custom::SmsDeliveryStatusLogging") == {}
    assert _of_type(synthesized_custom, "AWS::Logs::MetricFilter") == {}
    assert not any(
        alarm["Properties"].get("MetricName") == "SmsDeliveryFailures"
        for alarm in _of_type(synthesized_custom, "AWS::CloudWatch::Alarm").values()
    )


@pytest.mark.parametrize(
    ("context", "flag"),
    [
        ({"smsSenderId": "Smart Door"}, "-c smsSenderId="),
        ({"smsSenderId": "123456"}, "-c smsSenderId="),
        ({"smsSenderId": "SmartDoorHome"}, "-c smsSenderId="),
        ({"originationNumber": "18005550100"}, "-c originationNumber="),
        ({"smsDeliveryLogs": "sometimes"}, "-c smsDeliveryLogs="),
    ],
)
def test_a_malformed_sms_setting_stops_synth_naming_the_flag(context: dict[str, str], flag: str) -> None:
    app = App(context={**TEST_CONTEXT, **context})
    with pytest.raises(ConfigError, match=flag):
        build_app(app)
    assert app.node.children == []
