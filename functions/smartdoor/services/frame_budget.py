"""Counting one frame against the deployment's daily face-search budget (`maxFramesPerDay`).

Doorbell sessions and snapshots both reserve a frame before they search it; the first refusal
of a UTC day emails the owner, once (the budget store claims the alert).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from smartdoor.domain.doorbell import SessionPolicy, budget_day

if TYPE_CHECKING:
    from smartdoor.ports import FrameBudget, OwnerEmail


def reserve_frame(
    now: float, *, budget: FrameBudget, owner: OwnerEmail, policy: SessionPolicy, log: Any
) -> bool:
    """Count one frame against today's budget; the first refusal of the day emails the owner."""
    day = budget_day(now)
    if budget.reserve(day, policy.max_frames_per_day):
        return True
    if budget.claim_cap_alert(day):
        try:
            owner.send_email(
                "Smart Door: daily face-search limit reached",
                f"Smart Door has sent {policy.max_frames_per_day} images to face search today ({day}, UTC), "
                "its daily limit (maxFramesPerDay). Doorbell sessions and snapshots are not searched "
                "until the day ends (UTC). Raise maxFramesPerDay in the deployment's configuration "
                "if this is expected.",
            )
        except Exception as error:
            budget.release_cap_alert(day)
            log.warning("Could not email the daily-limit alert", extra={"error_type": type(error).__name__})
    return False
