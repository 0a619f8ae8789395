"""Web Push to the owner's devices: their subscriptions, the message, and who is told.

The owner page subscribes a device (its browser's push service endpoint and the two keys the
browser made, RFC 8291) through the API; ask_owner then pushes each new request to every stored
subscription before anything else, and texts the owner only when no push arrived
(smartdoor.domain.approvals.ask_owner). A push service that answers 404 or 410 has forgotten the
subscription, so it is removed. The message carries what the SMS link carries (the approval link,
the owner's bearer credential) plus a short-lived link to the face close-up; it is encrypted for
the device (aes128gcm), so the push service reads none of it. No boto3 and no cryptography here:
the storage, the keys and the sender are the ports in smartdoor.ports.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from smartdoor.errors import InvalidField, SmartDoorError
from smartdoor.observability import logger
from smartdoor.schema import Record

if TYPE_CHECKING:
    from smartdoor.ports import PushSender, PushSubscriptions

# One deployment has one owner (OWNER_PHONE, the alerts topic's email): subscriptions are stored
# under this owner id, so a deployment with several owners only adds ids.
OWNER_ID = "owner"
# Their items' partition keys on the Passcodes table (smartdoor.adapters.push_store).
PUSH_KEY_PREFIX = "PUSH#"
# A household's phones, tablets and laptops; more is a script, not a family.
MAX_SUBSCRIPTIONS_PER_OWNER = 10
MAX_ENDPOINT_LENGTH = 1024
# RFC 8291: the browser's P-256 public key (uncompressed point) and its 16-byte auth secret.
P256DH_BYTES = 65
AUTH_BYTES = 16
# Push services keep an undelivered message at most this long; the request dies sooner anyway.
MAX_PUSH_TTL_SECONDS = 24 * 3600
# Pushes go out in parallel, so a slow push service does not hold up the others (or the SMS).
MAX_PARALLEL_PUSHES = MAX_SUBSCRIPTIONS_PER_OWNER


class InvalidPushSubscription(InvalidField):
    """A subscription field is missing or malformed (400); `field` names it, never the value."""


class TooManySubscriptions(SmartDoorError):
    """The owner already has MAX_SUBSCRIPTIONS_PER_OWNER devices subscribed (409); nothing stored."""


class SubscriptionGone(SmartDoorError):
    """The push service no longer knows the subscription (404 or 410): remove it."""


class PushNotDelivered(SmartDoorError):
    """The push service refused or could not be reached; `reason` is a status code or error class."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"push not delivered: {reason}")
        self.reason = reason


class PushSubscription(Record):
    """One device of the owner. The endpoint is a capability URL: it stays out of repr and logs."""

    __hidden__ = frozenset({"endpoint", "p256dh", "auth"})

    endpoint: str
    p256dh: str  # base64url, as PushSubscription.toJSON() gives it
    auth: str

    @property
    def subscription_id(self) -> str:
        return subscription_id(self.endpoint)

    @property
    def service(self) -> str:
        """The push service's host, the only part of the endpoint that may be logged."""
        return urlsplit(self.endpoint).hostname or "?"


class PushMessage(Record):
    """What the service worker shows: title, body, the face close-up and the page to open."""

    __hidden__ = frozenset({"url", "image"})

    title: str
    body: str
    url: str  # the owner page at this approval (the approval link)
    image: str  # presigned GET of the face close-up, valid until the request expires
    tag: str  # one notification per request: a repeat replaces it
    expires_at: datetime

    def payload(self) -> bytes:
        return json.dumps(
            {
                "title": self.title,
                "body": self.body,
                "url": self.url,
                "image": self.image,
                "tag": self.tag,
                "expiresAt": self.expires_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            },
            separators=(",", ":"),
        ).encode()


class OwnerDevices(Record):
    """Where ask_owner pushes: the owner's stored subscriptions and the sender."""

    subscriptions: PushSubscriptions
    sender: PushSender


def owner_push_message(
    door_id: str, approval_ref: str, expires_at: datetime, link: str, thumbnail_url: str
) -> PushMessage:
    until = expires_at.astimezone(UTC).strftime("%H:%M UTC")
    return PushMessage(
        title=f"Someone is at {door_id}",
        body=f"Someone the camera does not know. Approve or deny by {until}.",
        url=link,
        image=thumbnail_url,
        # The ref names the request (not a credential: DESIGN.md), so a repeat replaces it.
        tag=f"approval-{approval_ref[:12]}",
        expires_at=expires_at,
    )


class PushOutcome(Record):
    delivered: int = 0
    gone: int = 0
    failed: int = 0

    @property
    def any_delivered(self) -> bool:
        return self.delivered > 0


def subscription_id(endpoint: str) -> str:
    """A stable key for an endpoint (the table's sort key) that does not repeat the URL."""
    return hashlib.sha256(endpoint.encode()).hexdigest()[:32]


def _decoded(value: object, field_name: str, size: int) -> bytes:
    if not isinstance(value, str) or not value:
        raise InvalidPushSubscription(field_name, "is required (base64url, from PushSubscription.toJSON())")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise InvalidPushSubscription(field_name, "must be base64url") from None
    if len(raw) != size:
        raise InvalidPushSubscription(field_name, f"must decode to {size} bytes")
    return raw


def is_push_url(endpoint: str, http_hosts: frozenset[str] = frozenset()) -> bool:
    """An https URL with a host and no credentials; plain http only to `http_hosts` (the local
    stack's push service on 127.0.0.1: never on AWS, where 127.0.0.1 is Lambda's runtime API)."""
    parts = urlsplit(endpoint)
    secure = parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in http_hosts)
    return bool(
        secure and parts.hostname and not parts.username and not parts.password and endpoint.isprintable()
    )


def parse_subscription(
    endpoint: object, p256dh: object, auth: object, *, http_hosts: frozenset[str] = frozenset()
) -> PushSubscription:
    """A subscription as a browser makes it: an https endpoint, a P-256 public key and a 16-byte
    auth secret."""
    if not isinstance(endpoint, str) or not endpoint:
        raise InvalidPushSubscription("endpoint", "is required")
    if len(endpoint) > MAX_ENDPOINT_LENGTH:
        raise InvalidPushSubscription("endpoint", f"must be at most {MAX_ENDPOINT_LENGTH} characters")
    if not is_push_url(endpoint, http_hosts):
        raise InvalidPushSubscription("endpoint", "must be the push service's https URL")
    if _decoded(p256dh, "keys.p256dh", P256DH_BYTES)[0] != 0x04:
        raise InvalidPushSubscription("keys.p256dh", "must be an uncompressed P-256 point")
    _decoded(auth, "keys.auth", AUTH_BYTES)
    return PushSubscription(endpoint=endpoint, p256dh=str(p256dh), auth=str(auth))


def subscribe(
    subscription: PushSubscription, *, subscriptions: PushSubscriptions, owner_id: str = OWNER_ID
) -> bool:
    """Store the device; True if it is new. The same endpoint again replaces its keys (a browser
    that renewed them); a new one beyond the limit is TooManySubscriptions."""
    stored = subscriptions.list(owner_id)
    known = any(item.subscription_id == subscription.subscription_id for item in stored)
    if not known and len(stored) >= MAX_SUBSCRIPTIONS_PER_OWNER:
        raise TooManySubscriptions(f"at most {MAX_SUBSCRIPTIONS_PER_OWNER} devices can be subscribed")
    subscriptions.put(owner_id, subscription)
    logger.info("Push subscription stored", extra={"service": subscription.service, "new": not known})
    return not known


def unsubscribe(endpoint: object, *, subscriptions: PushSubscriptions, owner_id: str = OWNER_ID) -> bool:
    """Forget the device with this endpoint; False if it was not subscribed."""
    if not isinstance(endpoint, str) or not endpoint or len(endpoint) > MAX_ENDPOINT_LENGTH:
        raise InvalidPushSubscription("endpoint", "is required")
    return subscriptions.remove(owner_id, subscription_id(endpoint))


def push_ttl(expires_at: datetime, now: datetime) -> int:
    """Seconds a push service may hold the message: no longer than the request lives."""
    return max(1, min(MAX_PUSH_TTL_SECONDS, int((expires_at - now).total_seconds())))


def push_to_owner(
    message: PushMessage,
    *,
    subscriptions: PushSubscriptions,
    sender: PushSender,
    now: datetime,
    owner_id: str = OWNER_ID,
) -> PushOutcome:
    """Push `message` to every device of the owner; a device the push service has forgotten is
    removed. Never raises for one device: the caller falls back to SMS when none was reached."""
    stored: Sequence[PushSubscription] = subscriptions.list(owner_id)
    if not stored:
        return PushOutcome()
    payload, ttl = message.payload(), push_ttl(message.expires_at, now)
    delivered = gone = failed = 0
    with ThreadPoolExecutor(max_workers=min(len(stored), MAX_PARALLEL_PUSHES)) as pool:
        sent = [(item, pool.submit(sender.send, item, payload, ttl)) for item in stored]
    for subscription, future in sent:
        try:
            future.result()
        except SubscriptionGone:
            subscriptions.remove(owner_id, subscription.subscription_id)
            gone += 1
        except PushNotDelivered as error:
            logger.warning(
                "Push not delivered", extra={"service": subscription.service, "reason": error.reason}
            )
            failed += 1
        else:
            delivered += 1
    logger.info("Owner pushed", extra={"delivered": delivered, "gone": gone, "failed": failed})
    return PushOutcome(delivered=delivered, gone=gone, failed=failed)
