"""Web Push subscriptions of the owner's devices (docs/notifications.md).

    GET    /push/key                                the VAPID public key (the page's applicationServerKey)
    POST   /approvals/{approvalId}/push-subscription  store this device's subscription
    DELETE /approvals/{approvalId}/push-subscription  forget it

Subscribing is authenticated the way the owner page is: by the owner's approval id of a request
that is still pending (the link's MAC, checked by `view`), so only someone holding a live link can
add a device, and the device then receives requests until it unsubscribes or its push service
forgets it. Served only when the deployment has push configured (PUSH_SUBSCRIPTIONS_TABLE).
"""

from __future__ import annotations

from http import HTTPStatus

from api.contract import (
    PushKey,
    PushSubscribed,
    PushUnsubscribed,
    SubscriptionRequest,
    UnsubscribeRequest,
    answer,
)
from api.router import Answer, Call, Doc, Route, json_answer
from api.routes.approvals import APPROVAL_ID
from smartdoor.domain.approvals import view
from smartdoor.domain.push import parse_subscription, subscribe, unsubscribe
from smartdoor.errors import SmartDoorError


class PushNotConfigured(SmartDoorError):
    """The function was given no subscriptions table or VAPID key (a wiring error, 500)."""


def _owner_of_a_pending_request(call: Call) -> None:
    adapters = call.adapters
    view(
        call.params["approvalId"], now=adapters.now, approvals=adapters.approvals, link_key=adapters.link_key
    )


def public_key(call: Call) -> Answer:
    if call.adapters.vapid is None:
        raise PushNotConfigured("no VAPID key")
    return json_answer(HTTPStatus.OK, {"publicKey": call.adapters.vapid.public_key()})


def add_subscription(call: Call) -> Answer:
    body: SubscriptionRequest = call.body
    subscription = parse_subscription(
        body.endpoint, body.keys.p256dh, body.keys.auth, http_hosts=call.adapters.push_http_hosts
    )
    _owner_of_a_pending_request(call)
    if call.adapters.push_subscriptions is None:
        raise PushNotConfigured("no subscriptions table")
    new = subscribe(subscription, subscriptions=call.adapters.push_subscriptions)
    return json_answer(HTTPStatus.CREATED if new else HTTPStatus.OK, {"subscribed": True, "new": new})


def remove_subscription(call: Call) -> Answer:
    body: UnsubscribeRequest = call.body
    _owner_of_a_pending_request(call)
    if call.adapters.push_subscriptions is None:
        raise PushNotConfigured("no subscriptions table")
    removed = unsubscribe(body.endpoint, subscriptions=call.adapters.push_subscriptions)
    return json_answer(HTTPStatus.OK, {"unsubscribed": removed})


_NOT_FOUND = answer("no such approval, or its MAC is wrong (the same answer)")
_GONE = answer("the request expired or was decided: open a pending request's link to (un)subscribe")
KEY = Doc(
    summary="The VAPID public key the owner page subscribes with",
    tags=("push",),
    params={},
    responses={200: answer("the key, base64url (an uncompressed P-256 point)", PushKey)},
)
SUBSCRIBE = Doc(
    summary="Notify this device of new requests (Web Push), from the owner page of a pending request",
    tags=("push",),
    params=APPROVAL_ID,
    responses={
        201: answer("a new device", PushSubscribed),
        200: answer("this device was already subscribed; its keys are replaced", PushSubscribed),
        400: answer("a field is wrong (`field` names it); nothing stored"),
        404: _NOT_FOUND,
        409: answer("the owner already has the most devices allowed; nothing stored"),
        410: _GONE,
        413: answer("body over 4096 bytes"),
        415: answer("a body sent as another Content-Type than application/json"),
    },
)
UNSUBSCRIBE = Doc(
    summary="Stop notifying this device",
    tags=("push",),
    params=APPROVAL_ID,
    responses={
        200: answer("`unsubscribed` false: it was not subscribed", PushUnsubscribed),
        400: answer("`endpoint` is missing"),
        404: _NOT_FOUND,
        410: _GONE,
        413: answer("body over 4096 bytes"),
        415: answer("a body sent as another Content-Type than application/json"),
    },
)
SUBSCRIPTION_PATH = "/approvals/{approvalId}/push-subscription"
ROUTES = [
    Route("GET", "/push/key", public_key, KEY),
    Route("POST", SUBSCRIPTION_PATH, add_subscription, SUBSCRIBE, body=SubscriptionRequest),
    Route("DELETE", SUBSCRIPTION_PATH, remove_subscription, UNSUBSCRIBE, body=UnsubscribeRequest),
]
