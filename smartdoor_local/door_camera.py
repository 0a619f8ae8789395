"""The door camera's video, locally: the frames the camera page sent, in place of Kinesis Video.

On AWS the door camera streams into KVS; a doorbell session asks it for the newest frame
(`DoorCamera.newest_frame`) and extract_frame fetches a frame by its time (`VideoFrames.get_frame`).
The local stack has no KVS, so `LocalCameraFeed` keeps the last minute of frames each door's
camera sent (`POST /local/doors/{doorId}/frames`) and answers both questions from them, for the
door's stream ARN. A frame's producer and server timestamps are both its arrival time, and it
is its own "fragment" (the fragment number is the arrival time in milliseconds).

A camera frame is also searched and streamed directly when it arrives (`smartdoor_local.camera`);
a session that samples the same frame writes a record with the same frame time, which the match
function counts once (a frame at or before the last one counted is a retry).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from smartdoor.adapters.door_camera import CameraFrame
from smartdoor.domain.face_search_records import VideoFrameSource
from smartdoor.errors import MediaNotAvailable

KEEP_SECONDS = 60.0
MAX_FRAMES = 300
# extract_frame asks for the frame at a time; KVS GetImages looks within half a second of it.
WINDOW_SECONDS = 0.5


@dataclass(frozen=True)
class _Frame:
    time: float
    jpeg: bytes


class LocalCameraFeed:
    """Recent camera frames per door: `DoorCamera` and `VideoFrames` for the local stack."""

    def __init__(self, streams: Mapping[str, str]) -> None:
        """`streams`: the door's KVS stream ARN -> door id."""
        self._streams = dict(streams)
        self._frames: dict[str, deque[_Frame]] = {}
        self._lock = threading.Lock()

    def add(self, door_id: str, frame_time: float, jpeg: bytes) -> None:
        with self._lock:
            frames = self._frames.setdefault(door_id, deque(maxlen=MAX_FRAMES))
            frames.append(_Frame(frame_time, jpeg))
            while frames and frames[0].time < frame_time - KEEP_SECONDS:
                frames.popleft()

    def _door_frames(self, stream_arn: str) -> list[_Frame]:
        door_id = self._streams.get(stream_arn)
        with self._lock:
            return list(self._frames.get(door_id or "", ()))

    # -- DoorCamera (doorbell sessions)

    def newest_frame(self, stream_arn: str, now: float, after: float | None) -> CameraFrame | None:
        for frame in reversed(self._door_frames(stream_arn)):
            if frame.time > now:
                continue
            if after is not None and frame.time <= after:
                return None
            source = VideoFrameSource(
                stream_arn=stream_arn,
                fragment_number=str(round(frame.time * 1000)),
                producer_timestamp=frame.time,
                server_timestamp=frame.time,
            )
            return CameraFrame(jpeg=frame.jpeg, source=source, server_time=frame.time)
        return None

    # -- VideoFrames (extract_frame)

    def get_frame(self, stream_arn: str, frame_time: float) -> bytes:
        nearby = [f for f in self._door_frames(stream_arn) if abs(f.time - frame_time) <= WINDOW_SECONDS]
        if not nearby:
            raise MediaNotAvailable(
                f"the door camera sent no frame within {WINDOW_SECONDS}s of {frame_time:.3f} (kept: last "
                f"{KEEP_SECONDS:.0f}s)"
            )
        return min(nearby, key=lambda f: abs(f.time - frame_time)).jpeg
