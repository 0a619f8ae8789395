"""Configuration of the stream_match function (environment variables, docs/internals.md)."""

from __future__ import annotations

from typing import Annotated

from msgspec.structs import force_setattr

from smartdoor.adapters.visit_store import DEFAULT_LEASE_SECONDS, DEFAULT_TTL_SECONDS
from smartdoor.domain.records import DOOR_ID_PATTERN
from smartdoor.domain.visits import MatchRules, match_rules
from smartdoor.schema import Meta, field
from smartdoor.settings import FunctionSettings


class StreamMatchSettings(FunctionSettings):
    visits_table: Annotated[str, Meta(min_length=1)] = field(name="VISITS_TABLE")
    event_bus_name: Annotated[str, Meta(min_length=1)] = field(name="EVENT_BUS_NAME")
    door_id: Annotated[str, Meta(pattern=DOOR_ID_PATTERN.pattern)] = field(name="DOOR_ID")
    # Records without a doorId must come from this KVS stream; unset: only doorId records are accepted.
    video_stream_arn: str | None = field(default=None, name="VIDEO_STREAM_ARN")

    face_match_threshold: Annotated[float, Meta(ge=0, le=100)] = field(
        default=90.0, name="FACE_MATCH_THRESHOLD"
    )
    min_frames_for_decision: Annotated[int, Meta(ge=1, le=1000)] = field(
        default=2, name="MIN_FRAMES_FOR_DECISION"
    )
    visit_gap_seconds: Annotated[float, Meta(gt=0, le=86400)] = field(default=120.0, name="VISIT_GAP_SECONDS")

    min_face_confidence: Annotated[float, Meta(ge=0, le=100)] = field(
        default=90.0, name="MIN_FACE_CONFIDENCE"
    )
    min_face_size_ratio: Annotated[float, Meta(ge=0, le=1)] = field(default=0.05, name="MIN_FACE_SIZE_RATIO")
    min_face_sharpness: Annotated[float, Meta(ge=0, le=100)] = field(default=20.0, name="MIN_FACE_SHARPNESS")
    min_face_brightness: Annotated[float, Meta(ge=0, le=100)] = field(
        default=20.0, name="MIN_FACE_BRIGHTNESS"
    )

    # An emission claim left CLAIMED this long (its holder died before publishing) can be
    # taken over; keep it above the function timeout.
    emission_lease_seconds: Annotated[int, Meta(ge=5, le=3600)] = field(
        default=DEFAULT_LEASE_SECONDS, name="EMISSION_LEASE_SECONDS"
    )
    # Visit state and emission claims expire (DynamoDB TTL) this long after their last write.
    visit_record_ttl_seconds: Annotated[int, Meta(ge=3600)] = field(
        default=DEFAULT_TTL_SECONDS, name="VISIT_RECORD_TTL_SECONDS"
    )

    def __post_init__(self) -> None:
        if not self.video_stream_arn:  # CloudFormation cannot leave a variable out: blank is none
            force_setattr(self, "video_stream_arn", None)

    def rules(self) -> MatchRules:
        return match_rules(self)

    def door_streams(self) -> dict[str, str]:
        """KVS stream ARN -> door id, for records that carry no doorId."""
        return {self.video_stream_arn: self.door_id} if self.video_stream_arn else {}
