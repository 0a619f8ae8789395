"""Web Push to the owner: the encryption (decrypted with the browser's keys), the VAPID JWT, the
removal of subscriptions a push service forgot, and ask_owner's SMS fallback."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field

import pytest
from py_vapid import Vapid02

from smartdoor.adapters.web_push import DerivedVapidKey, WebPushSender, b64url_decode, encrypt
from smartdoor.domain.approvals import PUSHED_NOTE
from smartdoor.domain.push import (
    MAX_SUBSCRIPTIONS_PER_OWNER,
    InvalidPushSubscription,
    OwnerDevices,
    PushNotDelivered,
    PushSubscription,
    SubscriptionGone,
    TooManySubscriptions,
    parse_subscription,
    subscribe,
    unsubscribe,
)
from tests.fakes.link_key import StaticLinkKey
from tests.fakes.push import BrowserKeys, InMemoryPushSubscriptions
from tests.unit.test_approvals import (
    LINK_KEY,
    SITE,
    TOKEN,
    InMemoryApprovals,
    RecordingNotifier,
    a_pending_approval,
    ask,
    owner_id,
)

ENDPOINT = "https://fcm.googleapis.com/fcm/send/abc123"
SUBJECT = "mailto:owner@example.com"


@dataclass
class RecordingPost:
    """The push service: answers `status` (per endpoint) and keeps what was posted."""

    status: dict[str, int] = field(default_factory=dict)
    posted: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)

    def __call__(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
        self.posted.append((url, body, headers))
        answer = self.status.get(url, 201)
        if answer < 0:
            raise ConnectionRefusedError("unreachable")
        return answer


def a_sender(post: RecordingPost, clock: float = 1_800_000_000.0) -> WebPushSender:
    return WebPushSender(DerivedVapidKey(LINK_KEY), SUBJECT, post=post, clock=lambda: clock)


def jwt_claims(authorization: str) -> dict[str, object]:
    token = authorization.split("t=", 1)[1].split(",", 1)[0]
    body = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


# ------------------------------------------------------------------------------- the wire


def test_the_payload_is_aes128gcm_that_only_the_subscribed_browser_decrypts() -> None:
    # GIVEN a browser's subscription
    browser = BrowserKeys()
    subscription = browser.subscription(ENDPOINT)

    # WHEN a message is encrypted for it, twice
    first, second = encrypt(b'{"title":"hi"}', subscription), encrypt(b'{"title":"hi"}', subscription)

    # THEN the browser's keys decrypt it; each message has its own salt and key; another browser can't read it
    assert browser.decrypt(first) == browser.decrypt(second) == b'{"title":"hi"}'
    assert first[:16] != second[:16] and b"title" not in first
    with pytest.raises(Exception):  # noqa: B017 (http_ece raises cryptography's InvalidTag)
        BrowserKeys().decrypt(first)


def test_the_vapid_jwt_names_the_push_service_the_owner_and_expires_within_a_day() -> None:
    # GIVEN a sender at a fixed clock
    post = RecordingPost()
    browser = BrowserKeys()

    # WHEN it pushes to a device
    a_sender(post).send(browser.subscription(ENDPOINT), b"{}", ttl=600)

    # THEN one POST went to the endpoint with RFC 8030/8291/8292 headers
    [(url, body, headers)] = post.posted
    assert url == ENDPOINT
    assert headers["Content-Encoding"] == "aes128gcm" and headers["TTL"] == "600"
    assert headers["Urgency"] == "high"
    assert browser.decrypt(body) == b"{}"
    # AND the JWT is signed by the deployment's public key, for the service's origin, with the owner's contact
    assert Vapid02.verify(headers["Authorization"])
    key = headers["Authorization"].split("k=", 1)[1]
    assert key == DerivedVapidKey(LINK_KEY).public_key()
    claims = jwt_claims(headers["Authorization"])
    assert claims["aud"] == "https://fcm.googleapis.com"
    assert claims["sub"] == SUBJECT
    assert 0 < int(str(claims["exp"])) - 1_800_000_000 <= 24 * 3600


def test_the_vapid_key_is_a_stable_p256_point_of_the_deployment_key_and_differs_per_deployment() -> None:
    mine = DerivedVapidKey(LINK_KEY).public_key()
    assert mine == DerivedVapidKey(StaticLinkKey(LINK_KEY.key)).public_key()
    assert len(b64url_decode(mine)) == 65 and b64url_decode(mine)[0] == 4
    assert DerivedVapidKey(StaticLinkKey(b"another-deployment-key-" + b"x" * 40)).public_key() != mine


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (404, SubscriptionGone),
        (410, SubscriptionGone),
        (403, PushNotDelivered),
        (429, PushNotDelivered),
        (503, PushNotDelivered),
        (-1, PushNotDelivered),
    ],
)
def test_push_service_answers_become_gone_or_not_delivered(status: int, error: type[Exception]) -> None:
    post = RecordingPost(status={ENDPOINT: status})
    with pytest.raises(error):
        a_sender(post).send(BrowserKeys().subscription(ENDPOINT), b"{}", ttl=60)


# ------------------------------------------------------------------------------- subscriptions


def test_a_browser_subscription_is_accepted_and_a_bad_one_is_named_and_not_stored() -> None:
    good = BrowserKeys().subscription(ENDPOINT)
    assert parse_subscription(good.endpoint, good.p256dh, good.auth) == good
    bad = [
        (("http://push.example.com/x", good.p256dh, good.auth), "endpoint"),
        (("", good.p256dh, good.auth), "endpoint"),
        (("https://" + "a" * 1100, good.p256dh, good.auth), "endpoint"),
        ((ENDPOINT, good.p256dh[:-4], good.auth), "keys.p256dh"),
        ((ENDPOINT, "A" + good.p256dh[1:], good.auth), "keys.p256dh"),
        ((ENDPOINT, good.p256dh, "!!!"), "keys.auth"),
        ((ENDPOINT, good.p256dh, None), "keys.auth"),
    ]
    for fields, name in bad:
        with pytest.raises(InvalidPushSubscription) as refused:
            parse_subscription(*fields)
        assert refused.value.field == name


def test_plain_http_only_for_the_hosts_the_local_stack_names() -> None:
    # GIVEN Lambda's runtime API on 127.0.0.1: a subscription must never make ask_owner post there
    good = BrowserKeys().subscription(ENDPOINT)
    local = "http://127.0.0.1:9001/2018-06-01/runtime/invocation/x/response"
    with pytest.raises(InvalidPushSubscription):
        parse_subscription(local, good.p256dh, good.auth)
    post = RecordingPost()
    with pytest.raises(PushNotDelivered):
        a_sender(post).send(BrowserKeys().subscription(local), b"{}", ttl=60)
    assert post.posted == []
    # AND the local stack's push service, which it names, is accepted
    local_hosts = frozenset({"127.0.0.1"})
    assert parse_subscription("http://127.0.0.1:8099/push/1", good.p256dh, good.auth, http_hosts=local_hosts)


def test_subscriptions_are_limited_per_owner_and_the_same_device_replaces_itself() -> None:
    table = InMemoryPushSubscriptions()
    for number in range(MAX_SUBSCRIPTIONS_PER_OWNER):
        assert subscribe(BrowserKeys().subscription(f"{ENDPOINT}/{number}"), subscriptions=table)
    # the same endpoint with renewed keys is no new device
    assert not subscribe(BrowserKeys().subscription(f"{ENDPOINT}/0"), subscriptions=table)
    with pytest.raises(TooManySubscriptions):
        subscribe(BrowserKeys().subscription(f"{ENDPOINT}/new"), subscriptions=table)
    assert len(table.items) == MAX_SUBSCRIPTIONS_PER_OWNER
    assert unsubscribe(f"{ENDPOINT}/3", subscriptions=table)
    assert not unsubscribe(f"{ENDPOINT}/3", subscriptions=table)
    assert len(table.items) == MAX_SUBSCRIPTIONS_PER_OWNER - 1


# ------------------------------------------------------------------------------- ask_owner


def test_a_push_that_arrives_replaces_the_sms_and_carries_the_link_and_thumbnail() -> None:
    # GIVEN an owner with two devices, one the push service has forgotten
    approvals = InMemoryApprovals()
    approval = a_pending_approval(approvals)
    phone, old = BrowserKeys(), BrowserKeys()
    table = InMemoryPushSubscriptions(phone.subscription(ENDPOINT), old.subscription(ENDPOINT + "-old"))
    post = RecordingPost(status={ENDPOINT + "-old": 410})
    notifier = RecordingNotifier()

    # WHEN the owner is asked
    asked = ask(
        approvals,
        approval.approval_ref,
        notifier,
        devices=OwnerDevices(subscriptions=table, sender=a_sender(post)),
    )

    # THEN the phone got the request, no SMS went, the email says why; the forgotten device is removed
    assert asked.pushes_delivered == 1 and not asked.sms_sent and asked.email_sent
    assert notifier.sms == []
    [(_, body)] = notifier.emails
    assert PUSHED_NOTE in body
    assert [item.endpoint for item in table.list("owner")] == [ENDPOINT]
    message = json.loads(phone.decrypt(post.posted[0][1]))
    assert message["url"] == f"{SITE}/owner/?a={owner_id(approval.approval_ref)}"
    assert message["image"].startswith("https://smartdoor-photos.s3.example/visits/v-1/face.jpg")
    assert message["title"] == "Someone is at front-door" and "12:10 UTC" in message["body"]
    assert TOKEN not in json.dumps(message)
    assert approvals.items[approval.approval_ref].push_sent_at is not None
    # AND the push service may keep it no longer than the request lives
    assert post.posted[0][2]["TTL"] == "589"

    # WHEN the task is retried (say the email had failed), nothing is pushed or texted again
    again = ask(
        approvals,
        approval.approval_ref,
        notifier,
        token="token-2",
        devices=OwnerDevices(subscriptions=table, sender=a_sender(post)),
    )
    assert len(post.posted) == 2 and notifier.sms == [] and not again.sms_sent


@pytest.mark.parametrize("answers", [{}, {ENDPOINT: 410}, {ENDPOINT: 503}, {ENDPOINT: -1}])
def test_the_owner_is_texted_when_no_device_is_subscribed_or_no_push_arrived(answers: dict[str, int]) -> None:
    approvals = InMemoryApprovals()
    approval = a_pending_approval(approvals)
    table = InMemoryPushSubscriptions(*([BrowserKeys().subscription(ENDPOINT)] if answers else []))
    notifier = RecordingNotifier()

    asked = ask(
        approvals,
        approval.approval_ref,
        notifier,
        devices=OwnerDevices(subscriptions=table, sender=a_sender(RecordingPost(status=answers))),
    )

    assert asked.sms_sent and asked.pushes_delivered == 0
    assert len(notifier.sms) == 1 and len(notifier.emails) == 1
    assert approvals.items[approval.approval_ref].push_sent_at is None
    # a 410 removes the subscription; a 503 or an unreachable service keeps it for the next visitor
    assert len(table.items) == (1 if answers and answers[ENDPOINT] != 410 else 0)


def test_subscription_repr_keeps_the_endpoint_and_keys_out_of_logs() -> None:
    subscription: PushSubscription = BrowserKeys().subscription(ENDPOINT + "/secret-path")
    assert "secret-path" not in repr(subscription) and subscription.p256dh not in repr(subscription)
    assert subscription.service == "fcm.googleapis.com"


# ------------------------------------------------------------------------------- settings


def test_ask_owner_pushes_only_with_both_push_settings_and_a_contact_as_subject() -> None:
    from msgspec import ValidationError

    from ask_owner.handler import AskOwnerSettings
    from smartdoor.settings import read_settings
    from tests.unit.test_sms_origin_settings import ASK_OWNER

    pushing = {**ASK_OWNER, "VAPID_SUBJECT": SUBJECT, "PUSH_SUBSCRIPTIONS_TABLE": "passcodes"}
    assert read_settings(AskOwnerSettings, pushing).vapid_subject == SUBJECT
    assert read_settings(AskOwnerSettings, ASK_OWNER).vapid_subject is None
    for broken in (
        {**ASK_OWNER, "VAPID_SUBJECT": SUBJECT},
        {**ASK_OWNER, "PUSH_SUBSCRIPTIONS_TABLE": "passcodes"},
        {**pushing, "VAPID_SUBJECT": "owner@example.com"},  # not a mailto: or https: contact
    ):
        with pytest.raises(ValidationError):
            read_settings(AskOwnerSettings, broken)
