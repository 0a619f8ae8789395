"""GET /push/key and POST/DELETE /approvals/{approvalId}/push-subscription: the real API handler
on moto (the subscriptions on the template's Passcodes table), authenticated by a pending
request's owner link."""

from __future__ import annotations

from datetime import timedelta

import pytest

from smartdoor.adapters.push_store import DynamoPushSubscriptions
from smartdoor.adapters.web_push import DerivedVapidKey, b64url_decode
from smartdoor.domain.approvals import utc_now
from smartdoor.domain.push import MAX_SUBSCRIPTIONS_PER_OWNER, OWNER_ID
from tests.e2e.api_world import OTP_SECRET_VALUE, PASSCODES_TABLE, ApiWorld
from tests.fakes.push import BrowserKeys

ENDPOINT = "https://fcm.googleapis.com/fcm/send/device-1"


class _Key:
    def hmac_key(self) -> bytes:
        return OTP_SECRET_VALUE.encode()


def stored() -> list[str]:
    return [item.endpoint for item in DynamoPushSubscriptions(PASSCODES_TABLE).list(OWNER_ID)]


def browser_body(endpoint: str = ENDPOINT) -> dict[str, object]:
    subscription = BrowserKeys().subscription(endpoint)
    return {
        "endpoint": endpoint,
        "expirationTime": None,
        "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
    }


def test_the_public_key_is_the_deployments_vapid_key(world: ApiWorld) -> None:
    answer = world.call("GET", "/push/key")
    assert answer.status == 200
    assert answer.body["publicKey"] == DerivedVapidKey(_Key()).public_key()
    assert len(b64url_decode(answer.body["publicKey"])) == 65
    assert answer.header("Cache-Control") == "no-store"


def test_the_owner_page_of_a_pending_request_subscribes_and_unsubscribes_a_device(world: ApiWorld) -> None:
    approval = world.pending_approval()
    path = f"/approvals/{world.owner_id(approval)}/push-subscription"

    first = world.call("POST", path, browser_body())
    again = world.call("POST", path, browser_body())

    assert (first.status, first.body) == (201, {"subscribed": True, "new": True})
    assert (again.status, again.body) == (200, {"subscribed": True, "new": False})
    assert stored() == [ENDPOINT]

    gone = world.call("DELETE", path, {"endpoint": ENDPOINT})
    assert (gone.status, gone.body) == (200, {"unsubscribed": True})
    assert stored() == []
    assert world.call("DELETE", path, {"endpoint": ENDPOINT}).body == {"unsubscribed": False}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"endpoint": "http://push.example.com/x"}, "endpoint"),
        # Lambda's runtime API listens on 127.0.0.1: only the local stack accepts loopback http
        ({"endpoint": "http://127.0.0.1:9001/2018-06-01/runtime/invocation/next"}, "endpoint"),
        ({"keys": {"p256dh": "AAAA", "auth": "AAAAAAAAAAAAAAAAAAAAAA"}}, "keys.p256dh"),
        ({"endpoint": 7}, "endpoint"),
        ({"keys": None}, "keys"),
    ],
)
def test_a_bad_subscription_is_a_400_naming_the_field_and_stores_nothing(
    world: ApiWorld, change: dict[str, object], field: str
) -> None:
    approval = world.pending_approval()
    answer = world.call(
        "POST", f"/approvals/{world.owner_id(approval)}/push-subscription", browser_body() | change
    )
    assert answer.status == 400
    assert answer.body["field"] == field
    assert stored() == []


def test_only_a_live_owner_link_subscribes(world: ApiWorld) -> None:
    approval = world.pending_approval(timeout_seconds=60)
    ref, _, mac = world.owner_id(approval).partition(".")
    forged = world.call("POST", f"/approvals/{ref}.{'A' * len(mac)}/push-subscription", browser_body())
    late = world.call(
        "POST",
        f"/approvals/{world.owner_id(approval)}/push-subscription",
        browser_body(),
        now=utc_now() + timedelta(seconds=61),
    )
    assert forged.status == 404 and late.status == 410
    assert stored() == []


def test_an_owner_has_a_bounded_number_of_devices(world: ApiWorld) -> None:
    approval = world.pending_approval()
    path = f"/approvals/{world.owner_id(approval)}/push-subscription"
    for number in range(MAX_SUBSCRIPTIONS_PER_OWNER):
        assert world.call("POST", path, browser_body(f"{ENDPOINT}/{number}")).status == 201
    refused = world.call("POST", path, browser_body(f"{ENDPOINT}/one-too-many"))
    assert refused.status == 409
    assert len(stored()) == MAX_SUBSCRIPTIONS_PER_OWNER and f"{ENDPOINT}/one-too-many" not in stored()
