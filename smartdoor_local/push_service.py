"""A Web Push service on 127.0.0.1: what FCM, Mozilla's autopush or Apple's service are on the internet.

The local stack's ask_owner pushes to every stored subscription with the real sender
(smartdoor.adapters.web_push). A subscription whose endpoint is this service's
(`<url>/push/<id>`) is received here: the request must carry a valid VAPID JWT (RFC 8292: ES256
signed by the key in `k`, `aud` this service's origin, `exp` in the future and at most 24 hours
away, a `sub`) and the aes128gcm content coding; otherwise it answers 401 or 400, as a real
service would. A subscription this service created (`new_subscription`, which keeps the browser
side's private key, as a browser does) is decrypted, and the notification lands in the outbox as
channel "push" (subject: its title; body: the decrypted JSON). An unknown or deleted subscription
answers 410, so the sender's clean-up runs for real.

The browser test (tests/e2e/test_owner_push.py) registers such a subscription through the API,
then hands the decrypted payload to the page's real service worker over the DevTools protocol:
a headless Chromium's own PushManager needs Google's push service, which is out of reach offline.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02

from smartdoor_local.outbox import Message, Outbox, now_iso

# The hosts the local stack's API and ask_owner accept plain-http push endpoints for (this service's).
LOCAL_PUSH_HOSTS = frozenset({"127.0.0.1"})
MAX_BODY_BYTES = 4096  # RFC 8030 services accept at least 4096 bytes of payload
MAX_JWT_LIFETIME_SECONDS = 24 * 3600


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Device:
    """The browser side of one subscription: its keys (to decrypt) and what it received."""

    subscription_id: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth_secret: bytes
    received: list[dict[str, Any]] = field(default_factory=list)

    def subscription_json(self) -> dict[str, Any]:
        """What `PushSubscription.toJSON()` gives a page: the body of POST .../push-subscription."""
        public = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": _b64url(public), "auth": _b64url(self.auth_secret)},
        }


@dataclass(frozen=True)
class Delivery:
    """One push the service accepted: its headers' meaning, and the payload if it could decrypt it."""

    subscription_id: str
    ttl: int
    urgency: str | None
    claims: dict[str, Any]
    payload: dict[str, Any] | None


class PushRefused(Exception):
    def __init__(self, status: HTTPStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def vapid_claims(authorization: str, origin: str, now: float) -> dict[str, Any]:
    """The JWT's claims if the `vapid t=...,k=...` header is valid for this service; else PushRefused."""
    scheme, _, params = authorization.partition(" ")
    if scheme.lower() != "vapid":
        raise PushRefused(HTTPStatus.UNAUTHORIZED, "Authorization is not a vapid JWT")
    fields = dict(part.split("=", 1) for part in params.split(",") if "=" in part)
    token = fields.get("t", "")
    try:
        signed = Vapid02.verify(authorization)
    except Exception:  # py_vapid asserts on malformed input
        signed = False
    if not signed:
        raise PushRefused(HTTPStatus.UNAUTHORIZED, "the VAPID signature does not verify")
    claims = json.loads(_b64url_decode(token.split(".")[1]))
    if claims.get("aud") != origin:
        raise PushRefused(HTTPStatus.UNAUTHORIZED, f"aud is not {origin}")
    expires = int(claims.get("exp", 0))
    if not now < expires <= now + MAX_JWT_LIFETIME_SECONDS:
        raise PushRefused(HTTPStatus.UNAUTHORIZED, "exp is past or more than 24 hours away")
    if not str(claims.get("sub", "")).startswith(("mailto:", "https://")):
        raise PushRefused(HTTPStatus.UNAUTHORIZED, "sub is not a mailto: or https: contact")
    return dict(claims)


class LocalPushService:
    """The push service: `start()` / `stop()`, `new_subscription()`, `deliveries`."""

    def __init__(self, outbox: Outbox | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.outbox = outbox or Outbox()
        self._devices: dict[str, Device] = {}
        self._known: set[str] = set()  # ids whose pushes are accepted (also ones not made here)
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> LocalPushService:
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-push", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def new_subscription(self) -> Device:
        """A subscription as a browser would get from this service, with the browser's keys."""
        subscription_id = secrets.token_urlsafe(16)
        device = Device(
            subscription_id=subscription_id,
            endpoint=f"{self.url}/push/{subscription_id}",
            private_key=ec.generate_private_key(ec.SECP256R1()),
            auth_secret=os.urandom(16),
        )
        with self._lock:
            self._devices[subscription_id] = device
            self._known.add(subscription_id)
        return device

    def forget(self, subscription_id: str) -> None:
        """The browser unsubscribed: the next push to it is answered 410 Gone."""
        with self._lock:
            self._devices.pop(subscription_id, None)
            self._known.discard(subscription_id)

    def receive(self, subscription_id: str, headers: dict[str, str], body: bytes) -> Delivery:
        with self._lock:
            known = subscription_id in self._known
            device = self._devices.get(subscription_id)
        if not known:
            raise PushRefused(HTTPStatus.GONE, "no such subscription")
        claims = vapid_claims(headers.get("authorization", ""), self.url, time.time())
        if headers.get("content-encoding", "").lower() != "aes128gcm":
            raise PushRefused(HTTPStatus.BAD_REQUEST, "Content-Encoding must be aes128gcm")
        ttl = headers.get("ttl", "")
        if not ttl.isdigit():
            raise PushRefused(HTTPStatus.BAD_REQUEST, "TTL header is required")
        payload = self._decrypted(device, body) if device else None
        delivery = Delivery(subscription_id, int(ttl), headers.get("urgency"), claims, payload)
        with self._lock:
            self.deliveries.append(delivery)
            if device and payload is not None:
                device.received.append(payload)
        self._record(delivery)
        return delivery

    @staticmethod
    def _decrypted(device: Device, body: bytes) -> dict[str, Any]:
        try:
            plain = http_ece.decrypt(
                body, private_key=device.private_key, auth_secret=device.auth_secret, version="aes128gcm"
            )
            return dict(json.loads(plain))
        except Exception as error:
            raise PushRefused(
                HTTPStatus.BAD_REQUEST, f"the payload does not decrypt ({type(error).__name__})"
            ) from None

    def _record(self, delivery: Delivery) -> None:
        payload = delivery.payload
        title = str(payload.get("title")) if payload else None
        body = (
            json.dumps(payload, indent=2)
            if payload
            else "(encrypted for a browser's keys: not readable here)"
        )
        self.outbox.record(Message("push", f"device {delivery.subscription_id[:6]}…", title, body, now_iso()))

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                path = self.path.split("?", 1)[0]
                if not path.startswith("/push/"):
                    self._answer(HTTPStatus.NOT_FOUND, "not a push endpoint")
                    return
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY_BYTES:
                    self._answer(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "payload too large")
                    return
                body = self.rfile.read(length)
                headers = {name.lower(): value for name, value in self.headers.items()}
                try:
                    service.receive(path.removeprefix("/push/"), headers, body)
                except PushRefused as refused:
                    self._answer(refused.status, refused.reason)
                    return
                self._answer(HTTPStatus.CREATED, "")

            def _answer(self, status: HTTPStatus, reason: str) -> None:
                data = json.dumps({"error": reason}).encode() if reason else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return  # quiet: the outbox is the log

        return Handler
