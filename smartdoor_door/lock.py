"""The door's lock state: open for a while on a command, then locked again; locked on any failure.

The relay is opened by `unlock` and closed by `tick` once the deadline has passed (the agent
ticks it a few times a second; tests tick it with a fake clock). A second unlock while open
moves the deadline (never earlier): it extends, it does not toggle. Each change of state is
reported through `report(state, command_id)` (the MQTT state topic).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from smartdoor_door.relay import Relay

logger = logging.getLogger(__name__)
StateReport = Callable[[str, str | None], None]


class DoorLock:
    def __init__(
        self, relay: Relay, report: StateReport, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._relay = relay
        self._report = report
        self._clock = clock
        self._mutex = threading.Lock()
        self._open_until: float | None = None
        self._command_id: str | None = None
        relay.close()

    @property
    def is_open(self) -> bool:
        return self._open_until is not None

    def unlock(self, seconds: float, command_id: str) -> None:
        with self._mutex:
            deadline = self._clock() + seconds
            was_open = self._open_until is not None
            self._open_until = max(deadline, self._open_until or deadline)
            self._command_id = command_id
            if not was_open:
                self._relay.open()
        logger.info("door unlocked for %.0f s (command %s)", seconds, command_id)
        self._report("unlocked", command_id)

    def tick(self) -> None:
        with self._mutex:
            if self._open_until is None or self._clock() < self._open_until:
                return
        self.lock("time up")

    def lock(self, reason: str) -> None:
        """Close the relay now (time up, or fail-secure after an error)."""
        with self._mutex:
            was_open, command_id = self._open_until is not None, self._command_id
            self._open_until = None
            self._relay.close()
        if was_open:
            logger.info("door locked: %s", reason)
            self._report("locked", command_id)
