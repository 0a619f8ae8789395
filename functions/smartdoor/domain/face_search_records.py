"""Face-search records from single images: a SearchFacesByImage answer in the stream processor's format.

Doorbell sessions (a frame from the door's KVS stream) and edge-device snapshots (an image in
S3) search one image at a time with Rekognition's SearchFacesByImage. The match function reads
Rekognition's stream-processor record format (`smartdoor.domain.records`), so each searched
image becomes one such record:

    face_search_record(answer, door_id="front-door", source=VideoFrameSource(...))
    face_search_record(None, door_id="front-door", source=VideoFrameSource(...))  # no face: []
    face_search_record(answer, door_id="back-door", source=StoredImageSource(...), single_image=True)

- `answer` is SearchFacesByImage's response (`SearchedFaceBoundingBox`,
  `SearchedFaceConfidence`, `FaceMatches`), or None when the image has no face. It becomes one
  `FaceSearchResponse` entry: `DetectedFace` {BoundingBox, Confidence[, Quality]} and
  `MatchedFaces` (the FaceMatches as they are). SearchFacesByImage searches with the largest
  face only, so a record holds at most one face. `quality` ({Brightness, Sharpness}, e.g. from
  DetectFaces) is added when the caller has it; without it the match function judges the face
  on confidence and size.
- A `VideoFrameSource` gives `InputInformation.KinesisVideo` exactly as the stream processor
  writes it (fragment number, the fragment's producer and server timestamps, the frame's offset
  in the fragment); frame time = ProducerTimestamp + FrameOffsetInSeconds.
- A `StoredImageSource` gives `s3Bucket`, `s3Key` and `frameTime` instead (no KinesisVideo).
- `doorId` is always set. `single_image=True` marks an image sent on purpose by a device (a
  snapshot): no later frame will confirm it, so the match function counts its faces as
  enough frames for a decision (records.py, `singleImage`).

Pure: no I/O, no clock. The result is a JSON-ready dict that `records.parse_record` accepts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from smartdoor.domain.records import DOOR_ID_PATTERN

STREAM_PROCESSOR_STATUS = "RUNNING"
# Fields of a FaceMatches entry's Face that the stream processor's MatchedFaces carry.
_MATCHED_FACE_FIELDS = ("BoundingBox", "FaceId", "Confidence", "ImageId", "ExternalImageId")


@dataclass(frozen=True, slots=True)
class VideoFrameSource:
    """A frame of a Kinesis Video stream: its fragment and where in the fragment it lies."""

    stream_arn: str
    fragment_number: str
    producer_timestamp: float  # the fragment's producer timestamp, epoch seconds
    server_timestamp: float  # the fragment's server timestamp, epoch seconds
    frame_offset_seconds: float = 0.0  # the frame's offset from the fragment's start

    def __post_init__(self) -> None:
        if not self.stream_arn or not self.fragment_number:
            raise ValueError("a video frame needs its stream ARN and fragment number")
        _require_finite(self.producer_timestamp, "producer_timestamp")
        _require_finite(self.server_timestamp, "server_timestamp")
        _require_finite(self.frame_offset_seconds, "frame_offset_seconds")
        if self.frame_offset_seconds < 0:
            raise ValueError("frame_offset_seconds cannot be negative")

    @property
    def frame_time(self) -> float:
        return self.producer_timestamp + self.frame_offset_seconds


@dataclass(frozen=True, slots=True)
class StoredImageSource:
    """An image stored in S3 (an edge device's snapshot), taken at `frame_time` (epoch seconds)."""

    bucket: str
    key: str
    frame_time: float

    def __post_init__(self) -> None:
        if not self.bucket or not self.key:
            raise ValueError("a stored image needs its bucket and key")
        _require_finite(self.frame_time, "frame_time")


ImageSource = VideoFrameSource | StoredImageSource


def _require_finite(value: float, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number of seconds")


def detected_face(answer: Mapping[str, Any], quality: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The `DetectedFace` of the searched face: SearchFacesByImage's box and confidence."""
    try:
        box = answer["SearchedFaceBoundingBox"]
        confidence = answer["SearchedFaceConfidence"]
    except KeyError as missing:
        raise ValueError(f"not a SearchFacesByImage answer: {missing.args[0]} is missing") from None
    face: dict[str, Any] = {
        "BoundingBox": {name: box[name] for name in ("Width", "Height", "Left", "Top") if name in box},
        "Confidence": confidence,
    }
    if quality:
        face["Quality"] = {name: quality[name] for name in ("Brightness", "Sharpness") if name in quality}
    return face


def matched_faces(answer: Mapping[str, Any]) -> list[dict[str, Any]]:
    """SearchFacesByImage's FaceMatches in the stream processor's MatchedFaces shape."""
    matches = []
    for match in answer.get("FaceMatches") or ():
        face = match["Face"]
        matches.append(
            {
                "Similarity": match["Similarity"],
                "Face": {name: face[name] for name in _MATCHED_FACE_FIELDS if name in face},
            }
        )
    return matches


def face_search_record(
    answer: Mapping[str, Any] | None,
    *,
    door_id: str,
    source: ImageSource,
    quality: Mapping[str, Any] | None = None,
    single_image: bool = False,
) -> dict[str, Any]:
    """One stream-processor-format record for one searched image (None: the image has no face)."""
    if not DOOR_ID_PATTERN.match(door_id):
        raise ValueError("door_id must be 1-64 of A-Z a-z 0-9 _ -")
    results = (
        []
        if answer is None
        else [{"DetectedFace": detected_face(answer, quality), "MatchedFaces": matched_faces(answer)}]
    )
    record: dict[str, Any] = {"doorId": door_id}
    if isinstance(source, VideoFrameSource):
        record["InputInformation"] = {
            "KinesisVideo": {
                "StreamArn": source.stream_arn,
                "FragmentNumber": source.fragment_number,
                "ServerTimestamp": source.server_timestamp,
                "ProducerTimestamp": source.producer_timestamp,
                "FrameOffsetInSeconds": source.frame_offset_seconds,
            }
        }
        record["StreamProcessorInformation"] = {"Status": STREAM_PROCESSOR_STATUS}
    elif isinstance(source, StoredImageSource):
        record.update(s3Bucket=source.bucket, s3Key=source.key, frameTime=source.frame_time)
    else:
        raise TypeError(
            f"an image source is VideoFrameSource or StoredImageSource, not {type(source).__name__}"
        )
    record["FaceSearchResponse"] = results
    if single_image:
        record["singleImage"] = True
    return record


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    """A record on its way to the face-search stream; the partition key is the door id, so one
    door's records stay in order on one shard."""

    partition_key: str
    data: Mapping[str, Any]

    def encoded(self) -> bytes:
        return json.dumps(self.data, separators=(",", ":")).encode()
