"""Motion on generated frames, the burst's sharpest frames, and rings (the agent with a fake API)."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from smartdoor_door.agent import Agent
from smartdoor_door.motion import MotionDetector
from smartdoor_door.sharpness import sharpest, sharpness
from tests.door.conftest import blurred, door_scene, with_face, with_sensor_noise

FPS = 15


@dataclass
class RecordingApi:
    rings: int = 0
    snapshots: list[bytes] = field(default_factory=list)

    def ring(self) -> dict[str, str]:
        self.rings += 1
        return {"ringAt": "2026-11-21T20:00:00Z"}

    def upload_snapshot(self, jpeg: bytes) -> str:
        self.snapshots.append(jpeg)
        return f"snapshots/front-door/{len(self.snapshots)}.jpg"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make_agent(
    api: RecordingApi, clock: FakeClock, cooldown: float = 15.0, burst_seconds: float = 2.0
) -> Agent:
    detector = MotionDetector(sensitivity=0.02, cooldown_seconds=cooldown)
    return Agent(api, detector, burst_frames=6, burst_seconds=burst_seconds, upload_frames=3, clock=clock)  # type: ignore[arg-type]


def feed(agent: Agent, clock: FakeClock, frames: list[np.ndarray]) -> None:
    for frame in frames:
        agent.on_frame(frame)
        clock.now += 1 / FPS


def still_frames(count: int, rng: np.random.Generator) -> list[np.ndarray]:
    scene = door_scene()
    return [with_sensor_noise(scene, rng) for _ in range(count)]


def face_walks_in(rng: np.random.Generator) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A face entering from the left and stopping at the door; every other frame motion-blurred."""
    scene, frames, blurry = door_scene(), [], []
    for step, centre_x in enumerate([*range(-30, 150, 12), *[150] * 20]):
        frame = with_sensor_noise(with_face(scene, centre_x), rng)
        if step % 2:
            frame = blurred(frame)
            blurry.append(frame)
        frames.append(frame)
    return frames, blurry


def decode(jpeg: bytes) -> np.ndarray:
    return np.asarray(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR))


def test_a_still_scene_with_sensor_noise_uploads_nothing() -> None:
    # GIVEN the agent watching an empty porch (sensor noise only) for 20 seconds
    api, clock, rng = RecordingApi(), FakeClock(), np.random.default_rng(1)
    agent = make_agent(api, clock)
    # WHEN it sees the frames
    feed(agent, clock, still_frames(20 * FPS, rng))
    # THEN nothing left the device
    assert api.snapshots == []
    assert api.rings == 0


def test_a_face_walking_in_uploads_one_burst_of_the_sharpest_frames() -> None:
    # GIVEN a still porch, then a face walking in (half the frames motion-blurred), and a burst
    # of six consecutive frames (no spacing, so three of them are blurred)
    api, clock, rng = RecordingApi(), FakeClock(), np.random.default_rng(2)
    agent = make_agent(api, clock, burst_seconds=0.0)
    walking, blurry = face_walks_in(rng)
    # WHEN the agent sees them
    feed(agent, clock, still_frames(30, rng) + walking)
    # THEN one burst: three snapshots, each sharper than any blurred frame, each showing the face
    assert len(api.snapshots) == 3
    worst_sharp = min(sharpness(decode(jpeg)) for jpeg in api.snapshots)
    assert worst_sharp > 3 * max(sharpness(frame) for frame in blurry)
    for jpeg in api.snapshots:
        assert decode(jpeg).shape == (240, 320, 3)
    assert api.rings == 0


def test_the_same_arrival_after_the_cooldown_is_a_second_burst() -> None:
    # GIVEN a short cooldown (one second, the walk lasts longer)
    api, clock, rng = RecordingApi(), FakeClock(), np.random.default_rng(3)
    agent = make_agent(api, clock, cooldown=1.0, burst_seconds=0.0)
    walking, _ = face_walks_in(rng)
    # WHEN the face walks in, and walks in again
    feed(agent, clock, still_frames(5, rng) + walking[:12] + still_frames(20, rng) + walking[:12])
    # THEN every burst is 3 frames, and there is more than one
    assert len(api.snapshots) % 3 == 0
    assert len(api.snapshots) >= 6


def test_sharpest_picks_the_unblurred_frames_in_their_order() -> None:
    rng = np.random.default_rng(4)
    sharp = [with_sensor_noise(with_face(door_scene(), x), rng) for x in (60, 90, 120)]
    frames = [blurred(sharp[0]), sharp[0], blurred(sharp[1]), sharp[1], sharp[2], blurred(sharp[2])]
    chosen = sharpest(frames, 3)
    assert [id(frame) for frame in chosen] == [id(frame) for frame in sharp]


def test_a_ring_is_exactly_one_ring_call_and_one_burst() -> None:
    # GIVEN an agent watching a still porch
    api, clock, rng = RecordingApi(), FakeClock(), np.random.default_rng(5)
    agent = make_agent(api, clock)
    feed(agent, clock, still_frames(10, rng))
    # WHEN the bell is pressed once and the camera keeps running
    agent.ring()
    feed(agent, clock, still_frames(40, rng))
    # THEN one ring call, and one burst of three (a ring is worth a look even without motion)
    assert api.rings == 1
    assert len(api.snapshots) == 3


def test_a_ring_without_a_camera_sends_only_the_ring() -> None:
    api, clock = RecordingApi(), FakeClock()
    agent = make_agent(api, clock)
    agent.ring()
    assert api.rings == 1
    assert api.snapshots == []


def test_the_detector_ignores_small_changes_below_the_sensitivity() -> None:
    # GIVEN a detector at 2 %; WHEN a tiny spot (far under 2 % of the frame) appears
    detector = MotionDetector(sensitivity=0.02, cooldown_seconds=0)
    scene = door_scene()
    spot = scene.copy()
    cv2.circle(spot, (40, 40), 3, (255, 255, 255), -1)
    detector.update(scene, 0.0)
    # THEN no motion; a face-sized change is motion
    assert detector.update(spot, 0.1) is False
    assert detector.update(with_face(scene, 100), 0.2) is True


def test_the_burst_is_spread_over_burst_seconds() -> None:
    # GIVEN a 2-second burst; WHEN a face walks in
    api, clock, rng = RecordingApi(), FakeClock(), np.random.default_rng(6)
    agent = make_agent(api, clock, burst_seconds=2.0)
    feed(agent, clock, still_frames(5, rng))
    walking, _ = face_walks_in(rng)
    feed(agent, clock, walking[:2])  # the face steps in: motion
    started = clock.now
    # THEN nothing is sent before the burst's two seconds are over, and three frames after
    while clock.now - started < 1.6:
        feed(agent, clock, [walking[min(len(walking) - 1, 2 + round((clock.now - started) * FPS))]])
    assert api.snapshots == []
    feed(agent, clock, walking[-10:])
    assert len(api.snapshots) == 3
