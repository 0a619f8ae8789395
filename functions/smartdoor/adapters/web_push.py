"""Web Push over HTTP: the message encrypted for the device, signed with the deployment's VAPID key.

- Encryption: RFC 8291 with the aes128gcm content coding (RFC 8188), by `http_ece`, the library
  pywebpush itself uses; a fresh P-256 key and salt per message.
- Authorization: a VAPID JWT (RFC 8292) by `py_vapid` (Vapid02: `vapid t=<jwt>,k=<public key>`),
  `aud` the push service's origin, `sub` the owner's contact (mailto:), 12 hours at most.
- Transport: one POST with `TTL` and `Urgency: high`, by the standard library. pywebpush's own
  module is left out: it imports aiohttp and requests at import time (seven more native packages
  in the Lambda layer) to do this one POST.

The VAPID private key is derived (HKDF-SHA256, its own label) from the deployment's HMAC key in
Secrets Manager (OTP_SECRET_ARN), so there is no second secret to pay for and nothing to
generate by hand; it never leaves the function's memory. Rotating that secret changes the key,
and the push services then refuse the old subscriptions (the owner falls back to SMS and
subscribes again from the owner page).
"""

from __future__ import annotations

import base64
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import http_ece
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from py_vapid import Vapid02

from smartdoor.domain.push import PushNotDelivered, PushSubscription, SubscriptionGone, is_push_url
from smartdoor.ports import LinkKey

CONTENT_ENCODING = "aes128gcm"
JWT_LIFETIME_SECONDS = 12 * 3600  # RFC 8292: at most 24 hours
REQUEST_TIMEOUT_SECONDS = 5.0
_VAPID_INFO = b"smartdoor/vapid-p256\0"
# The order of the P-256 group: a private scalar is in [1, n-1].
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def vapid_private_key(hmac_key: bytes) -> ec.EllipticCurvePrivateKey:
    """The deployment's VAPID key: a P-256 scalar derived from its HMAC key (48 bytes of HKDF output
    reduced mod n-1, so the bias is below 2^-128)."""
    seed = HKDF(algorithm=hashes.SHA256(), length=48, salt=None, info=_VAPID_INFO).derive(hmac_key)
    scalar = int.from_bytes(seed, "big") % (_P256_ORDER - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


def public_key_bytes(key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) -> bytes:
    public = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
    return public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


class DerivedVapidKey:
    """The VAPID key pair of the deployment, from its HMAC key source (read when first needed)."""

    def __init__(self, link_key: LinkKey) -> None:
        self._link_key = link_key

    def private_key(self) -> ec.EllipticCurvePrivateKey:
        return vapid_private_key(self._link_key.hmac_key())

    def public_key(self) -> str:
        """base64url of the uncompressed point: the page's `applicationServerKey`."""
        return b64url(public_key_bytes(self.private_key()))


def encrypt(payload: bytes, subscription: PushSubscription) -> bytes:
    """`payload` as the device alone can read it (RFC 8291, aes128gcm)."""
    sender_key = ec.generate_private_key(ec.SECP256R1())
    return bytes(
        http_ece.encrypt(
            payload,
            salt=os.urandom(16),
            private_key=sender_key,
            dh=b64url_decode(subscription.p256dh),
            auth_secret=b64url_decode(subscription.auth),
            version=CONTENT_ENCODING,
        )
    )


Post = Callable[[str, bytes, dict[str, str], float], int]


def _urllib_post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 (https, or loopback http)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


class WebPushSender:
    """`PushSender`: one encrypted, VAPID-signed POST per device."""

    def __init__(
        self,
        vapid: DerivedVapidKey,
        subject: str,
        *,
        post: Post = _urllib_post,
        clock: Callable[[], float] = time.time,
        timeout: float = REQUEST_TIMEOUT_SECONDS,
        http_hosts: frozenset[str] = frozenset(),
    ) -> None:
        self._vapid = vapid
        self._subject = subject
        self._post = post
        self._clock = clock
        self._timeout = timeout
        self._http_hosts = http_hosts

    def headers(self, endpoint: str, ttl: int) -> dict[str, str]:
        parts = urlsplit(endpoint)
        claims: dict[str, Any] = {
            "aud": f"{parts.scheme}://{parts.netloc}",
            "sub": self._subject,
            "exp": int(self._clock()) + JWT_LIFETIME_SECONDS,
        }
        signed = Vapid02(private_key=self._vapid.private_key()).sign(claims)
        return {
            "Authorization": signed["Authorization"],
            "Content-Encoding": CONTENT_ENCODING,
            "Content-Type": "application/octet-stream",
            "TTL": str(ttl),
            "Urgency": "high",
        }

    def send(self, subscription: PushSubscription, payload: bytes, ttl: int) -> None:
        if not is_push_url(subscription.endpoint, self._http_hosts):
            # Checked when stored too; a stored item is re-checked before any request leaves.
            raise PushNotDelivered("not an https endpoint")
        body = encrypt(payload, subscription)
        headers = self.headers(subscription.endpoint, ttl)
        try:
            status = self._post(subscription.endpoint, body, headers, self._timeout)
        except OSError as error:  # URLError, timeouts, refused connections
            raise PushNotDelivered(type(error).__name__) from None
        if status in (404, 410):
            raise SubscriptionGone(f"push service answered {status}")
        if not 200 <= status < 300:
            raise PushNotDelivered(str(status))
