"""FakeVideoFrames: KVS GetImages as a scriptable stand-in (VideoFrames protocol)."""

from __future__ import annotations

from dataclasses import dataclass, field

from smartdoor.errors import MediaNotAvailable, TransientError
from tests.fakes.images import make_jpeg


@dataclass
class FakeVideoFrames:
    """Returns `jpeg` for any stream and time, after `missing_times` MediaNotAvailable answers
    (media still reaching the archive) and `throttled_times` TransientError answers."""

    jpeg: bytes = field(default_factory=make_jpeg)
    missing_times: int = 0
    throttled_times: int = 0
    calls: list[tuple[str, float]] = field(default_factory=list)

    def get_frame(self, stream_arn: str, frame_time: float) -> bytes:
        self.calls.append((stream_arn, frame_time))
        if self.throttled_times > 0:
            self.throttled_times -= 1
            raise TransientError("ClientLimitExceededException: fake KVS is throttling")
        if self.missing_times > 0:
            self.missing_times -= 1
            raise MediaNotAvailable(f"fake KVS has no image near {frame_time} yet")
        return self.jpeg
