"""Face collection: the Rekognition collection, and optionally a face-search stream processor.

`faceSource=images` (the default) searches single frames from Lambda (KVS GetImages +
SearchFacesByImage), which any account can use. `faceSource=streamProcessor` adds
Rekognition's streaming-video processor for accounts that still have it.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Fn, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_rekognition as rekognition
from constructs import Construct


class FaceCollection(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        collection_id: str,
        face_source: str,
        face_match_threshold: float,
        video_stream_arn: str | None,
        face_search_stream: kinesis.IStream | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.collection = rekognition.CfnCollection(self, "Collection", collection_id=collection_id)
        self.collection_id = collection_id
        self.collection_arn = self.collection.attr_arn
        self.stream_processor: rekognition.CfnStreamProcessor | None = None
        if face_source == "streamProcessor":
            assert video_stream_arn is not None and face_search_stream is not None
            self.stream_processor = self._stream_processor(
                face_match_threshold=face_match_threshold,
                video_stream_arn=video_stream_arn,
                face_search_stream=face_search_stream,
            )

    def _stream_processor(
        self,
        *,
        face_match_threshold: float,
        video_stream_arn: str,
        face_search_stream: kinesis.IStream,
    ) -> rekognition.CfnStreamProcessor:
        account = Stack.of(self).account
        role = iam.Role(
            self,
            "StreamProcessorRole",
            description="Rekognition face search: read the door camera, write face-search records",
            assumed_by=iam.ServicePrincipal(
                "rekognition.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": account}},
            ),
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadTheDoorCamera",
                actions=["kinesisvideo:GetDataEndpoint", "kinesisvideo:GetMedia"],
                resources=[video_stream_arn],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteFaceSearchRecords",
                actions=["kinesis:PutRecord", "kinesis:PutRecords"],
                resources=[face_search_stream.stream_arn],
            )
        )
        processor = rekognition.CfnStreamProcessor(
            self,
            "StreamProcessor",
            role_arn=role.role_arn,
            kinesis_video_stream=rekognition.CfnStreamProcessor.KinesisVideoStreamProperty(
                arn=video_stream_arn
            ),
            kinesis_data_stream=rekognition.CfnStreamProcessor.KinesisDataStreamProperty(
                arn=face_search_stream.stream_arn
            ),
            face_search_settings=rekognition.CfnStreamProcessor.FaceSearchSettingsProperty(
                collection_id=self.collection.ref,
                face_match_threshold=face_match_threshold,
            ),
        )
        processor.node.add_dependency(role)
        # CloudFormation creates the processor stopped; starting it is a deliberate act (it bills).
        CfnOutput(
            Stack.of(self),
            "StartStreamProcessor",
            value=Fn.join("", ["aws rekognition start-stream-processor --name ", processor.ref]),
        )
        return processor
