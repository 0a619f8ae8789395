"""The newest frame of the door's Kinesis Video stream, with the fragment it belongs to.

A doorbell session samples the door camera: every sample asks KVS for the newest image
(GetImages) and for the fragment that holds it (ListFragments), so the face-search record can
name the frame exactly as Rekognition's stream processor would (fragment number, the
fragment's producer and server timestamps, the frame's offset in the fragment).

- Images are selected by SERVER timestamp: "newest" is what KVS most recently received,
  whatever the camera's clock says. The record's frame time is still producer time (fragment
  ProducerTimestamp + offset), which is what extract_frame asks KVS for later.
- GetImages looks back `LOOKBACK_SECONDS` from now, one image per `SAMPLING_INTERVAL_MS`, JPEG
  `IMAGE_WIDTH` pixels wide; images at or before `after` (the last frame the session already
  searched) are skipped, so a frame is never sent to Rekognition twice.
- No image yet, or none whose fragment is listed yet (ListFragments is eventually consistent):
  None. The session tries again at its next sample.
- Both APIs live on per-stream data endpoints (GetDataEndpoint GET_IMAGES / LIST_FRAGMENTS),
  looked up once per stream and process. KVS throttling (ClientLimitExceededException) and 5xx
  are `TransientError`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from smartdoor.adapters.kvs_media import KvsMedia, utc_datetime
from smartdoor.adapters.video_frames import JPEG_QUALITY
from smartdoor.domain.face_search_records import VideoFrameSource
from smartdoor.ports import DoorCamera as DoorCamera  # the port this adapter implements (re-exported)

LOOKBACK_SECONDS = 3.0
SAMPLING_INTERVAL_MS = 1000
IMAGE_WIDTH = 1280  # the "width at most 1280"; Rekognition needs far less
MAX_IMAGES = 4
# Fragments are usually 1-10 s long; one that started this long before the image cannot hold it.
FRAGMENT_LOOKBACK_SECONDS = 20.0


@dataclass(frozen=True, slots=True)
class CameraFrame:
    """One JPEG and where it lies in the stream."""

    jpeg: bytes
    source: VideoFrameSource
    server_time: float  # the image's server timestamp: the session's "already searched" mark

    @property
    def frame_time(self) -> float:
        return self.source.frame_time


def _seconds(value: Any) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def fragment_holding(fragments: list[dict[str, Any]], server_time: float) -> dict[str, Any] | None:
    """The fragment that started last at or before `server_time` (and, if its length is known,
    has not ended before it)."""
    best: dict[str, Any] | None = None
    best_start = float("-inf")
    for fragment in fragments:
        start = _seconds(fragment.get("ServerTimestamp"))
        if start is None or _seconds(fragment.get("ProducerTimestamp")) is None or start > server_time:
            continue
        length_ms = fragment.get("FragmentLengthInMilliseconds")
        if (
            isinstance(length_ms, int | float)
            and length_ms > 0
            and start + length_ms / 1000 < server_time - 0.001
        ):
            continue
        if fragment.get("FragmentNumber") and start > best_start:
            best, best_start = fragment, start
    return best


class KvsDoorCamera:
    def __init__(
        self,
        kvs_client: Any | None = None,
        archived_media_client: Callable[[str], Any] | None = None,
        *,
        width: int = IMAGE_WIDTH,
        lookback_seconds: float = LOOKBACK_SECONDS,
    ) -> None:
        if not 1 <= width <= 3840:
            raise ValueError("width must be 1-3840 pixels (GetImages' limit)")
        self._kvs = KvsMedia(kvs_client, archived_media_client)
        self._width = width
        self._lookback = lookback_seconds

    def newest_frame(self, stream_arn: str, now: float, after: float | None) -> CameraFrame | None:
        start = now - self._lookback
        if after is not None:
            start = max(start, after + 0.001)
        if start >= now:
            return None
        response = self._kvs.call(
            self._kvs.media(stream_arn, "GET_IMAGES").get_images,
            StreamARN=stream_arn,
            ImageSelectorType="SERVER_TIMESTAMP",
            StartTimestamp=utc_datetime(start),
            EndTimestamp=utc_datetime(now),
            SamplingInterval=SAMPLING_INTERVAL_MS,
            Format="JPEG",
            FormatConfig={"JPEGQuality": str(JPEG_QUALITY)},
            WidthPixels=self._width,
            MaxResults=MAX_IMAGES,
        )
        images = []
        for image in response.get("Images", []):
            taken = _seconds(image.get("TimeStamp"))
            usable = image.get("ImageContent") and not image.get("Error") and taken is not None
            if usable and taken is not None and (after is None or taken > after):
                images.append((taken, image["ImageContent"]))
        if not images:
            return None
        fragments = self._fragments(stream_arn, min(t for t, _ in images), max(t for t, _ in images))
        for taken, content in sorted(images, key=lambda pair: pair[0], reverse=True):
            fragment = fragment_holding(fragments, taken)
            if fragment is None:
                continue
            try:
                jpeg = base64.b64decode(content, validate=True)
            except (binascii.Error, ValueError):
                continue
            fragment_server = _seconds(fragment["ServerTimestamp"]) or taken
            source = VideoFrameSource(
                stream_arn=stream_arn,
                fragment_number=str(fragment["FragmentNumber"]),
                producer_timestamp=_seconds(fragment["ProducerTimestamp"]) or 0.0,
                server_timestamp=fragment_server,
                frame_offset_seconds=round(max(0.0, taken - fragment_server), 3),
            )
            return CameraFrame(jpeg=jpeg, source=source, server_time=taken)
        return None

    def _fragments(self, stream_arn: str, first: float, last: float) -> list[dict[str, Any]]:
        response = self._kvs.call(
            self._kvs.media(stream_arn, "LIST_FRAGMENTS").list_fragments,
            StreamARN=stream_arn,
            MaxResults=100,
            FragmentSelector={
                "FragmentSelectorType": "SERVER_TIMESTAMP",
                "TimestampRange": {
                    "StartTimestamp": utc_datetime(first - FRAGMENT_LOOKBACK_SECONDS),
                    "EndTimestamp": utc_datetime(last),
                },
            },
        )
        return list(response.get("Fragments", []))
