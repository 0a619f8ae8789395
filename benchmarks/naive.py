"""The naive consumer: how the original designs behaved, for comparison only.

Every Kinesis record whose frame holds a face becomes one event: `KnownFaceDetected` when a
face matches someone at the threshold, else `UnknownFaceDetected` (which texted the owner).
No quality gate, no visits, no frames counted before deciding. It reads the same stream as
the real match function, through its own event source mapping.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from smartdoor.adapters.event_bus import BusEvent, RecordingEventBus


class NaiveConsumer:
    def __init__(self, threshold: float = 90.0) -> None:
        self.threshold = threshold
        self.bus = RecordingEventBus()
        self.records = 0

    def handler(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        for record in event["Records"]:
            self.records += 1
            frame = json.loads(base64.b64decode(record["kinesis"]["data"]))
            faces = frame.get("FaceSearchResponse") or []
            if not faces:
                continue
            known = any(
                match.get("Similarity", 0) >= self.threshold
                and (match.get("Face") or {}).get("ExternalImageId")
                for face in faces
                for match in face.get("MatchedFaces") or []
            )
            detail_type = "KnownFaceDetected" if known else "UnknownFaceDetected"
            self.bus.publish([BusEvent(detail_type, json.dumps({"frame": _frame_time(frame)}))])
        return {"batchItemFailures": []}

    def events(self, detail_type: str) -> list[dict[str, Any]]:
        return [json.loads(event.detail) for event in self.bus.published if event.detail_type == detail_type]


def _frame_time(frame: dict[str, Any]) -> float:
    video = (frame.get("InputInformation") or {}).get("KinesisVideo") or {}
    return float(video.get("ProducerTimestamp", 0)) + float(video.get("FrameOffsetInSeconds", 0))
