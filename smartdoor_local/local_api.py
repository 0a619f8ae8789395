"""The local API: what the local stack adds to Smart Door's own API (docs/local.md has the contract).

- POST /local/doors/{doorId}/frames: a camera frame (body: the JPEG, Content-Type: image/jpeg)
  into the face-search stream (`smartdoor_local.camera`); 202 with what the engine saw.
- GET /local/outbox: every SMS and email, oldest first.
- GET /local/executions: every workflow execution, oldest first, with its path of states.
- GET /local/events: every event put on the bus, oldest first.
- GET /local/stack: the moto endpoint and resource names, the lock and (lock "iot") the MQTT
  broker's `{host, port}`, for the `smartdoor` and `smartdoor-door` commands.
- GET /local/lock: the lock, each unlock command's state (the lock-states table) and the webhook
  receiver's calls; the outbox page shows them.
- POST /local/lock-webhook: the webhook lock (`smartdoor local --lock webhook`): checks the
  key header, records the call, answers 200 (smartdoor_local.lock_webhook); GET lists the calls.
- GET /local/photos/{key}?expires&signature: a photo, through a link the stack signed.

Pages: /camera/ (the door camera), /outbox/, /executions/. The camera page is the one page
allowed to use the camera (`Permissions-Policy: camera=(self)`).
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

from smartdoor.domain.snapshots import MAX_SNAPSHOT_BYTES
from smartdoor_local.camera import CameraFrames, FrameRejected
from smartdoor_local.emulation.overrides import LOCAL_WEBHOOK_PATH
from smartdoor_local.http_server import WEB_DIR, LocalRequest, LocalResponse, security_headers
from smartdoor_local.photo_links import PHOTOS_PATH
from smartdoor_local.stack import LocalStack

FRAMES_PATH = re.compile(r"^/local/doors/([^/]+)/frames$")
# A camera frame is a picture, not an API body: as large as an edge device's snapshot may be.
MAX_FRAME_BYTES = MAX_SNAPSHOT_BYTES
_NO_STORE = {"Cache-Control": "no-store"}


def _json(status: int, payload: Any) -> LocalResponse:
    return LocalResponse.json(status, payload, headers=_NO_STORE)


def _error(status: int, message: str) -> LocalResponse:
    return _json(status, {"error": message})


class LocalApi:
    """The `/local/` mount of the local server."""

    def __init__(self, stack: LocalStack, camera: CameraFrames) -> None:
        self._stack = stack
        self._camera = camera

    def __call__(self, request: LocalRequest) -> LocalResponse:
        path = request.path
        frames = FRAMES_PATH.match(request.raw_path)
        if frames:
            if request.method != "POST":
                return _error(HTTPStatus.METHOD_NOT_ALLOWED, "POST a JPEG frame here")
            return self._frame(request, frames.group(1))
        if path.startswith(PHOTOS_PATH):
            return self._photo(request, path[len(PHOTOS_PATH) :])
        if path.rstrip("/") == LOCAL_WEBHOOK_PATH and request.method == "POST":
            status, answer = self._stack.lock_webhook.receive(dict(request.headers), request.body)
            return _json(status, answer)
        views = {
            "/local/outbox": lambda: self._stack.outbox.to_json(),
            "/local/executions": self._stack.executions,
            "/local/events": self._stack.bus.events,
            "/local/stack": self._stack.stack_info,
            LOCAL_WEBHOOK_PATH: self._stack.lock_webhook.calls,
            "/local/lock": self._stack.lock_info,
        }
        view = views.get(path.rstrip("/"))
        if view is None:
            return _error(HTTPStatus.NOT_FOUND, "not found")
        if request.method not in ("GET", "HEAD"):
            return _error(HTTPStatus.METHOD_NOT_ALLOWED, "GET only")
        return _json(HTTPStatus.OK, view())

    def _frame(self, request: LocalRequest, door_id: str) -> LocalResponse:
        try:
            result = self._camera.ingest(door_id, request.body, request.header("Content-Type"))
        except FrameRejected as rejected:
            return _error(rejected.status, rejected.message)
        return _json(HTTPStatus.ACCEPTED, result.to_json())

    def _photo(self, request: LocalRequest, key: str) -> LocalResponse:
        if request.method not in ("GET", "HEAD"):
            return _error(HTTPStatus.METHOD_NOT_ALLOWED, "GET only")
        expires = (request.query.get("expires") or [""])[-1]
        signature = (request.query.get("signature") or [""])[-1]
        if not key or not self._stack.photo_links.is_valid(key, expires, signature):
            return _error(HTTPStatus.FORBIDDEN, "this photo link is not valid or has expired")
        from botocore.exceptions import ClientError

        from smartdoor.adapters.photo_store import S3PhotoStore

        try:
            data = S3PhotoStore(self._stack.names["photos"]).read(key)
        except ClientError:  # NoSuchKey: the photo was forgotten
            return _error(HTTPStatus.NOT_FOUND, "no such photo")
        headers = {
            "Content-Type": "image/jpeg",
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
        }
        body = b"" if request.method == "HEAD" else data
        return LocalResponse(status=HTTPStatus.OK, headers=headers, body=body)


def camera_page(request: LocalRequest) -> LocalResponse:
    """/camera/: the same security headers as every page, except that it may use the camera."""
    if request.path in ("/camera", "/camera/") and request.method in ("GET", "HEAD"):
        if request.path == "/camera":
            return LocalResponse(status=HTTPStatus.MOVED_PERMANENTLY, headers={"Location": "/camera/"})
        headers = {
            "Content-Type": "text/html; charset=utf-8",
            "Cache-Control": "no-cache",
            **security_headers(),
            "Permissions-Policy": "camera=(self), microphone=(), geolocation=(), payment=()",
        }
        page = (WEB_DIR / "camera" / "index.html").read_bytes()
        return LocalResponse(
            status=HTTPStatus.OK, headers=headers, body=b"" if request.method == "HEAD" else page
        )
    return LocalResponse.json(HTTPStatus.NOT_FOUND, {"error": "not found"}, security_headers())
