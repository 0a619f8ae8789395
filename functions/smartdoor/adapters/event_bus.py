"""Publishing events on the `smartdoor` EventBridge bus, plus an in-memory recorder.

PutEvents can accept a call and still reject some entries (FailedEntryCount > 0, each
rejected entry with an ErrorCode). `EventBridgeBus.publish` retries the rejected entries with
backoff and reports the ones still rejected as None, so the caller can fail only their record.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from smartdoor.adapters.aws import client, transient_errors_as
from smartdoor.errors import TransientError
from smartdoor.models import EVENT_SOURCE
from smartdoor.models import BusEvent as BusEvent  # moved to the models; re-exported
from smartdoor.observability import logger
from smartdoor.ports import EventBus as EventBus  # the port this adapter implements (re-exported)

_MAX_ENTRIES_PER_CALL = 10  # PutEvents limit


class EventBridgeBus:
    def __init__(
        self,
        bus_name: str,
        *,
        events_client: Any | None = None,
        max_attempts: int = 3,
        backoff_seconds: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._bus_name = bus_name
        self._client_override = events_client
        self._max_attempts = max(1, max_attempts)
        self._backoff = backoff_seconds
        self._sleep = sleep

    @property
    def _client(self) -> Any:
        return self._client_override or client("events")

    def publish(self, events: Sequence[BusEvent]) -> list[str | None]:
        results: list[str | None] = [None] * len(events)
        for start in range(0, len(events), _MAX_ENTRIES_PER_CALL):
            chunk = range(start, min(start + _MAX_ENTRIES_PER_CALL, len(events)))
            self._publish_chunk(events, list(chunk), results)
        return results

    def _publish_chunk(
        self, events: Sequence[BusEvent], pending: list[int], results: list[str | None]
    ) -> None:
        for attempt in range(1, self._max_attempts + 1):
            entries = [
                {
                    "Source": EVENT_SOURCE,
                    "DetailType": events[index].detail_type,
                    "Detail": events[index].detail,
                    "EventBusName": self._bus_name,
                }
                for index in pending
            ]
            with transient_errors_as(TransientError):
                response = self._client.put_events(Entries=entries)
            rejected: list[int] = []
            codes: list[str] = []
            for index, entry in zip(pending, response.get("Entries", []), strict=False):
                if entry.get("EventId") and not entry.get("ErrorCode"):
                    results[index] = entry["EventId"]
                else:
                    rejected.append(index)
                    codes.append(str(entry.get("ErrorCode", "missing")))
            # Entries missing from the response (never seen in practice) count as rejected too.
            rejected.extend(pending[len(response.get("Entries", [])) :])
            if not rejected:
                return
            logger.warning(
                "EventBridge rejected entries",
                extra={"attempt": attempt, "rejected": len(rejected), "error_codes": sorted(set(codes))},
            )
            pending = rejected
            if attempt < self._max_attempts:
                self._sleep(self._backoff * 2 ** (attempt - 1))


class RecordingEventBus:
    """EventBus in memory: keeps what was published (tests, benchmarks, local runs).

    `reject_next(n)` makes the next n entries come back rejected, as a FailedEntryCount would;
    `fail_next(n)` makes the next n publish calls raise TransientError.
    """

    def __init__(self) -> None:
        self.published: list[BusEvent] = []
        self._ids = itertools.count(1)
        self._reject = 0
        self._fail = 0
        self._lock = threading.Lock()

    def reject_next(self, entries: int) -> None:
        self._reject = entries

    def fail_next(self, calls: int) -> None:
        self._fail = calls

    def publish(self, events: Sequence[BusEvent]) -> list[str | None]:
        with self._lock:
            if self._fail > 0:
                self._fail -= 1
                raise TransientError("EventBridge unavailable (simulated)")
            results: list[str | None] = []
            for event in events:
                if self._reject > 0:
                    self._reject -= 1
                    results.append(None)
                    continue
                self.published.append(event)
                results.append(f"event-{next(self._ids)}")
            return results
