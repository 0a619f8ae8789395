"""How many texts Smart Door may send in an hour, per visitor and per door (SMS pumping).

Anything that makes Smart Door send an SMS can be set off by whoever stands at the door: a face,
a photo of a known visitor held up to the camera, a ring that starts a doorbell session, an
approval. Each visit of a known face would otherwise text (and replace) that visitor's code, and
each unknown face would text the owner. So every SMS first takes one unit from two budgets,
counted in fixed clock-hour windows:

- the visitor's: `per_visitor_per_hour` texts to one visitor (whatever the door);
- the door's: `per_door_per_hour` texts caused at one door (visitors' codes and the owner's
  approval requests together).

Both are taken at once or not at all (the store does it in one transaction), so a refused text
counts nowhere. A refused text is `SmsHeld`: the caller sends nothing and keeps what exists (a
visitor's live code keeps working), and the owner is told by email (which is not bounded: it
costs a hundred-thousandth of what an SMS does). A fixed window lets at most twice a budget
through around a window's edge (the end of one hour and the start of the next); docs/sms.md
gives the numbers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from smartdoor.schema import Record

if TYPE_CHECKING:
    from smartdoor.domain.otp import Clock
    from smartdoor.ports import SmsAllowance

WINDOW_SECONDS = 3600
# Every counter's partition key (Passcodes table) starts so: the functions that text may update
# only these items (cdk_app/components/tasks.py, a dynamodb:LeadingKeys condition).
SMS_BUDGET_KEY_PREFIX = "SMS#"
VISITOR = "visitor"
DOOR = "door"


class SmsLimits(Record):
    per_visitor_per_hour: int = 3
    per_door_per_hour: int = 20

    def __post_init__(self) -> None:
        if self.per_visitor_per_hour < 1 or self.per_door_per_hour < 1:
            raise ValueError("SMS limits must be at least 1 an hour")


class SmsScope(Record):
    """One budget: `kind` (visitor or door), whose, and how many texts a window allows."""

    kind: str
    owner_id: str
    limit: int


class SmsWindow(Record):
    start: int  # epoch seconds
    end: int

    @property
    def ends_at(self) -> str:
        """The window's end, for people: 18:00 UTC."""
        return datetime.fromtimestamp(self.end, tz=UTC).strftime("%H:%M UTC")


class SmsHeld(Record):
    """A text was not sent: `scope`'s budget for `window` is spent."""

    scope: SmsScope
    window: SmsWindow

    def reason(self) -> str:
        """Why, for the owner's email (it follows "no code was texted: ")."""
        limit = self.scope.limit
        if self.scope.kind == VISITOR:
            return (
                f"they have been texted {limit} times this hour (Smart Door's limit for one visitor); "
                f"their last code still works until it expires. Texts resume at {self.window.ends_at}. "
                "If they are not at the door, someone may be holding up a photo of them."
            )
        return (
            f"this door has caused {limit} texts this hour (Smart Door's limit for one door). "
            f"Texts resume at {self.window.ends_at}."
        )


def window_at(now: float, seconds: int = WINDOW_SECONDS) -> SmsWindow:
    start = int(now) // seconds * seconds
    return SmsWindow(start, start + seconds)


class SmsBudget:
    """Decides whether one more text may go; the allowance store counts atomically."""

    def __init__(self, allowance: SmsAllowance, clock: Clock, limits: SmsLimits | None = None) -> None:
        self._allowance = allowance
        self._clock = clock
        self.limits = limits or SmsLimits()

    def take(self, door_id: str, visitor_id: str | None = None) -> SmsHeld | None:
        """One text caused at `door_id` (to `visitor_id`, when it goes to a visitor): None if it may
        go (and is counted), else SmsHeld."""
        scopes = [SmsScope(DOOR, door_id, self.limits.per_door_per_hour)]
        if visitor_id is not None:
            scopes.insert(0, SmsScope(VISITOR, visitor_id, self.limits.per_visitor_per_hour))
        window = window_at(self._clock())
        spent = self._allowance.take(scopes, window)
        return None if spent is None else SmsHeld(spent, window)
