"""Configuration of the stream_match function (environment variables, docs/internals.md)."""

from __future__ import annotations

from pydantic import Field, field_validator

from smartdoor.adapters.visit_store import DEFAULT_LEASE_SECONDS, DEFAULT_TTL_SECONDS
from smartdoor.domain.records import DOOR_ID_PATTERN
from smartdoor.domain.visits import MatchRules, match_rules
from smartdoor.settings import FunctionSettings


class StreamMatchSettings(FunctionSettings):
    visits_table: str = Field(alias="VISITS_TABLE", min_length=1)
    event_bus_name: str = Field(alias="EVENT_BUS_NAME", min_length=1)
    door_id: str = Field(alias="DOOR_ID", pattern=DOOR_ID_PATTERN.pattern)
    # Records without a doorId must come from this KVS stream; unset: only doorId records are accepted.
    video_stream_arn: str | None = Field(None, alias="VIDEO_STREAM_ARN")

    face_match_threshold: float = Field(90.0, alias="FACE_MATCH_THRESHOLD", ge=0, le=100)
    min_frames_for_decision: int = Field(2, alias="MIN_FRAMES_FOR_DECISION", ge=1, le=1000)
    visit_gap_seconds: float = Field(120.0, alias="VISIT_GAP_SECONDS", gt=0, le=86400)

    min_face_confidence: float = Field(90.0, alias="MIN_FACE_CONFIDENCE", ge=0, le=100)
    min_face_size_ratio: float = Field(0.05, alias="MIN_FACE_SIZE_RATIO", ge=0, le=1)
    min_face_sharpness: float = Field(20.0, alias="MIN_FACE_SHARPNESS", ge=0, le=100)
    min_face_brightness: float = Field(20.0, alias="MIN_FACE_BRIGHTNESS", ge=0, le=100)

    # An emission claim left CLAIMED this long (its holder died before publishing) can be
    # taken over; keep it above the function timeout.
    emission_lease_seconds: int = Field(DEFAULT_LEASE_SECONDS, alias="EMISSION_LEASE_SECONDS", ge=5, le=3600)
    # Visit state and emission claims expire (DynamoDB TTL) this long after their last write.
    visit_record_ttl_seconds: int = Field(DEFAULT_TTL_SECONDS, alias="VISIT_RECORD_TTL_SECONDS", ge=3600)

    @field_validator("video_stream_arn")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None

    def rules(self) -> MatchRules:
        return match_rules(self)

    def door_streams(self) -> dict[str, str]:
        """KVS stream ARN -> door id, for records that carry no doorId."""
        return {self.video_stream_arn: self.door_id} if self.video_stream_arn else {}
