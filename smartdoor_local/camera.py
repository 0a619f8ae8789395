"""Camera frames into the face-search stream, as a doorbell session puts them there.

`POST /local/doors/{doorId}/frames` (body: a JPEG, `Content-Type: image/jpeg`) is the local
stack's door camera. For each frame:

1. the picture is checked and re-encoded (JPEG/PNG only, at most 1280 px wide, no EXIF:
   `smartdoor.domain.imaging.normalise_frame`) and stored in the photos bucket as a snapshot,
   `camera/<doorId>/<epoch ms>.jpg`, and kept as the camera's newest frame (doorbell
   sessions sample it: `smartdoor_local.door_camera`);
2. the local face engine searches the collection with it (SearchFacesByImage's answer, plus the
   face's Quality);
3. `smartdoor.domain.face_search_records.face_search_record` turns the answer into a record in
   Rekognition's stream-processor format (an S3 image source: `s3Bucket`, `s3Key`, `frameTime`),
   and the record goes onto the face-search Kinesis stream, where the match function reads it.

A frame is one frame among many (a camera), not a snapshot that decides on its own: a visit
needs MIN_FRAMES_FOR_DECISION frames with a face, and ends after VISIT_GAP_SECONDS without one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from smartdoor.adapters.photo_store import PhotoStore
from smartdoor.domain.face_search_records import StoredImageSource, face_search_record
from smartdoor.domain.imaging import normalise_frame
from smartdoor.domain.records import DOOR_ID_PATTERN
from smartdoor_local.face_engine import LocalFaceEngine

# Not snapshots/: that prefix is edge devices' uploads, which process_snapshot checks on arrival.
CAMERA_PREFIX = "camera/"
MAX_MATCHES = 5


class FrameRejected(ValueError):
    """A frame that cannot be used (400/404/415): `status` is the HTTP answer, the message says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class FrameResult:
    """What happened to one frame: where it is stored, the record sent, what the engine saw."""

    door_id: str
    s3_key: str
    frame_time: float
    sequence_number: str
    record: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        faces = []
        for result in self.record["FaceSearchResponse"]:
            detected = result["DetectedFace"]
            faces.append(
                {
                    "boundingBox": detected["BoundingBox"],
                    "confidence": detected["Confidence"],
                    "quality": detected.get("Quality"),
                    "matches": [
                        {
                            "visitorId": match["Face"].get("ExternalImageId"),
                            "faceId": match["Face"]["FaceId"],
                            "similarity": match["Similarity"],
                        }
                        for match in result["MatchedFaces"]
                    ],
                }
            )
        return {
            "doorId": self.door_id,
            "s3Key": self.s3_key,
            "frameTime": self.frame_time,
            "sequenceNumber": self.sequence_number,
            "faces": faces,
        }


class CameraFrames:
    """Frames of the doors this stack serves -> snapshots + face-search records on the stream."""

    def __init__(
        self,
        *,
        doors: set[str],
        engine: LocalFaceEngine,
        photos: PhotoStore,
        put_record: Callable[[Mapping[str, Any]], str],
        match_threshold: float,
        on_frame: Callable[[str, float, bytes], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`on_frame(doorId, frameTime, jpeg)` hears of every frame once it is on the stream
        (the local stack keeps it as the door camera's video)."""
        self._doors = set(doors)
        self._engine = engine
        self._photos = photos
        self._put_record = put_record
        self._threshold = match_threshold
        self._on_frame = on_frame
        self._clock = clock
        self._last_time = 0.0
        # One camera is one ordered stream. A frame's time is when it arrived (its capture, as
        # near as the server can tell); frames are then searched and put on the stream one at a
        # time in arrival order, so records reach the stream in frame-time order (an earlier
        # frame arriving later would read as a retry and be ignored).
        self._tickets = threading.Lock()
        self._turn = threading.Condition()
        self._next_ticket = 0
        self._serving = 0

    def _frame_time(self) -> float:
        # Strictly increasing: two frames in the same millisecond must not look like a retry.
        now = round(self._clock(), 3)
        self._last_time = max(now, round(self._last_time + 0.001, 3))
        return self._last_time

    def ingest(self, door_id: str, data: bytes, content_type: str | None) -> FrameResult:
        """Store, search and stream one frame; FrameRejected (nothing stored) for a bad one."""
        if not DOOR_ID_PATTERN.match(door_id) or door_id not in self._doors:
            raise FrameRejected(404, f"this stack serves door {', '.join(sorted(self._doors))}, not that one")
        media_type = (content_type or "").split(";")[0].strip().lower()
        if media_type not in ("image/jpeg", "image/png"):
            raise FrameRejected(415, "send the frame as the request body with Content-Type: image/jpeg")
        if not data:
            raise FrameRejected(400, "the body is empty: send a JPEG frame")
        with self._tickets:
            ticket, self._next_ticket = self._next_ticket, self._next_ticket + 1
            frame_time = self._frame_time()
        with self._turn:
            self._turn.wait_for(lambda: self._serving == ticket)
        try:
            key, record, sequence = self._process(door_id, data, frame_time)
        finally:
            with self._turn:
                self._serving += 1
                self._turn.notify_all()
        return FrameResult(door_id, key, frame_time, sequence, record)

    def _process(self, door_id: str, data: bytes, frame_time: float) -> tuple[str, dict[str, Any], str]:
        from smartdoor.errors import InvalidImage

        try:
            frame = normalise_frame(data)
        except InvalidImage as error:
            raise FrameRejected(400, f"not a usable picture: {error}") from None
        key = f"{CAMERA_PREFIX}{door_id}/{round(frame_time * 1000)}.jpg"
        self._photos.put_jpeg(key, frame)
        searched = self._engine.search_picture(frame, self._threshold, MAX_MATCHES)
        answer, quality = searched if searched is not None else (None, None)
        record = face_search_record(
            answer,
            door_id=door_id,
            source=StoredImageSource(bucket=self._photos.bucket, key=key, frame_time=frame_time),
            quality=quality,
        )
        sequence = self._put_record(record)
        if self._on_frame is not None:
            self._on_frame(door_id, frame_time, frame)
        return key, record, sequence
