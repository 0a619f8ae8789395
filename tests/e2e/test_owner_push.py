"""Web Push to the owner on the local stack, and in a real Chromium service worker.

The local push service (smartdoor_local.push_service) is the push service of the subscriptions
it creates: ask_owner's real sender posts there, the service checks the VAPID JWT and decrypts.
Chromium's own PushManager.subscribe needs Google's push service, which is unreachable offline,
so the browser test registers the page's real service worker (owner/sw.js), subscribes through
the API with the local service's subscription, and hands the payload that service decrypted to
the worker with the DevTools protocol's `ServiceWorker.deliverPushMessage`: the worker's push
handler runs as for a real push and shows the notification, which the test then reads back.
"""

from __future__ import annotations

import io
import json
import re
import time
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from smartdoor.adapters.push_store import DynamoPushSubscriptions
from smartdoor.domain.push import OWNER_ID
from smartdoor_local import sample_faces
from smartdoor_local.app import LocalApp
from smartdoor_local.console import Console
from smartdoor_local.push_service import Device
from smartdoor_local.stack import LocalConfig
from smartdoor_local.story import HttpClient

OWNER_PHONE = LocalConfig().owner_phone
LINK = re.compile(r"http://127\.0\.0\.1:\d+/owner/\?a=([A-Za-z0-9_.-]+)")
FRAMES_PER_RING = 3


@pytest.fixture
def app() -> Iterator[LocalApp]:
    with LocalApp(LocalConfig(), port=0, console=Console(io.StringIO())) as started:
        yield started


def ring(app: LocalApp, jpeg: bytes) -> None:
    client = HttpClient(app.url)
    for _ in range(FRAMES_PER_RING):
        status, answer = client.post_frame(app.config.door_id, jpeg)
        assert status == 202, answer
        time.sleep(0.3)


def owner_messages(app: LocalApp, after: int, timeout: float = 60) -> Any:
    """The first owner SMS or push at index >= `after`."""
    return app.stack.outbox.wait_for(
        lambda m: (m.channel == "sms" and m.to == OWNER_PHONE) or m.channel == "push",
        after=after,
        timeout=timeout,
    )


def subscribe(app: LocalApp, approval_id: str, device: Device) -> None:
    status, answer = HttpClient(app.url).post_json(
        f"/approvals/{approval_id}/push-subscription", device.subscription_json()
    )
    assert status == 201, answer


def deny(app: LocalApp, approval_id: str) -> None:
    status, answer = HttpClient(app.url).post_json(f"/approvals/{approval_id}", {"decision": "deny"})
    assert status == 200, answer


def stored_endpoints(app: LocalApp) -> list[str]:
    table = DynamoPushSubscriptions(app.stack.names["passcodes"])
    return [item.endpoint for item in table.list(OWNER_ID)]


def first_visit_with_a_subscribed_device(app: LocalApp) -> tuple[str, Device]:
    """An unknown visitor texts the owner (nobody subscribed yet); from that request's link the
    owner subscribes a device, then denies."""
    ring(app, sample_faces.astronaut())
    sms = owner_messages(app, after=0)
    assert sms.channel == "sms"
    link = LINK.search(sms.body)
    assert link
    device = app.stack.push_service.new_subscription()
    subscribe(app, link.group(1), device)
    deny(app, link.group(1))
    assert stored_endpoints(app) == [device.endpoint]
    return link.group(1), device


def test_the_next_unknown_visitor_reaches_the_owner_by_push_not_sms(app: LocalApp) -> None:
    # GIVEN an owner who subscribed a device from an earlier request
    _, device = first_visit_with_a_subscribed_device(app)
    seen = len(app.stack.outbox.messages())
    time.sleep(app.config.visit_gap_seconds + 0.5)

    # WHEN another unknown visitor rings
    ring(app, sample_faces.camera_man())

    # THEN the owner is told by push, decrypted with the device's keys, and by email; no SMS
    push = owner_messages(app, after=seen)
    assert push.channel == "push" and push.subject == "Someone is at front-door"
    [payload] = device.received
    link = LINK.search(payload["url"])
    assert link and urlsplit(payload["image"]).path.startswith("/local/photos/visits/")
    email = app.stack.outbox.wait_for(lambda m: m.channel == "email", after=seen)
    assert link.group(0) in email.body and "no text message was sent" in email.body
    assert not [m for m in app.stack.outbox.messages()[seen:] if m.channel == "sms"]
    # AND the service saw a valid VAPID JWT for its origin, naming the owner, and a TTL
    [delivery] = app.stack.push_service.deliveries
    assert delivery.claims["aud"] == app.stack.push_service.url
    assert delivery.claims["sub"] == f"mailto:{app.config.owner_email}"
    assert 0 < delivery.ttl <= 600 and delivery.urgency == "high"


def test_a_device_the_push_service_forgot_is_removed_and_the_owner_is_texted(app: LocalApp) -> None:
    # GIVEN a subscribed device that has since unsubscribed at its push service
    _, device = first_visit_with_a_subscribed_device(app)
    app.stack.push_service.forget(device.subscription_id)
    seen = len(app.stack.outbox.messages())
    time.sleep(app.config.visit_gap_seconds + 0.5)

    # WHEN another unknown visitor rings
    ring(app, sample_faces.camera_man())

    # THEN the push service's 410 removed the subscription and the owner got the SMS instead
    sms = owner_messages(app, after=seen)
    assert sms.channel == "sms" and LINK.search(sms.body)
    assert stored_endpoints(app) == []


# ---------------------------------------------------------------------------- Chromium


def worker_registration(page: Any, cdp: Any, scope: str, timeout: float = 10) -> str:
    """The registration id of the service worker of `scope`, from the DevTools protocol."""
    found: dict[str, str] = {}

    def updated(event: dict[str, Any]) -> None:
        for registration in event["registrations"]:
            if registration["scopeURL"] == scope and not registration.get("isDeleted"):
                found["id"] = registration["registrationId"]

    cdp.on("ServiceWorker.workerRegistrationUpdated", updated)
    cdp.send("ServiceWorker.enable")
    deadline = time.monotonic() + timeout
    while "id" not in found:
        assert time.monotonic() < deadline, f"no service worker registered for {scope}"
        page.wait_for_timeout(50)  # Playwright delivers the session's events while it waits
    return found["id"]


NOTIFICATIONS = """async () => {
  const registration = await navigator.serviceWorker.ready;
  const shown = await registration.getNotifications();
  return shown.map((n) => ({
    title: n.title, body: n.body, image: n.image, tag: n.tag,
    actions: n.actions.map((a) => a.title), url: n.data && n.data.url,
  }));
}"""


def notifications(page: Any, timeout: float = 10) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        shown: list[dict[str, Any]] = page.evaluate(NOTIFICATIONS)
        if shown or time.monotonic() > deadline:
            return shown
        page.wait_for_timeout(100)


def test_a_real_service_worker_shows_the_pushed_request_and_its_actions_open_the_owner_page(
    browser: Any, app: LocalApp
) -> None:
    from playwright.sync_api import expect

    # GIVEN the owner app installed in Chromium (manifest, service worker) and a subscribed device
    context = browser.new_context(locale="en-US", timezone_id="UTC")
    context.grant_permissions(["notifications"], origin=app.url)
    errors: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{app.url}/owner/?app")
        expect(page.get_by_role("heading", name="Smart Door")).to_be_visible()
        manifest = json.loads(urllib.request.urlopen(f"{app.url}/owner/manifest.webmanifest").read())  # noqa: S310
        assert manifest["display"] == "standalone" and manifest["start_url"] == "./?app"
        assert {icon["sizes"] for icon in manifest["icons"]} >= {"192x192", "512x512"}
        cdp = context.new_cdp_session(page)
        assert page.evaluate("async () => (await navigator.serviceWorker.ready).scope") == f"{app.url}/owner/"
        registration = worker_registration(page, cdp, f"{app.url}/owner/")
        _, device = first_visit_with_a_subscribed_device(app)
        time.sleep(app.config.visit_gap_seconds + 0.5)

        # WHEN an unknown visitor rings, and the push the local service received reaches the worker
        seen = len(app.stack.outbox.messages())
        ring(app, sample_faces.camera_man())
        assert owner_messages(app, after=seen).channel == "push"
        [payload] = device.received
        cdp.send(
            "ServiceWorker.deliverPushMessage",
            {"origin": app.url, "registrationId": registration, "data": json.dumps(payload)},
        )

        # THEN the worker shows it: title, body, the visitor's photo, "Approve…" and "Deny"
        [shown] = notifications(page)
        assert shown["title"] == "Someone is at front-door"
        assert "Approve or deny by" in shown["body"]
        assert shown["image"] == payload["image"]
        assert shown["actions"] == ["Approve…", "Deny"]
        assert shown["url"] == payload["url"]

        # WHEN the owner picks "Deny" (the worker opens the url with intent=deny)
        page.goto(shown["url"] + "&intent=deny")

        # THEN the owner page shows that request, ready to deny, and nothing is decided until asked
        expect(page.get_by_role("heading", name="Someone is at your door")).to_be_visible()
        expect(page.get_by_role("button", name="Deny")).to_be_focused()
        expect(page.get_by_role("button", name="Stop notifications on this device")).to_be_hidden()
        expect(page.get_by_role("button", name="Notify me on this device")).to_be_visible()
        page.get_by_role("button", name="Deny").click()
        expect(page.get_by_role("heading", name="Denied")).to_be_visible()
        assert errors == []
    finally:
        context.close()


def test_without_push_manager_the_page_says_how_to_add_it_to_the_home_screen(
    browser: Any, app: LocalApp
) -> None:
    from playwright.sync_api import expect

    # GIVEN iOS Safari outside the home screen: no PushManager
    ring(app, sample_faces.astronaut())
    link = LINK.search(owner_messages(app, after=0).body)
    assert link
    context = browser.new_context(locale="en-US")
    try:
        page = context.new_page()
        page.add_init_script("delete window.PushManager;")
        page.goto(link.group(0))
        # THEN the page offers no button and says how to get notifications there
        expect(page.get_by_role("heading", name="Someone is at your door")).to_be_visible()
        expect(page.locator("#notify-status")).to_contain_text("Add to Home Screen")
        expect(page.get_by_role("button", name="Notify me on this device")).to_be_hidden()
    finally:
        context.close()
