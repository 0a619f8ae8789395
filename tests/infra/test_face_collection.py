"""Face collection: always a Rekognition collection; a stream processor only when asked for."""

from __future__ import annotations

import pytest

from tests.infra.synth import Synthesized, actions_on, all_actions, statements_of

pytestmark = pytest.mark.infra


def test_the_deployment_has_one_face_collection(synthesized: Synthesized) -> None:
    synthesized.template.resource_count_is("AWS::Rekognition::Collection", 1)
    collection = synthesized.properties(synthesized.stack.faces.collection)
    assert collection["CollectionId"] == "SmartDoor-front-door"


def test_the_default_face_source_has_no_stream_processor(synthesized: Synthesized) -> None:
    # GIVEN faceSource=images (the default: works in every account)
    # THEN nothing depends on Rekognition streaming video
    synthesized.template.resource_count_is("AWS::Rekognition::StreamProcessor", 0)
    assert synthesized.stack.faces.stream_processor is None


def test_stream_processor_searches_the_camera_into_the_record_stream(synthesized_custom: Synthesized) -> None:
    # GIVEN faceSource=streamProcessor
    stack = synthesized_custom.stack
    processor = stack.faces.stream_processor
    assert processor is not None
    # THEN one face-search processor reads the door camera and writes the face-search stream
    synthesized_custom.template.resource_count_is("AWS::Rekognition::StreamProcessor", 1)
    properties = synthesized_custom.properties(processor)
    video = synthesized_custom.logical_id(stack.ingestion.video_stream)
    records = synthesized_custom.logical_id(stack.ingestion.face_search_stream)
    assert properties["KinesisVideoStream"] == {"Arn": {"Fn::GetAtt": [video, "Arn"]}}
    assert properties["KinesisDataStream"] == {"Arn": {"Fn::GetAtt": [records, "Arn"]}}
    assert properties["FaceSearchSettings"] == {
        "CollectionId": {"Ref": synthesized_custom.logical_id(stack.faces.collection)},
        "FaceMatchThreshold": 90,
    }


def test_stream_processor_role_is_least_privilege(synthesized_custom: Synthesized) -> None:
    # GIVEN the stream processor's own role
    stack = synthesized_custom.stack
    processor = synthesized_custom.properties(stack.faces.stream_processor)
    role_id = processor["RoleArn"]["Fn::GetAtt"][0]
    role = synthesized_custom.resources[role_id]
    # THEN only Rekognition, acting for this account, may assume it
    trust = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust == [
        {
            "Action": "sts:AssumeRole",
            "Effect": "Allow",
            "Principal": {"Service": "rekognition.amazonaws.com"},
            "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
        }
    ]
    assert "ManagedPolicyArns" not in role["Properties"]
    # AND it may read the door camera and write face-search records, nothing else
    role_construct = stack.node.find_child("Faces").node.find_child("StreamProcessorRole")
    statements = statements_of(synthesized_custom, role_construct)
    video = {"Fn::GetAtt": [synthesized_custom.logical_id(stack.ingestion.video_stream), "Arn"]}
    records = {"Fn::GetAtt": [synthesized_custom.logical_id(stack.ingestion.face_search_stream), "Arn"]}
    assert actions_on(statements, video) == {"kinesisvideo:GetDataEndpoint", "kinesisvideo:GetMedia"}
    assert actions_on(statements, records) == {"kinesis:PutRecord", "kinesis:PutRecords"}
    assert all_actions(statements) == {
        "kinesisvideo:GetDataEndpoint",
        "kinesisvideo:GetMedia",
        "kinesis:PutRecord",
        "kinesis:PutRecords",
    }
