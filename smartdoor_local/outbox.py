"""The outbox: every SMS, email and push the local stack would have sent, in the order they were sent.

On AWS, SNS texts phones (Publish with PhoneNumber) and emails the owner through the alerts
topic's email subscription. moto accepts both and delivers nothing, so `Outbox.installed()`
wraps moto's SNS Publish: after moto accepted a message, it is recorded as

    {"channel": "sms", "to": "+15550100000", "subject": null, "body": "...", "sentAt": "...Z"}
    {"channel": "email", "to": "owner@example.com", "subject": "...", "body": "...", "sentAt": "...Z"}

(one email entry per email subscription of the topic) and handed to the listeners (the
console). The local push service (smartdoor_local.push_service) records each push it receives:

    {"channel": "push", "to": "device 3fK9a…", "subject": "<title>", "body": "<decrypted JSON>", ...}
 A publish that moto refuses is not recorded, as it would not have been delivered.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

EMAIL_PROTOCOLS = frozenset({"email", "email-json"})


@dataclass(frozen=True)
class Message:
    channel: Literal["sms", "email", "push"]
    to: str
    subject: str | None
    body: str
    sent_at: str  # ISO-8601 UTC

    def to_json(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "to": self.to,
            "subject": self.subject,
            "body": self.body,
            "sentAt": self.sent_at,
        }


Listener = Callable[[Message], None]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Outbox:
    """Messages captured from moto's SNS, oldest first. Thread-safe."""

    def __init__(self) -> None:
        self._messages: list[Message] = []
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)

    def messages(self) -> list[Message]:
        with self._lock:
            return list(self._messages)

    def to_json(self) -> list[dict[str, Any]]:
        return [message.to_json() for message in self.messages()]

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def record(self, message: Message) -> None:
        with self._changed:
            self._messages.append(message)
            self._changed.notify_all()
        for listener in list(self._listeners):
            listener(message)

    def wait_for(
        self, condition: Callable[[Message], bool], *, after: int = 0, timeout: float = 30.0
    ) -> Message:
        """The first message at index >= `after` that satisfies `condition`; waits for it."""

        def found() -> Message | None:
            for message in self._messages[after:]:
                if condition(message):
                    return message
            return None

        with self._changed:
            match = self._changed.wait_for(found, timeout=timeout)
        if match is None:
            raise TimeoutError(f"no such message in the outbox after {timeout:.0f}s")
        return match

    @contextmanager
    def installed(self) -> Iterator[Outbox]:
        """Record what moto's SNS accepts, until the block ends."""
        from moto.sns.models import SNSBackend

        outbox = self
        original = SNSBackend.publish

        def publish(
            backend: Any,
            message: str,
            arn: str | None,
            phone_number: str | None = None,
            subject: str | None = None,
            *args: Any,
            **kwargs: Any,
        ) -> str:
            message_id = original(backend, message, arn, phone_number, subject, *args, **kwargs)
            sent_at = now_iso()
            if phone_number:
                outbox.record(Message("sms", phone_number, None, message, sent_at))
                return message_id
            if arn and ":endpoint/" not in arn:  # a topic (platform endpoints are not used here)
                subscriptions, _ = backend.list_subscriptions_by_topic(topic_arn=arn)
                for subscription in subscriptions:
                    if subscription.protocol in EMAIL_PROTOCOLS:
                        outbox.record(Message("email", subscription.endpoint, subject, message, sent_at))
            return message_id

        SNSBackend.publish = publish  # type: ignore[method-assign,assignment]
        try:
            yield self
        finally:
            SNSBackend.publish = original  # type: ignore[method-assign]
