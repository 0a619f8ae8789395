"""Stand-ins for the doorbell session's adapters: camera, record sink, stores, processor, owner email.

camera = FakeDoorCamera(clock)        # a new frame at every sample, 0.2 s before "now"
camera.goes_dark(times=2)             # the next two samples find no new frame
writer = RecordingRecordWriter()      # keeps what was written; .fail_next(n) raises TransientError
sessions = InMemorySessionStore()     # the DynamoSessionStore contract (versions, conflicts)
budget = InMemoryFrameBudget()        # the DynamoFrameBudget contract
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from smartdoor.adapters.door_camera import CameraFrame
from smartdoor.adapters.snapshot_store import HEAD_BYTES
from smartdoor.adapters.stream_processor import ProcessorBusy, ProcessorOutcome
from smartdoor.domain.doorbell import Session, StoredSession
from smartdoor.domain.face_search_records import OutgoingRecord, VideoFrameSource
from smartdoor.domain.snapshots import SnapshotOutcome, UploadedObject
from smartdoor.errors import TransientError, VersionConflict
from tests.fakes.images import make_jpeg

STREAM_ARN = "arn:aws:kinesisvideo:us-east-1:123456789012:stream/SmartDoor-front-door/1700000000000"
FRAGMENT_SECONDS = 2.0


class FakeClock:
    """A clock tests move by hand (`advance`) or that moves by `step` on every reading."""

    def __init__(self, start: float = 1_763_700_000.0, step: float = 0.0) -> None:
        self.now = start
        self.step = step

    def __call__(self) -> float:
        current = self.now
        self.now += self.step
        return current

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class FakeDoorCamera:
    """The newest frame of the door stream: taken `lag` seconds before the asked time, in 2-second
    fragments whose producer clock runs `producer_skew` seconds behind the server's."""

    jpeg: bytes = field(default_factory=make_jpeg)
    lag: float = 0.2
    producer_skew: float = -0.05
    dark: int = 0
    calls: list[tuple[str, float, float | None]] = field(default_factory=list)
    frames: list[CameraFrame] = field(default_factory=list)

    def goes_dark(self, times: int = 1) -> FakeDoorCamera:
        self.dark += times
        return self

    def newest_frame(self, stream_arn: str, now: float, after: float | None) -> CameraFrame | None:
        self.calls.append((stream_arn, now, after))
        if self.dark > 0:
            self.dark -= 1
            return None
        server_time = round(now - self.lag, 3)
        if after is not None and server_time <= after:
            return None
        fragment_server = server_time - server_time % FRAGMENT_SECONDS
        frame = CameraFrame(
            jpeg=self.jpeg,
            source=VideoFrameSource(
                stream_arn=stream_arn,
                fragment_number=f"91343852333181432392682062{int(fragment_server * 1000):022d}",
                producer_timestamp=round(fragment_server + self.producer_skew, 3),
                server_timestamp=round(fragment_server, 3),
                frame_offset_seconds=round(server_time - fragment_server, 3),
            ),
            server_time=server_time,
        )
        self.frames.append(frame)
        return frame


class RecordingRecordWriter:
    """RecordWriter in memory. `after_write` runs after each successful write (e.g. a Kinesis pump)."""

    def __init__(self, after_write: Callable[[], None] | None = None) -> None:
        self.records: list[OutgoingRecord] = []
        self._fail = 0
        self._after_write = after_write

    def fail_next(self, calls: int = 1) -> None:
        self._fail += calls

    def write(self, records: Sequence[OutgoingRecord]) -> list[str]:
        if self._fail > 0:
            self._fail -= 1
            raise TransientError("ProvisionedThroughputExceededException: fake Kinesis is throttling")
        start = len(self.records)
        self.records.extend(records)
        if self._after_write:
            self._after_write()
        return [f"{start + i:056d}" for i in range(len(records))]

    @property
    def payloads(self) -> list[dict[str, Any]]:
        """The records as the match function would decode them."""
        return [json.loads(record.encoded()) for record in self.records]


class InMemorySessionStore:
    """SessionStore in memory with the same optimistic locking as DynamoSessionStore.

    `interfere(fn)` runs fn(store) once, right after the next load: a write that lands between
    a reader's load and its save (a ring during a sample)."""

    def __init__(self) -> None:
        self.items: dict[str, StoredSession] = {}
        self.saves = 0
        self._interference: list[Callable[[InMemorySessionStore], None]] = []
        self._lock = threading.RLock()

    def interfere(self, action: Callable[[InMemorySessionStore], None]) -> None:
        self._interference.append(action)

    def load(self, door_id: str) -> StoredSession | None:
        with self._lock:
            stored = self.items.get(door_id)
            if self._interference:
                self._interference.pop(0)(self)
            return stored

    def save(self, session: Session, expected_version: int | None) -> int:
        with self._lock:
            current = self.items.get(session.door_id)
            if (None if current is None else current.version) != expected_version:
                raise VersionConflict(f"session of {session.door_id} changed")
            version = 1 if expected_version is None else expected_version + 1
            self.items[session.door_id] = StoredSession(session, version)
            self.saves += 1
            return version

    def session(self, door_id: str) -> Session:
        return self.items[door_id].session


class InMemoryFrameBudget:
    def __init__(self) -> None:
        self.frames: dict[str, int] = {}
        self.alerted: set[str] = set()
        self._lock = threading.Lock()

    def reserve(self, day: str, cap: int) -> bool:
        with self._lock:
            if self.frames.get(day, 0) >= cap:
                return False
            self.frames[day] = self.frames.get(day, 0) + 1
            return True

    def claim_cap_alert(self, day: str) -> bool:
        with self._lock:
            if day in self.alerted:
                return False
            self.alerted.add(day)
            return True

    def release_cap_alert(self, day: str) -> None:
        with self._lock:
            self.alerted.discard(day)


@dataclass
class RecordingOwnerEmail:
    sent: list[tuple[str, str]] = field(default_factory=list)
    failures: int = 0

    def send_email(self, subject: str, body: str) -> str:
        if self.failures > 0:
            self.failures -= 1
            raise TransientError("SNS throttled (fake)")
        self.sent.append((subject, body))
        return f"message-{len(self.sent)}"


@dataclass
class FakeStreamProcessor:
    status: str = "STOPPED"
    busy_times: int = 0
    actions: list[str] = field(default_factory=list)

    def start(self) -> ProcessorOutcome:
        self.actions.append("start")
        if self.busy_times > 0:
            self.busy_times -= 1
            raise ProcessorBusy("stream processor is STOPPING (fake)")
        if self.status == "RUNNING":
            return ProcessorOutcome.ALREADY_RUNNING
        self.status = "RUNNING"
        return ProcessorOutcome.STARTED

    def stop(self) -> ProcessorOutcome:
        self.actions.append("stop")
        if self.status != "RUNNING":
            return ProcessorOutcome.ALREADY_STOPPED
        self.status = "STOPPED"
        return ProcessorOutcome.STOPPED


@dataclass
class InMemorySnapshots:
    """SnapshotObjects and SnapshotLog in memory: `objects[(bucket, key)] = bytes`."""

    objects: dict[tuple[str, str], bytes] = field(default_factory=dict)
    outcomes: dict[str, SnapshotOutcome] = field(default_factory=dict)
    processing: set[str] = field(default_factory=set)
    inspected: list[str] = field(default_factory=list)

    def inspect(self, bucket: str, key: str, max_bytes: int) -> UploadedObject | None:
        self.inspected.append(key)
        data = self.objects.get((bucket, key))
        if data is None:
            return None
        return UploadedObject(size=len(data), head=data[:HEAD_BYTES] if 0 < len(data) <= max_bytes else b"")

    def claim(self, key: str, now: float) -> bool:
        if key in self.outcomes or key in self.processing:
            return False
        self.processing.add(key)
        return True

    def release(self, key: str) -> None:
        self.processing.discard(key)

    def finish(self, outcome: SnapshotOutcome, now: float) -> None:
        self.processing.discard(outcome.key)
        self.outcomes[outcome.key] = outcome
