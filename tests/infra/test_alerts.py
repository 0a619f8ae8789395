"""Alerts: the owner's topic and the alarms that notify it."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Match

from tests.infra.synth import OWNER_EMAIL, Synthesized

pytestmark = pytest.mark.infra


def _alarms(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    return synthesized.template.find_resources("AWS::CloudWatch::Alarm")


def _alarms_on(synthesized: Synthesized, metric_name: str, dimension_value: Any) -> list[dict[str, Any]]:
    return [
        alarm["Properties"]
        for alarm in _alarms(synthesized).values()
        if alarm["Properties"].get("MetricName") == metric_name
        and any(d["Value"] == dimension_value for d in alarm["Properties"].get("Dimensions", []))
    ]


def test_the_alerts_topic_is_encrypted_and_emails_the_owner(synthesized: Synthesized) -> None:
    alerts = synthesized.stack.alerts
    topic_id = synthesized.logical_id(alerts.topic)
    topic = synthesized.properties(alerts.topic)
    assert topic["KmsMasterKeyId"] == {"Fn::GetAtt": [synthesized.logical_id(alerts.key), "Arn"]}
    synthesized.template.has_resource_properties(
        "AWS::SNS::Subscription",
        {"TopicArn": {"Ref": topic_id}, "Protocol": "email", "Endpoint": OWNER_EMAIL},
    )


def test_the_alerts_topic_refuses_plain_http(synthesized: Synthesized) -> None:
    topic_id = synthesized.logical_id(synthesized.stack.alerts.topic)
    synthesized.template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "Topics": [{"Ref": topic_id}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
                        )
                    ]
                )
            },
        },
    )


def test_cloudwatch_may_use_the_topic_key_so_alarms_are_delivered(synthesized: Synthesized) -> None:
    key = synthesized.properties(synthesized.stack.alerts.key)
    assert key["EnableKeyRotation"] is True
    cloudwatch = [
        s
        for s in key["KeyPolicy"]["Statement"]
        if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert len(cloudwatch) == 1
    assert set(cloudwatch[0]["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}


def test_every_alarm_notifies_the_alerts_topic(synthesized: Synthesized) -> None:
    topic = {"Ref": synthesized.logical_id(synthesized.stack.alerts.topic)}
    alarms = _alarms(synthesized)
    assert alarms
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == [topic]
        assert alarm["Properties"]["TreatMissingData"] == "notBreaching"


def test_the_match_lambda_falling_behind_raises_an_alarm(synthesized: Synthesized) -> None:
    function = {"Ref": synthesized.logical_id(synthesized.stack.stream_match.function)}
    [iterator_age] = _alarms_on(synthesized, "IteratorAge", function)
    assert iterator_age["Namespace"] == "AWS/Lambda"
    assert iterator_age["Statistic"] == "Maximum"
    assert 0 < iterator_age["Threshold"] <= 5 * 60 * 1000  # milliseconds


def test_match_lambda_errors_raise_an_alarm(synthesized: Synthesized) -> None:
    function = {"Ref": synthesized.logical_id(synthesized.stack.stream_match.function)}
    [errors] = _alarms_on(synthesized, "Errors", function)
    assert errors["Threshold"] == 1
    assert errors["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_a_record_in_the_match_dead_letter_queue_raises_an_alarm(synthesized: Synthesized) -> None:
    queue = {"Fn::GetAtt": [synthesized.logical_id(synthesized.stack.stream_match.failures), "QueueName"]}
    [depth] = _alarms_on(synthesized, "ApproximateNumberOfMessagesVisible", queue)
    assert depth["Namespace"] == "AWS/SQS"
    assert depth["Threshold"] == 1
    assert depth["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


@pytest.mark.parametrize("fixture", ["synthesized", "synthesized_snapshots"])
def test_a_workflow_alarm_sums_failed_and_timed_out_executions_a_quiet_one_counting_zero(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    synthesized: Synthesized = request.getfixturevalue(fixture)
    for alarm in _alarms(synthesized).values():
        queries = alarm["Properties"].get("Metrics")
        if not queries:
            continue
        [expression] = [q for q in queries if "Expression" in q]
        read = {q["Id"]: q["MetricStat"]["Metric"]["MetricName"] for q in queries if "MetricStat" in q}
        # one metric-math expression over the two metrics; without FILL a period in which one of
        # them has no datapoint would make the sum missing, and a missing sum never alarms
        assert expression["Expression"] == " + ".join(f"FILL({name}, 0)" for name in read)
        assert sorted(read.values()) == ["ExecutionsFailed", "ExecutionsTimedOut"]
        assert expression["ReturnData"] is not False and all(
            q.get("ReturnData") is False for q in queries if "MetricStat" in q
        )
