"""The local stack's console: one timeline of what happens, as it happens.

Every SMS and email (the outbox), every event on the bus, every workflow that ends, and the
story's steps, each on its own line with the time since the stack started. Phone numbers are
masked (+1*******000): the console is a log; the outbox (GET /local/outbox, /outbox/) holds the
messages in full, as the phones would. Message bodies are printed in full: they are what the
recipient would read, passcodes and approval links included (locally, that is the point).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

from smartdoor.domain.phones import mask_phone
from smartdoor_local.outbox import Message

_INDENT = " " * 13


class Console:
    def __init__(self, out: TextIO | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._out = out or sys.stdout
        self._clock = clock
        self._started = clock()
        self._lock = threading.Lock()

    def _stamp(self) -> str:
        return f"[{self._clock() - self._started:6.1f}s]"

    def print(self, text: str = "", *, stamp: bool = False) -> None:
        prefix = f"{self._stamp()} " if stamp else ""
        with self._lock:
            self._out.write(prefix + text + "\n")
            self._out.flush()

    def step(self, number: int | str, text: str) -> None:
        self.print(f"{number}. {text}", stamp=True)

    def note(self, text: str) -> None:
        self.print(f"   {text}", stamp=True)

    def message(self, message: Message) -> None:
        if message.channel == "sms":
            self.note(f"sms    to {mask_phone(message.to)}: {message.body}")
            return
        if message.channel == "push":
            self.note(f"push   to {message.to}: {message.subject or '(encrypted)'}")
            return
        lines = [f"email  to {message.to}: {message.subject or '(no subject)'}"]
        lines.extend(_INDENT + line if line else "" for line in message.body.splitlines())
        self.note("\n".join(lines))

    def event(self, event: dict[str, Any]) -> None:
        detail = event.get("detail") or {}
        parts = [f"bus    {event.get('detail-type')}"]
        for key in ("visitId", "doorId", "visitorId"):
            if detail.get(key):
                parts.append(f"{key}={detail[key]}")
        if detail.get("similarity") is not None:
            parts.append(f"similarity={float(detail['similarity']):.1f}%")
        self.note("  ".join(parts))

    def execution(self, execution: dict[str, Any]) -> None:
        path = " → ".join(execution["path"])
        self.note(f"flow   {execution['workflow']} {execution['status']}: {path}")
