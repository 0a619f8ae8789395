"""The local webhook lock: what a Home Assistant webhook (or a Nuki bridge) is on AWS, on 127.0.0.1.

With `smartdoor local --lock webhook` the open-lock workflow's HTTP Task posts each unlock here
(`POST /local/lock-webhook`, smartdoor_local.http_tasks points the template's URL at it). The
receiver checks the connection's API-key header against the secret the local stack made, records
the call and answers:

    {"receivedAt": "...Z", "authorized": true, "status": 200, "body": {"doorId": ..., "commandId": ...}}

200 `{"unlocked": true}` for an authorized call, 401 without the right key; `fail_next` makes the
next calls answer another status (a lock that is down). The key itself is never recorded or shown.
`GET /local/lock-webhook` lists the calls, oldest first (the outbox page shows them).
"""

from __future__ import annotations

import hmac
import json
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

DEFAULT_HEADER = "X-Smartdoor-Key"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class LockWebhookReceiver:
    header: str = DEFAULT_HEADER
    key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    # Statuses to answer next, in turn, before the lock works again (tests: a lock that is down).
    fail_next: list[int] = field(default_factory=list)
    _calls: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def receive(self, headers: Mapping[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        """One webhook call: (status, answer)."""
        given = next((value for name, value in headers.items() if name.lower() == self.header.lower()), "")
        authorized = hmac.compare_digest(given.encode(), self.key.encode())
        try:
            payload: Any = json.loads(body or b"null")
        except ValueError:
            payload = body.decode("utf-8", errors="replace")
        with self._lock:
            status = self.fail_next.pop(0) if self.fail_next else (200 if authorized else 401)
            self._calls.append(
                {"receivedAt": _now(), "authorized": authorized, "status": status, "body": payload}
            )
        if status == 200:
            return status, {"unlocked": True}
        return status, {"error": "the lock is not answering" if authorized else "wrong or missing key"}

    def calls(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(call) for call in self._calls]
