"""How stored and published times are written: ISO-8601 in UTC with a 'Z'."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_utc(epoch_seconds: float) -> str:
    """An epoch time to the millisecond, e.g. `2026-12-03T14:31:21.123Z` (visits, sessions, snapshots)."""
    moment = datetime.fromtimestamp(epoch_seconds, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
