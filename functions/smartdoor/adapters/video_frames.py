"""Still frames from the door's Kinesis Video stream (KVS GetImages).

GetImages is served from a per-stream data endpoint (GetDataEndpoint, APIName GET_IMAGES);
the endpoint is looked up once per stream and process. Media reaches KVS's archive a little
after the frame's producer time, so "no image yet" is `MediaNotAvailable` and the workflow
retries it; throttling (KVS says ClientLimitExceededException) and 5xx are `TransientError`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from datetime import datetime
from typing import Any

from smartdoor.adapters.kvs_media import KvsMedia, utc_datetime
from smartdoor.errors import MediaNotAvailable
from smartdoor.observability import logger
from smartdoor.ports import VideoFrames as VideoFrames  # the port this adapter implements (re-exported)

# GetImages samples the window every SamplingInterval ms; 200 ms is the documented minimum.
SAMPLING_INTERVAL_MS = 200
# Half-width of the window around the frame time: at 200 ms it yields at most 6 images.
WINDOW_SECONDS = 0.5
MAX_IMAGES = 10
IMAGE_WIDTH = 1280
JPEG_QUALITY = 90


def _timestamp_seconds(value: Any) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float):
        return float(value)
    return None


def closest_image(images: list[dict[str, Any]], frame_time: float) -> dict[str, Any] | None:
    """The usable image (content, no Error) whose timestamp is nearest to `frame_time`."""
    usable = [
        image
        for image in images
        if image.get("ImageContent")
        and not image.get("Error")
        and _timestamp_seconds(image.get("TimeStamp")) is not None
    ]
    if not usable:
        return None
    return min(usable, key=lambda image: abs((_timestamp_seconds(image["TimeStamp"]) or 0.0) - frame_time))


class KvsVideoFrames:
    """GetImages on the stream's data endpoint: one JPEG, `IMAGE_WIDTH` pixels wide."""

    def __init__(
        self,
        kvs_client: Any | None = None,
        archived_media_client: Callable[[str], Any] | None = None,
        width: int = IMAGE_WIDTH,
        quality: int = JPEG_QUALITY,
    ) -> None:
        if not 1 <= width <= 3840:
            raise ValueError("width must be 1-3840 pixels (GetImages' limit)")
        if not 1 <= quality <= 100:
            raise ValueError("quality must be 1-100")
        self._kvs = KvsMedia(kvs_client, archived_media_client)
        self._width = width
        self._quality = quality

    def get_frame(self, stream_arn: str, frame_time: float) -> bytes:
        media = self._kvs.media(stream_arn, "GET_IMAGES")
        response = self._kvs.call(
            media.get_images,
            StreamARN=stream_arn,
            ImageSelectorType="PRODUCER_TIMESTAMP",
            StartTimestamp=utc_datetime(frame_time - WINDOW_SECONDS),
            EndTimestamp=utc_datetime(frame_time + WINDOW_SECONDS),
            SamplingInterval=SAMPLING_INTERVAL_MS,
            Format="JPEG",
            FormatConfig={"JPEGQuality": str(self._quality)},
            WidthPixels=self._width,
            MaxResults=MAX_IMAGES,
        )
        images = response.get("Images", [])
        image = closest_image(images, frame_time)
        if image is None:
            errors = sorted({str(image.get("Error")) for image in images if image.get("Error")})
            raise MediaNotAvailable(
                f"no image within {WINDOW_SECONDS}s of {frame_time} yet "
                f"({len(images)} returned, errors: {', '.join(errors) or 'none'})"
            )
        try:
            data = base64.b64decode(image["ImageContent"], validate=True)
        except (binascii.Error, ValueError) as error:
            raise MediaNotAvailable("GetImages returned an image that is not valid base64") from error
        taken_at = _timestamp_seconds(image["TimeStamp"]) or frame_time
        logger.info(
            "Frame fetched from KVS",
            extra={
                "frame_time": frame_time,
                "image_time": taken_at,
                "offset_s": round(taken_at - frame_time, 3),
            },
        )
        return data
