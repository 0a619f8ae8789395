"""Fixtures for the door agent: a device API on 127.0.0.1, an MQTT broker, mock GPIO pins, frames.

The device API is a small werkzeug app serving what a door device meets: the ring route, the
snapshots route (a presigned-POST form pointing back at this server) and the POST target that
stands in for S3, which records each multipart upload. The broker is the local stack's own
(smartdoor_local.mqtt_broker: amqtt in a subprocess bound to 127.0.0.1 on a free port).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import pytest
from gpiozero.pins.mock import MockFactory
from werkzeug.wrappers import Request, Response

from smartdoor_local.mqtt_broker import LocalBroker as Broker
from smartdoor_local.mqtt_broker import free_port, start_broker
from tests.fakes.pins import mock_pin_factory
from tests.wsgi_server import served

DOOR_ID = "front-door"
FORM_FIELDS = {
    "key": "snapshots/front-door/1763755200250-3f9c0a7b12d4e6f8.jpg",
    "Content-Type": "image/jpeg",
    "policy": "eyJleHBpcmF0aW9uIjoiMjAyNi0xMS0yMVQyMDowMTowMFoifQ==",
    "x-amz-algorithm": "AWS4-HMAC-SHA256",
    "x-amz-signature": "0f1e2d3c4b5a",
}


@dataclass
class Upload:
    fields: dict[str, str]
    file_field: str
    filename: str | None
    content_type: str | None
    body: bytes
    file_is_last: bool


@dataclass
class DeviceApi:
    """What the fake API saw, and what it should answer next."""

    url: str = ""
    calls: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    uploads: list[Upload] = field(default_factory=list)
    ring_failures: list[int] = field(default_factory=list)  # statuses to answer before a 202
    snapshot_failures: list[int] = field(default_factory=list)
    stack_extra: dict[str, Any] = field(default_factory=dict)

    def calls_to(self, path: str) -> list[tuple[str, str, dict[str, str]]]:
        return [call for call in self.calls if call[1] == path]

    def __call__(self, environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        self.calls.append((request.method, request.path, dict(request.headers)))
        try:
            response = self._answer(request)
        finally:
            request.close()  # the parsed multipart files
        return response(environ, start_response)

    def _answer(self, request: Request) -> Response:
        path, method = request.path, request.method
        if method == "GET" and path == "/local/stack":
            return _json({"doorId": DOOR_ID, "region": "us-east-1", **self.stack_extra}, 200)
        if method == "POST" and path == f"/doors/{DOOR_ID}/ring":
            if self.ring_failures:
                return _json({"message": "try again"}, self.ring_failures.pop(0), {"Retry-After": "0"})
            return _json({"doorId": DOOR_ID, "accepted": True, "ringAt": "2026-11-21T20:00:00Z"}, 202)
        if method == "POST" and path == f"/doors/{DOOR_ID}/snapshots":
            if self.snapshot_failures:
                return _json({"message": "unavailable"}, self.snapshot_failures.pop(0))
            return _json(self._form(), 201)
        if method == "POST" and path == "/s3-upload":
            return self._receive_upload(request)
        return _json({"message": "not found"}, 404)

    def _form(self) -> dict[str, Any]:
        return {
            "doorId": DOOR_ID,
            "key": FORM_FIELDS["key"],
            "upload": {
                "method": "POST",
                "url": f"{self.url}/s3-upload",
                "fields": FORM_FIELDS,
                "fileField": "file",
            },
            "contentType": "image/jpeg",
            "maxBytes": 5242880,
            "expiresAt": "2026-11-21T20:01:00Z",
        }

    def _receive_upload(self, request: Request) -> Response:
        raw = request.get_data(cache=True)
        file_position = raw.find(b'name="file"')
        field_positions = [raw.find(f'name="{name}"'.encode()) for name in FORM_FIELDS]
        upload = request.files.get("file")
        self.uploads.append(
            Upload(
                fields=dict(request.form),
                file_field="file" if upload else "",
                filename=upload.filename if upload else None,
                content_type=upload.mimetype if upload else None,
                body=upload.read() if upload else b"",
                file_is_last=file_position > max(field_positions),
            )
        )
        return Response(status=204)


def _json(body: Any, status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, content_type="application/json")


@pytest.fixture
def device_api() -> Iterator[DeviceApi]:
    api = DeviceApi()
    with served(api) as url:
        api.url = url
        yield api


def closed_port() -> int:
    """A port nobody listens on (connection refused)."""
    return free_port()


@pytest.fixture
def mqtt_broker() -> Iterator[Broker]:
    broker = start_broker()
    yield broker
    broker.stop()


@pytest.fixture
def mock_pins() -> Iterator[MockFactory]:
    """gpiozero's mock pin factory for every device the test creates."""
    with mock_pin_factory() as factory:
        yield factory


# ---------------------------------------------------------------------------- generated frames

WIDTH, HEIGHT = 320, 240


def door_scene(seed: int = 7) -> np.ndarray:
    """A porch: a wall gradient, a door with a frame and a handle."""
    rng = np.random.default_rng(seed)
    scene = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    scene[:] = np.linspace(60, 120, WIDTH, dtype=np.uint8)[None, :, None]
    cv2.rectangle(scene, (180, 30), (290, 235), (40, 60, 90), -1)
    cv2.rectangle(scene, (180, 30), (290, 235), (200, 200, 200), 3)
    cv2.circle(scene, (275, 140), 5, (0, 200, 230), -1)
    texture = rng.integers(-12, 12, size=scene.shape, dtype=np.int16)
    return np.clip(scene.astype(np.int16) + texture, 0, 255).astype(np.uint8)


def with_sensor_noise(frame: np.ndarray, rng: np.random.Generator, sigma: float = 3.0) -> np.ndarray:
    noise = rng.normal(0, sigma, frame.shape)
    return np.clip(frame.astype(np.float64) + noise, 0, 255).astype(np.uint8)


def with_face(frame: np.ndarray, centre_x: int) -> np.ndarray:
    """A bright ellipse 'face' (with eyes, so it has edges) centred at centre_x."""
    out = frame.copy()
    cv2.ellipse(out, (centre_x, 100), (28, 38), 0, 0, 360, (190, 210, 235), -1)
    for dx in (-10, 10):
        cv2.circle(out, (centre_x + dx, 90), 4, (30, 30, 30), -1)
    cv2.ellipse(out, (centre_x, 118), (10, 4), 0, 0, 360, (40, 40, 120), -1)
    return out


def blurred(frame: np.ndarray) -> np.ndarray:
    return np.asarray(cv2.GaussianBlur(frame, (21, 21), 0))
