"""The owner's push subscriptions, on the Passcodes table beside the SMS budgets.

Items (docs/internals.md): `PUSH#<ownerId>` / `SUB#<subscriptionId>` (a hash of the endpoint),
`{endpoint, p256dh, auth, createdAt}`. One Query reads an owner's devices (at most
MAX_SUBSCRIPTIONS_PER_OWNER); the grants of the functions that use them are limited to the
`PUSH#` keys (dynamodb:LeadingKeys), so they touch no passcode or SMS counter.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from boto3.dynamodb.conditions import Key

from smartdoor.adapters.aws import TableAdapter, transient_errors_as
from smartdoor.domain.push import MAX_SUBSCRIPTIONS_PER_OWNER, PUSH_KEY_PREFIX, PushSubscription
from smartdoor.errors import TransientError

_SUBSCRIPTION_PREFIX = "SUB#"


def push_owner_key(owner_id: str) -> str:
    return f"{PUSH_KEY_PREFIX}{owner_id}"


class DynamoPushSubscriptions(TableAdapter):
    def list(self, owner_id: str) -> Sequence[PushSubscription]:
        with transient_errors_as(TransientError):
            response = self._table.query(
                KeyConditionExpression=Key("pk").eq(push_owner_key(owner_id))
                & Key("sk").begins_with(_SUBSCRIPTION_PREFIX),
                # One more than the limit, so a table that somehow holds more still answers quickly.
                Limit=MAX_SUBSCRIPTIONS_PER_OWNER + 1,
            )
        return [_subscription(item) for item in response.get("Items", [])]

    def put(self, owner_id: str, subscription: PushSubscription) -> None:
        with transient_errors_as(TransientError):
            self._table.put_item(
                Item={
                    "pk": push_owner_key(owner_id),
                    "sk": f"{_SUBSCRIPTION_PREFIX}{subscription.subscription_id}",
                    "endpoint": subscription.endpoint,
                    "p256dh": subscription.p256dh,
                    "auth": subscription.auth,
                    "createdAt": int(time.time()),
                }
            )

    def remove(self, owner_id: str, subscription_id: str) -> bool:
        with transient_errors_as(TransientError):
            response = self._table.delete_item(
                Key={"pk": push_owner_key(owner_id), "sk": f"{_SUBSCRIPTION_PREFIX}{subscription_id}"},
                ReturnValues="ALL_OLD",
            )
        return bool(response.get("Attributes"))


def _subscription(item: dict[str, Any]) -> PushSubscription:
    return PushSubscription(
        endpoint=str(item["endpoint"]), p256dh=str(item["p256dh"]), auth=str(item["auth"])
    )
