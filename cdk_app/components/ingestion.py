"""Ingestion: the door camera's video stream and the face-search record stream."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kinesisvideo as kinesisvideo
from constructs import Construct


class Ingestion(Construct):
    """A Kinesis Video stream for the camera and an encrypted Kinesis Data Stream for face-search records.

    Both streaming face sources (Rekognition's stream processor, or the doorbell session that
    searches single images) write Rekognition's record format into the same data stream. With
    faceSource=snapshots there are neither: process_snapshot hands its records to the match
    function directly (smartdoor.adapters.match_invoker).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        door_id: str,
        video_retention_hours: int,
        streams: bool = True,
    ) -> None:
        super().__init__(scope, construct_id)
        if video_retention_hours < 24:
            raise ValueError("the door camera's video must be kept at least 24 hours")
        self.video_stream: kinesisvideo.CfnStream | None = None
        self.video_stream_arn: str | None = None
        self.face_search_stream: kinesis.Stream | None = None
        if not streams:
            # faceSource=snapshots: the door agent uploads frames; nothing streams.
            return
        # The edge device is configured with this name, so it is predictable.
        self.video_stream = kinesisvideo.CfnStream(
            self,
            "DoorCamera",
            name=f"{Stack.of(self).stack_name}-{door_id}",
            data_retention_in_hours=video_retention_hours,
            media_type="video/h264",
        )
        self.video_stream_arn = self.video_stream.attr_arn
        # One shard carries ~2 records/s per camera with room to spare; retention covers a
        # consumer outage of a day (the DLQ holds what still fails).
        self.face_search_stream = kinesis.Stream(
            self,
            "FaceSearchRecords",
            shard_count=1,
            retention_period=Duration.hours(24),
            # The AWS-managed key (aws/kinesis): encrypted at rest without per-producer KMS costs.
            encryption=kinesis.StreamEncryption.MANAGED,
        )
