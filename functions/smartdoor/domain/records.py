"""The face-search record: what the match function accepts from the Kinesis data stream.

One record describes one analysed frame. The format is Rekognition's stream-processor output
("Understanding the Kinesis face recognition JSON frame record"), with three optional
top-level fields added by doorbell sessions:

    {
      "InputInformation": {"KinesisVideo": {          # required unless it is a snapshot record
        "StreamArn": "arn:aws:kinesisvideo:...:stream/front-door/1",
        "FragmentNumber": "91343852333289682796718532614445757584843717598",
        "ProducerTimestamp": 1510552593.193,        # epoch seconds; numbers or numeric strings,
        "ServerTimestamp": "1.510552593455E9",       # scientific notation allowed
        "FrameOffsetInSeconds": 2}},
      "StreamProcessorInformation": {"Status": "RUNNING"},   # optional, ignored
      "FaceSearchResponse": [                        # required; [] when the frame has no face
        {"DetectedFace": {
           "BoundingBox": {"Width": 0.2, "Height": 0.3, "Left": 0.4, "Top": 0.2},  # ratios 0-1
           "Confidence": 99.9,
           "Quality": {"Brightness": 60.1, "Sharpness": 87.2},   # optional, see below
           "Landmarks": [...], "Pose": {...}},                   # optional, ignored
         "MatchedFaces": [                           # optional; [] or absent when nobody matches
           {"Similarity": 99.1,
            "Face": {"FaceId": "...", "ExternalImageId": "<visitorId>", "ImageId": "...",
                     "Confidence": 99.9, "BoundingBox": {...}}}]}],
      "doorId": "front-door",      # optional: the door; otherwise the stream ARN decides
      "s3Bucket": "photos-bucket", # optional, snapshots: where the analysed image is stored
      "s3Key": "snapshots/front-door/1700000000123.jpg",
      "frameTime": 1700000000.123, # optional epoch seconds; used only without KinesisVideo
      "singleImage": true          # optional: one image sent on purpose (a snapshot), see below
    }

Rules:
- Frame time is ProducerTimestamp + FrameOffsetInSeconds. A record without
  `InputInformation.KinesisVideo` (a snapshot from an edge device) must carry `doorId`,
  `s3Key` and `frameTime` instead.
- Door: `doorId` when present (1-64 of A-Z a-z 0-9 _ -, so visit ids stay usable in Step
  Functions execution names); otherwise the stream ARN must be a known door stream.
- Frame location in events: `s3` when the record names an S3 key (the image is already
  stored), otherwise `kvs` (stream ARN, fragment number and timestamps).
- `singleImage: true` marks an image a device sent on purpose (an edge-device snapshot): no
  later frame will confirm it, so its faces count as enough frames for a decision
  (`smartdoor.domain.visits`). Absent or false: the record is one frame among many.
- A match without ExternalImageId names no visitor and is ignored (the face then counts as
  unmatched). A face without `Quality` is judged on confidence and size only.
- Anything else (not JSON, a missing required field, a box outside 0-1, NaN, a boolean where
  a number belongs) makes the whole record malformed: `MalformedRecord` says why, without
  echoing the payload.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    ValidationError,
    model_validator,
)

from smartdoor import models
from smartdoor.models import FrameLocation

DOOR_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class MalformedRecord(ValueError):
    """A record that no retry can fix. `reason` is a short category safe to log and count."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def _finite_float(text: str) -> float:
    try:
        value = float(text)  # accepts "1.510552593455E9"
    except ValueError:
        raise ValueError("a number is required") from None  # float()'s message would echo the input
    if not math.isfinite(value):
        raise ValueError("a finite number is required")
    return value


def _score(text: str) -> float:
    value = _finite_float(text)
    if not 0 <= value <= 100:
        raise ValueError("a percentage (0-100) is required")
    return value


# Rekognition numbers arrive as JSON numbers or as numeric strings ("1.510552593455E9").
# Numbers are checked strictly (true is not 1.0) in pydantic-core, without a Python call;
# only strings go through a Python conversion. mypy sees plain floats.
if TYPE_CHECKING:
    Number = float
    Score = float
else:
    Number = Annotated[
        Annotated[StrictFloat, Field(allow_inf_nan=False)] | Annotated[str, AfterValidator(_finite_float)],
        Field(union_mode="left_to_right"),
    ]
    # Confidence, similarity and image quality are percentages.
    Score = Annotated[
        Annotated[StrictFloat, Field(ge=0, le=100, allow_inf_nan=False)]
        | Annotated[str, AfterValidator(_score)],
        Field(union_mode="left_to_right"),
    ]


class _RecordPart(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", coerce_numbers_to_str=True, defer_build=True)


class KinesisVideoInfo(_RecordPart):
    StreamArn: str = Field(min_length=1)
    FragmentNumber: str = Field(min_length=1)
    ProducerTimestamp: Number
    ServerTimestamp: Number | None = None
    FrameOffsetInSeconds: Number = 0.0


class InputInfo(_RecordPart):
    KinesisVideo: KinesisVideoInfo | None = None


class FaceQuality(_RecordPart):
    Brightness: Score | None = None
    Sharpness: Score | None = None


class FaceDetail(_RecordPart):
    BoundingBox: models.BoundingBox
    Confidence: Score
    Quality: FaceQuality | None = None


class CollectionFace(_RecordPart):
    FaceId: str = Field(min_length=1)
    ExternalImageId: str | None = None


class FaceMatch(_RecordPart):
    Similarity: Score
    Face: CollectionFace


class FaceSearchResult(_RecordPart):
    DetectedFace: FaceDetail
    MatchedFaces: tuple[FaceMatch, ...] = ()


class FaceSearchRecord(_RecordPart):
    InputInformation: InputInfo | None = None
    FaceSearchResponse: tuple[FaceSearchResult, ...]
    doorId: str | None = Field(None, pattern=DOOR_ID_PATTERN.pattern)
    s3Bucket: str | None = Field(None, min_length=1)
    s3Key: str | None = Field(None, min_length=1)
    frameTime: Number | None = None
    singleImage: StrictBool = False

    @property
    def kinesis_video(self) -> KinesisVideoInfo | None:
        return self.InputInformation.KinesisVideo if self.InputInformation else None

    @model_validator(mode="after")
    def _frame_is_locatable(self) -> FaceSearchRecord:
        if self.kinesis_video is None and not (self.doorId and self.s3Key and self.frameTime is not None):
            raise ValueError(
                "InputInformation.KinesisVideo is required unless doorId, s3Key and frameTime are set"
            )
        return self


class Frame:
    """One analysed frame of one door, ready for the visit rules.

    `location` (where the frame can be fetched again) is built on first use: most frames
    never need it, and the match function's hot path stays light.
    """

    __slots__ = ("_location", "_record", "door_id", "faces", "frame_time")

    def __init__(self, door_id: str, frame_time: float, record: FaceSearchRecord) -> None:
        self.door_id = door_id
        self.frame_time = frame_time
        self.faces: tuple[FaceSearchResult, ...] = record.FaceSearchResponse
        self._record = record
        self._location: FrameLocation | None = None

    @property
    def single_image(self) -> bool:
        """An image a device sent on purpose (a snapshot): it decides on its own."""
        return self._record.singleImage

    @property
    def location(self) -> FrameLocation:
        if self._location is None:
            self._location = _locate(self._record, self.frame_time)
        return self._location

    def __repr__(self) -> str:
        return f"Frame(door_id={self.door_id!r}, frame_time={self.frame_time!r}, faces={len(self.faces)})"


def parse_record(data: bytes | str, door_streams: Mapping[str, str]) -> Frame:
    """Parse one decoded Kinesis payload into a Frame.

    `door_streams` maps a KVS stream ARN to its door id. Raises MalformedRecord.
    """
    try:
        record = FaceSearchRecord.model_validate_json(data)
    except ValidationError as error:
        first = error.errors(include_url=False, include_input=False, include_context=False)[0]
        if first["type"] == "json_invalid":
            raise MalformedRecord("not-json") from None
        raise MalformedRecord("bad-shape", describe_validation_error(error)) from None
    return to_frame(record, door_streams)


def describe_validation_error(error: ValidationError) -> str:
    """Where and what, never the offending values (they may be large or personal)."""
    problems: dict[str, str] = {}
    for issue in error.errors(include_url=False, include_context=False):
        loc = issue["loc"]
        path = ".".join(str(part) for part in loc if not _is_union_branch(part)) or "<record>"
        string_branch = any(isinstance(part, str) and part.startswith("function-after[") for part in loc)
        if len(loc) and _is_union_branch(loc[-1]) and string_branch != isinstance(issue["input"], str):
            continue  # a number/numeric-string union: only the branch matching the input's type explains it
        problems.setdefault(path, issue["msg"])
    described = [f"{path}: {message}" for path, message in list(problems.items())[:5]]
    if len(problems) > 5:
        described.append(f"... {len(problems) - 5} more")
    return "; ".join(described)


def _is_union_branch(part: str | int) -> bool:
    return isinstance(part, str) and (
        part in {"float", "constrained-float"} or part.startswith("function-after[")
    )


def to_frame(record: FaceSearchRecord, door_streams: Mapping[str, str]) -> Frame:
    video = record.kinesis_video
    if record.doorId:
        door_id = record.doorId
    elif video is not None and video.StreamArn in door_streams:
        door_id = door_streams[video.StreamArn]
    else:
        raise MalformedRecord("unmapped-stream", "no doorId and the stream ARN belongs to no door")

    if video is not None:
        frame_time = video.ProducerTimestamp + video.FrameOffsetInSeconds
    else:
        assert record.frameTime is not None  # guaranteed by FaceSearchRecord's validator
        frame_time = record.frameTime

    return Frame(door_id=door_id, frame_time=frame_time, record=record)


def _locate(record: FaceSearchRecord, frame_time: float) -> FrameLocation:
    video = record.kinesis_video
    return FrameLocation(
        source="s3" if record.s3Key else "kvs",
        frame_time=frame_time,
        stream_arn=video.StreamArn if video else None,
        fragment_number=video.FragmentNumber if video else None,
        producer_timestamp=video.ProducerTimestamp if video else None,
        server_timestamp=video.ServerTimestamp if video else None,
        frame_offset_in_seconds=video.FrameOffsetInSeconds if video else None,
        s3_bucket=record.s3Bucket,
        s3_key=record.s3Key,
    )
