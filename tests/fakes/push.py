"""A browser's side of Web Push, for tests: a subscription whose private key we hold, so a test can
decrypt what the sender posted; and an in-memory subscriptions table."""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import http_ece
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from smartdoor.domain.push import PushSubscription


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class BrowserKeys:
    """What a browser makes when it subscribes: a P-256 key pair and a 16-byte auth secret."""

    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth_secret: bytes = field(default_factory=lambda: os.urandom(16))

    def subscription(self, endpoint: str) -> PushSubscription:
        public = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return PushSubscription(endpoint=endpoint, p256dh=b64url(public), auth=b64url(self.auth_secret))

    def decrypt(self, body: bytes) -> bytes:
        return bytes(
            http_ece.decrypt(
                body, private_key=self.private_key, auth_secret=self.auth_secret, version="aes128gcm"
            )
        )


class InMemoryPushSubscriptions:
    def __init__(self, *subscriptions: PushSubscription, owner_id: str = "owner") -> None:
        self.items: dict[tuple[str, str], PushSubscription] = {
            (owner_id, item.subscription_id): item for item in subscriptions
        }

    def list(self, owner_id: str) -> Sequence[PushSubscription]:
        return [item for (owner, _), item in self.items.items() if owner == owner_id]

    def put(self, owner_id: str, subscription: PushSubscription) -> None:
        self.items[(owner_id, subscription.subscription_id)] = subscription

    def remove(self, owner_id: str, subscription_id: str) -> bool:
        return self.items.pop((owner_id, subscription_id), None) is not None
