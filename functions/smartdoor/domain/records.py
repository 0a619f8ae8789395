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
from typing import TYPE_CHECKING, Annotated, Any, Self

import msgspec
from msgspec.structs import force_setattr

from smartdoor import models
from smartdoor.models import FrameLocation
from smartdoor.schema import Meta, Model, ValidationError, what, where

DOOR_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class MalformedRecord(ValueError):
    """A record that no retry can fix. `reason` is a short category safe to log and count."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class Number(float):
    """A Rekognition number: a JSON number or a numeric string ("1.510552593455E9"), finite,
    never a boolean. Decoded by `_decode_number` (msgspec calls it for these fields)."""


class Score(Number):
    """Confidence, similarity and image quality: a Number that is a percentage (0-100)."""


def _decode_number(kind: type, value: object) -> Number:
    if kind not in (Number, Score):
        raise NotImplementedError(f"no decoder for {kind.__name__}")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("a valid number is required")
    try:
        number = float(value)
    except ValueError:
        raise ValueError("a valid number is required") from None  # float()'s message would echo the input
    if not math.isfinite(number):
        raise ValueError("a finite number is required")
    if kind is Score and not 0 <= number <= 100:
        raise ValueError("a percentage (0-100) is required")
    return kind(number)


# An id: a string, or a JSON number read as its digits (after decoding, always a str).
if TYPE_CHECKING:
    Id = str
else:
    Id = Annotated[str, Meta(min_length=1)] | int


class _RecordPart(Model):
    """Part of a record. After decoding, numbers are plain floats and ids plain strings (the
    record reaches events and tables, which take neither Number nor a numeric id)."""

    @classmethod
    def parse(cls, data: Any) -> Self:
        return msgspec.convert(data, cls, dec_hook=_decode_number)

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if isinstance(value, Number):
                force_setattr(self, name, float(value))
            elif isinstance(value, int) and not isinstance(value, bool):
                force_setattr(self, name, str(value))  # an id sent as a JSON number


class RecordBox(_RecordPart):
    """The face's box in the record: ratios of the frame (numbers or numeric strings)."""

    Width: Number
    Height: Number
    Left: Number
    Top: Number

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (0 <= self.Width <= 1 and 0 <= self.Height <= 1):
            raise ValueError("BoundingBox Width and Height must be ratios (0-1)")

    def box(self) -> models.BoundingBox:
        return models.BoundingBox(Width=self.Width, Height=self.Height, Left=self.Left, Top=self.Top)


class KinesisVideoInfo(_RecordPart):
    StreamArn: Annotated[str, Meta(min_length=1)]
    FragmentNumber: Id
    ProducerTimestamp: Number
    ServerTimestamp: Number | None = None
    FrameOffsetInSeconds: Number = Number(0.0)


class InputInfo(_RecordPart):
    KinesisVideo: KinesisVideoInfo | None = None


class FaceQuality(_RecordPart):
    Brightness: Score | None = None
    Sharpness: Score | None = None


class FaceDetail(_RecordPart):
    BoundingBox: RecordBox
    Confidence: Score
    Quality: FaceQuality | None = None


class CollectionFace(_RecordPart):
    FaceId: Id
    ExternalImageId: Id | None = None


class FaceMatch(_RecordPart):
    Similarity: Score
    Face: CollectionFace


class FaceSearchResult(_RecordPart):
    DetectedFace: FaceDetail
    MatchedFaces: tuple[FaceMatch, ...] = ()


class FaceSearchRecord(_RecordPart, kw_only=True):
    InputInformation: InputInfo | None = None
    FaceSearchResponse: tuple[FaceSearchResult, ...]
    doorId: Annotated[str, Meta(pattern=DOOR_ID_PATTERN.pattern)] | None = None
    s3Bucket: Annotated[str, Meta(min_length=1)] | None = None
    s3Key: Annotated[str, Meta(min_length=1)] | None = None
    frameTime: Number | None = None
    singleImage: bool = False

    @property
    def kinesis_video(self) -> KinesisVideoInfo | None:
        return self.InputInformation.KinesisVideo if self.InputInformation else None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.kinesis_video is None and not (self.doorId and self.s3Key and self.frameTime is not None):
            raise ValueError(
                "InputInformation.KinesisVideo is required unless doorId, s3Key and frameTime are set"
            )


_RECORDS = msgspec.json.Decoder(FaceSearchRecord, dec_hook=_decode_number)


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
        record = _RECORDS.decode(data)
    except ValidationError as error:
        raise MalformedRecord("bad-shape", describe_validation_error(error)) from None
    except msgspec.DecodeError:
        raise MalformedRecord("not-json") from None
    return to_frame(record, door_streams)


def describe_validation_error(error: ValidationError) -> str:
    """Where and what, never the offending values (they may be large or personal)."""
    path = re.sub(r"\[(\d+)\]", r".\1", where(error))  # FaceSearchResponse.0.DetectedFace
    return f"{path or '<record>'}: {what(error)}"


def to_frame(record: FaceSearchRecord, door_streams: Mapping[str, str]) -> Frame:
    video = record.kinesis_video
    if record.doorId:
        door_id = record.doorId
    elif video is not None and video.StreamArn in door_streams:
        door_id = door_streams[video.StreamArn]
    else:
        raise MalformedRecord("unmapped-stream", "no doorId and the stream ARN belongs to no door")

    if video is not None:
        frame_time = float(video.ProducerTimestamp + video.FrameOffsetInSeconds)
    else:
        assert record.frameTime is not None  # guaranteed by FaceSearchRecord's validator
        frame_time = float(record.frameTime)

    return Frame(door_id=door_id, frame_time=frame_time, record=record)


def _locate(record: FaceSearchRecord, frame_time: float) -> FrameLocation:
    video = record.kinesis_video
    return FrameLocation(
        source="s3" if record.s3Key else "kvs",
        frame_time=frame_time,
        stream_arn=video.StreamArn if video else None,
        fragment_number=video.FragmentNumber if video else None,
        producer_timestamp=float(video.ProducerTimestamp) if video else None,
        server_timestamp=_plain(video.ServerTimestamp) if video else None,
        frame_offset_in_seconds=float(video.FrameOffsetInSeconds) if video else None,
        s3_bucket=record.s3Bucket,
        s3_key=record.s3Key,
    )


def _plain(number: Number | None) -> float | None:
    return None if number is None else float(number)
