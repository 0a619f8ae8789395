"""The device routes over real HTTP on 127.0.0.1: ring, the snapshot form and the presigned POST."""

from __future__ import annotations

import io
import time

import cv2
import numpy as np
import pytest
from gpiozero.pins.mock import MockFactory

from smartdoor_door.agent import Agent, run_now
from smartdoor_door.camera import encode_jpeg
from smartdoor_door.config import parse_config
from smartdoor_door.lock import DoorLock
from smartdoor_door.motion import MotionDetector
from smartdoor_door.relay import GpioRelay
from smartdoor_door.runner import enter_rings, listen_for_rings, make_agent
from smartdoor_door.uploads import ApiError, ApiKeyAuth, ApiUnreachable, Backoff, DoorApi, IamAuth
from tests.door.conftest import DOOR_ID, FORM_FIELDS, DeviceApi, closed_port, door_scene, with_face


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def door_api(url: str, sleeps: Sleeps, attempts: int = 5) -> DoorApi:
    return DoorApi(url, DOOR_ID, ApiKeyAuth("device-key"), backoff=Backoff(attempts=attempts, sleep=sleeps))


def test_a_ring_is_one_post_to_the_ring_route_with_the_api_key(device_api: DeviceApi) -> None:
    sleeps = Sleeps()
    answer = door_api(device_api.url, sleeps).ring()
    assert answer["accepted"] is True
    rings = device_api.calls_to(f"/doors/{DOOR_ID}/ring")
    assert len(rings) == 1
    assert rings[0][2]["X-Api-Key"] == "device-key"
    assert sleeps == []


def test_a_snapshot_posts_exactly_the_form_fields_then_the_jpeg(device_api: DeviceApi) -> None:
    # GIVEN a JPEG of the porch
    jpeg = encode_jpeg(with_face(door_scene(), 120))
    # WHEN it is uploaded
    key = door_api(device_api.url, Sleeps()).upload_snapshot(jpeg)
    # THEN the form was asked for once, and S3's target got every field, the file last
    assert key == FORM_FIELDS["key"]
    assert len(device_api.calls_to(f"/doors/{DOOR_ID}/snapshots")) == 1
    [upload] = device_api.uploads
    assert upload.fields == FORM_FIELDS
    assert upload.file_is_last
    assert upload.content_type == "image/jpeg"
    assert upload.body == jpeg
    decoded = cv2.imdecode(np.frombuffer(upload.body, np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == (240, 320, 3)
    # the presigned POST carries no API key: S3 is not the API
    [s3_call] = device_api.calls_to("/s3-upload")
    assert "X-Api-Key" not in s3_call[2]


def test_503s_are_retried_with_backoff_then_the_ring_goes_through(device_api: DeviceApi) -> None:
    device_api.ring_failures = [503, 503]
    sleeps = Sleeps()
    door_api(device_api.url, sleeps).ring()
    assert len(device_api.calls_to(f"/doors/{DOOR_ID}/ring")) == 3
    assert sleeps == [0.0, 0.0]  # the API's Retry-After: 0


def test_a_snapshot_retry_asks_for_a_fresh_form(device_api: DeviceApi) -> None:
    device_api.snapshot_failures = [502]
    sleeps = Sleeps()
    door_api(device_api.url, sleeps).upload_snapshot(encode_jpeg(door_scene()))
    assert len(device_api.calls_to(f"/doors/{DOOR_ID}/snapshots")) == 2
    assert sleeps == [1.0]
    assert len(device_api.uploads) == 1


def test_connection_refused_is_retried_with_exponential_backoff_then_unreachable() -> None:
    sleeps = Sleeps()
    api = door_api(f"http://127.0.0.1:{closed_port()}", sleeps)
    with pytest.raises(ApiUnreachable, match=r"unreachable after 5 attempts \(cannot connect to 127.0.0.1"):
        api.ring()
    assert sleeps == [1.0, 2.0, 4.0, 8.0]


def test_a_door_the_api_does_not_serve_is_not_retried(device_api: DeviceApi) -> None:
    sleeps = Sleeps()
    api = DoorApi(device_api.url, "back-door", backoff=Backoff(sleep=sleeps))
    with pytest.raises(ApiError, match="answered 404"):
        api.ring()
    assert sleeps == []


def test_api_down_the_agent_retries_and_the_relay_stays_locked(mock_pins: MockFactory) -> None:
    # GIVEN the relay on GPIO 17 (locked) and an API that refuses connections
    relay = GpioRelay(17)
    reports: list[tuple[str, str | None]] = []
    lock = DoorLock(relay, lambda state, command_id: reports.append((state, command_id)))
    sleeps = Sleeps()
    api = door_api(f"http://127.0.0.1:{closed_port()}", sleeps, attempts=3)
    agent = Agent(api, MotionDetector(), burst_frames=2, burst_seconds=0, upload_frames=2)
    # WHEN the bell rings and a burst is taken
    agent.ring()
    agent.on_frame(door_scene())
    agent.on_frame(door_scene())
    # THEN every call was retried with backoff (ring, then the first snapshot), nothing raised,
    # and the door never opened
    assert sleeps == [1.0, 2.0, 1.0, 2.0]
    assert mock_pins.pin(17).state is False
    assert lock.is_open is False
    assert reports == []


def test_iam_auth_signs_for_execute_api_in_the_apis_region() -> None:
    # GIVEN the tests' fake AWS credentials (tests/conftest.py); WHEN a route is signed
    url = "https://abc123.execute-api.eu-west-1.amazonaws.com/v1/doors/front-door/ring"
    headers = IamAuth("eu-west-1").headers("POST", url, b"{}")
    # THEN it is SigV4 for execute-api, scoped to the region
    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=testing/")
    assert "/eu-west-1/execute-api/aws4_request" in headers["Authorization"]
    assert "X-Amz-Date" in headers


def test_the_doorbell_button_rings_once_per_press(device_api: DeviceApi, mock_pins: MockFactory) -> None:
    # GIVEN the agent on a Pi: the bell button on GPIO 27, the real HTTP client
    config = parse_config(
        {"door_id": DOOR_ID, "api": {"url": device_api.url, "auth": "none"}, "gpio": {"enabled": True}}
    )
    agent = make_agent(config, run_now)
    button = listen_for_rings(config, agent)
    try:
        # WHEN the button is pressed and released (the pin is pulled up; a press drives it low)
        pin = mock_pins.pin(27)
        pin.drive_low()
        pin.drive_high()
        # THEN exactly one POST to the ring route
        wait = time.monotonic() + 5
        while not device_api.calls_to(f"/doors/{DOOR_ID}/ring") and time.monotonic() < wait:
            time.sleep(0.01)
        time.sleep(0.2)
        assert len(device_api.calls_to(f"/doors/{DOOR_ID}/ring")) == 1
    finally:
        button.close()


def test_enter_on_a_laptop_rings_once_per_line(device_api: DeviceApi) -> None:
    config = parse_config({"door_id": DOOR_ID, "api": {"url": device_api.url, "auth": "none"}})
    enter_rings(make_agent(config, run_now), io.StringIO("\n\n"))
    assert len(device_api.calls_to(f"/doors/{DOOR_ID}/ring")) == 2
