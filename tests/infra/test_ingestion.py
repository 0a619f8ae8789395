"""Ingestion: the camera's video stream, the face-search record stream and the match Lambda."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match

from tests.infra.synth import Synthesized, actions_on, statements_of

pytestmark = pytest.mark.infra


def test_the_door_camera_keeps_video_for_at_least_24_hours(synthesized: Synthesized) -> None:
    # GIVEN the default deployment
    # WHEN we read the Kinesis Video stream
    video = synthesized.properties(synthesized.stack.ingestion.video_stream)
    # THEN the door camera's video is kept long enough to fetch a visitor's frame the next day
    assert video["DataRetentionInHours"] >= 24
    assert video["Name"] == "SmartDoor-front-door"


def test_video_retention_follows_the_configuration(synthesized_custom: Synthesized) -> None:
    # GIVEN a deployment configured with -c videoRetentionHours=168
    # THEN the stream keeps a week of video
    video = synthesized_custom.properties(synthesized_custom.stack.ingestion.video_stream)
    assert video["DataRetentionInHours"] == 168


def test_face_search_records_are_encrypted_at_rest(synthesized: Synthesized) -> None:
    stream = synthesized.properties(synthesized.stack.ingestion.face_search_stream)
    assert stream["StreamEncryption"] == {"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"}
    assert stream["RetentionPeriodHours"] >= 24


def test_the_match_lambda_consumes_the_stream_with_bounded_failure_handling(synthesized: Synthesized) -> None:
    # GIVEN the match Lambda and the stream
    stack = synthesized.stack
    match_function = synthesized.logical_id(stack.stream_match.function)
    stream = synthesized.logical_id(stack.ingestion.face_search_stream)
    failures = synthesized.logical_id(stack.stream_match.failures)
    # THEN its event source batches briefly, retries a bounded number of times, splits failing
    # batches, accepts partial batch responses and parks what still fails in SQS
    synthesized.template.resource_count_is("AWS::Lambda::EventSourceMapping", 1)
    synthesized.template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "FunctionName": {"Ref": match_function},
            "EventSourceArn": {"Fn::GetAtt": [stream, "Arn"]},
            "StartingPosition": "LATEST",
            "MaximumBatchingWindowInSeconds": Match.any_value(),
            "BisectBatchOnFunctionError": True,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [failures, "Arn"]}}},
        },
    )
    mapping = next(iter(synthesized.template.find_resources("AWS::Lambda::EventSourceMapping").values()))
    settings = mapping["Properties"]
    assert 1 <= settings["MaximumBatchingWindowInSeconds"] <= 5
    assert 0 <= settings["MaximumRetryAttempts"] <= 5  # -1 (the default) would retry until expiry
    assert settings["MaximumRecordAgeInSeconds"] > 0


def test_the_on_failure_queue_is_encrypted_and_tls_only(synthesized: Synthesized) -> None:
    failures = synthesized.stack.stream_match.failures
    queue = synthesized.properties(failures)
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["MessageRetentionPeriod"] == 14 * 24 * 3600
    synthesized.template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "Queues": [{"Ref": synthesized.logical_id(failures)}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Action": "sqs:*",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            },
        },
    )


def test_the_match_lambda_is_packaged_like_every_function(synthesized: Synthesized) -> None:
    function = synthesized.properties(synthesized.stack.stream_match.function)
    assert function["Handler"] == "stream_match.handler.handler"
    assert function["Runtime"] == "python3.13"
    assert function["Architectures"] == ["arm64"]
    assert function["TracingConfig"] == {"Mode": "Active"}
    assert function["Layers"] == [
        {"Ref": synthesized.logical_id(synthesized.stack.node.find_child("Packaging").msgspec)},
        {
            "Fn::Sub": "arn:${AWS::Partition}:lambda:${AWS::Region}:017000801446:layer:"
            "AWSLambdaPowertoolsPythonV3-python313-arm64:27"
        },
    ]
    log_group = synthesized.stack.stream_match.handler.log_group
    assert function["LoggingConfig"] == {"LogGroup": {"Ref": synthesized.logical_id(log_group)}}
    assert synthesized.properties(log_group)["RetentionInDays"] == 14


def test_the_match_lambda_gets_the_match_rules_and_resource_names(synthesized: Synthesized) -> None:
    stack = synthesized.stack
    variables = synthesized.properties(stack.stream_match.function)["Environment"]["Variables"]
    assert variables["DOOR_ID"] == "front-door"
    assert variables["VISITS_TABLE"] == {"Ref": synthesized.logical_id(stack.storage.visits_table)}
    assert variables["EVENT_BUS_NAME"] == {"Ref": synthesized.logical_id(stack.events.bus)}
    assert variables["VIDEO_STREAM_ARN"] == {
        "Fn::GetAtt": [synthesized.logical_id(stack.ingestion.video_stream), "Arn"]
    }
    assert float(variables["FACE_MATCH_THRESHOLD"]) == 90
    assert int(variables["MIN_FRAMES_FOR_DECISION"]) == 2
    assert int(variables["VISIT_GAP_SECONDS"]) == 120
    for quality in (
        "MIN_FACE_CONFIDENCE",
        "MIN_FACE_SIZE_RATIO",
        "MIN_FACE_SHARPNESS",
        "MIN_FACE_BRIGHTNESS",
    ):
        float(variables[quality])
    assert variables["POWERTOOLS_SERVICE_NAME"] == "stream_match"
    assert "POWERTOOLS_METRICS_NAMESPACE" not in variables  # counts are log fields, not metrics
    assert "OWNER_PHONE" not in variables


def test_the_match_lambda_may_only_touch_its_own_resources(synthesized: Synthesized) -> None:
    # GIVEN the match Lambda's role
    stack = synthesized.stack
    statements = statements_of(synthesized, stack.stream_match.handler.role)
    visits = {"Fn::GetAtt": [synthesized.logical_id(stack.storage.visits_table), "Arn"]}
    bus = {"Fn::GetAtt": [synthesized.logical_id(stack.events.bus), "Arn"]}
    stream = {"Fn::GetAtt": [synthesized.logical_id(stack.ingestion.face_search_stream), "Arn"]}
    failures = {"Fn::GetAtt": [synthesized.logical_id(stack.stream_match.failures), "Arn"]}
    log_group = {"Fn::GetAtt": [synthesized.logical_id(stack.stream_match.handler.log_group), "Arn"]}
    # THEN each grant names one resource and the actions on it
    assert actions_on(statements, visits) == {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:ConditionCheckItem",
    }
    assert actions_on(statements, bus) == {"events:PutEvents"}
    assert {"kinesis:GetRecords", "kinesis:GetShardIterator"} <= actions_on(statements, stream)
    assert "sqs:SendMessage" in actions_on(statements, failures)
    assert actions_on(statements, log_group) == {"logs:CreateLogStream", "logs:PutLogEvents"}
    # AND the only wildcard is X-Ray's, which has no resource-level permissions
    assert actions_on(statements, "*") == {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
    # AND no managed policy (such as AWSLambdaBasicExecutionRole) widens it
    role = synthesized.properties(stack.stream_match.handler.role)
    assert "ManagedPolicyArns" not in role
