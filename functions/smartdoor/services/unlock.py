"""Opening the door with a passcode: check the code, tell the lock, warn the owner of a lockout.

Pure Python on ports; the passcode rules themselves (hashing, single use, lockout) live in
`smartdoor.domain.otp` and are only called from here. Every answer that is not "open" is a
typed exception, mapped to an HTTP status in `api.errors`, the API's one exception-handling place.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from smartdoor.domain.otp import AlreadyOpen, Denied, Granted, LockedOut, OtpPolicy
from smartdoor.errors import SmartDoorError, TransientError, UnknownDoor
from smartdoor.models import BusEvent, DetailType, DoorUnlockedDetail
from smartdoor.observability import logger
from smartdoor.schema import Record

if TYPE_CHECKING:
    from smartdoor.ports import EventBus, OwnerEmail, PasscodeVerifier, PendingCommands, VisitorNames


class WrongPasscode(SmartDoorError):
    """The code is wrong, expired, already used or for another door; the caller is not told which (403)."""


class DoorLockedOut(SmartDoorError):
    """Too many wrong codes at this door (`door_wide`) or from this address: typed codes are
    refused until `retry_at` (429); a code's one-tap link still opens."""

    def __init__(self, retry_at: datetime, *, door_wide: bool = True) -> None:
        super().__init__(f"keypad locked out until {retry_at.isoformat()}")
        self.retry_at = retry_at
        self.door_wide = door_wide


class DoorAlreadyOpen(SmartDoorError):
    """This code opened the door moments ago (a double tap, a retry): nothing happens again (409)."""


class DoorNotTold(TransientError):
    """The code was right but the DoorUnlocked event could not be published, so the lock never heard."""


# ---------------------------------------------------------------------------- ports


# ---------------------------------------------------------------------------- use case


class Unlocked(Record):
    __hidden__ = frozenset({"visitor_name"})

    door_id: str
    visitor_id: str
    visit_id: str
    visitor_name: str | None
    unlocked_at: datetime
    command_id: str  # the lock's command; the door page asks for its state
    expires_at: datetime


class LockCommand(Record):
    """How the door's lock is told: the command's lifetime, how its ids are made, and (with a
    lock) where its state is kept and how the lock hears it (`via`: iot or webhook)."""

    seconds: int = 30
    new_id: Callable[[], str] = lambda: str(uuid.uuid4())
    states: PendingCommands | None = None
    via: str | None = None


def iso_utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def lockout_alert(
    door_id: str, policy: OtpPolicy, locked_at: datetime, retry_at: datetime
) -> tuple[str, str]:
    window_minutes = max(1, policy.door_failure_window_seconds // 60)
    subject = f"Smart Door: keypad at {door_id} locked after wrong codes"
    body = "\n".join(
        [
            f"The keypad at {door_id} refused {policy.door_max_failures} wrong passcodes within "
            f"{window_minutes} minutes and now refuses typed codes.",
            "",
            f"Locked at:                {locked_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC",
            f"Accepts typed codes from: {retry_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC",
            "",
            "A visitor with a code can still open the door with the link in their text message.",
            "If nobody of yours mistyped a code, someone may be guessing codes at your door.",
        ]
    )
    return subject, body


def unlock_door(
    door_id: str,
    otp: object,
    *,
    served_doors: Collection[str],
    passcodes: PasscodeVerifier,
    visitors: VisitorNames,
    bus: EventBus,
    owner: OwnerEmail,
    now: datetime,
    client: str | None = None,
    link_key: object = None,
    lock: LockCommand | None = None,
) -> Unlocked:
    """Open `door_id` for a valid, unused, unexpired code, typed from the `client` address or sent
    with its link's key; raise why not otherwise.

    Raises UnknownDoor, MalformedPasscode (nothing recorded), WrongPasscode (a failure counted),
    DoorAlreadyOpen, DoorLockedOut, or DoorNotTold / TransientError when AWS fails.
    """
    if door_id not in served_doors:
        raise UnknownDoor("no such door")
    outcome = passcodes.verify(door_id, otp, client=client, link_key=link_key)  # type: ignore[arg-type]  # the domain checks the types
    if isinstance(outcome, Granted):
        try:
            return _open(outcome, visitors=visitors, bus=bus, now=now, lock=lock or LockCommand())
        except DoorNotTold:
            passcodes.release(door_id, str(otp))  # the door stayed shut: the code may be sent again
            raise
    if isinstance(outcome, AlreadyOpen):
        logger.info("Code sent again after it opened the door", extra={"door_id": door_id})
        raise DoorAlreadyOpen("this code opened the door moments ago")
    if isinstance(outcome, LockedOut):
        retry_at = datetime.fromtimestamp(outcome.retry_at, UTC)
        if outcome.just_locked and outcome.door_wide:
            logger.warning("Keypad locked out after repeated wrong codes", extra={"door_id": door_id})
            _alert_owner(owner, *lockout_alert(door_id, passcodes.policy, now, retry_at))
        raise DoorLockedOut(retry_at, door_wide=outcome.door_wide)
    if isinstance(outcome, Denied):
        logger.info(
            "Wrong passcode", extra={"door_id": door_id, "failures_in_window": outcome.failures_in_window}
        )
        raise WrongPasscode("wrong, expired or used code")
    raise TypeError(f"unexpected verify outcome {type(outcome).__name__}")


def _open(
    granted: Granted, *, visitors: VisitorNames, bus: EventBus, now: datetime, lock: LockCommand
) -> Unlocked:
    command_id = lock.new_id()
    expires_at = now + timedelta(seconds=lock.seconds)
    detail = DoorUnlockedDetail(
        visit_id=granted.visit_id,
        door_id=granted.door_id,
        visitor_id=granted.visitor_id,
        unlocked_at=iso_utc(now),
        command_id=command_id,
        expires_at=iso_utc(expires_at),
    )
    if lock.states is not None and lock.via is not None:
        try:
            lock.states.record_pending(
                command_id=command_id,
                door_id=granted.door_id,
                visit_id=granted.visit_id,
                via=lock.via,
                now=now,
            )
        except TransientError:
            logger.error("Lock command could not be recorded", extra={"door_id": granted.door_id})
            raise DoorNotTold("the door could not be told to open") from None
    event = BusEvent(detail_type=DetailType.DOOR_UNLOCKED.value, detail=json.dumps(detail.to_wire()))
    (event_id,) = bus.publish([event])
    if event_id is None:
        # The code is spent but the lock never heard: say so instead of welcoming someone to a shut door.
        logger.error("DoorUnlocked rejected by EventBridge", extra={"door_id": granted.door_id})
        raise DoorNotTold("the door could not be told to open")
    logger.info(
        "Door unlocked",
        extra={
            "door_id": granted.door_id,
            "visitor_id": granted.visitor_id,
            "visit_id": granted.visit_id,
            "event_id": event_id,
            "command_id": command_id,
        },
    )
    try:
        visitor = visitors.get(granted.visitor_id)
    except TransientError:
        # The door is already open; a missing name must not turn the welcome into an error.
        logger.warning("Visitor name unavailable", extra={"visitor_id": granted.visitor_id})
        visitor = None
    return Unlocked(
        door_id=granted.door_id,
        visitor_id=granted.visitor_id,
        visit_id=granted.visit_id,
        visitor_name=visitor.name if visitor is not None else None,
        unlocked_at=now,
        command_id=command_id,
        expires_at=expires_at,
    )


def _alert_owner(owner: OwnerEmail, subject: str, body: str) -> None:
    # The lockout itself is already recorded; a failed email must not turn the 429 into a 500.
    try:
        owner.send_email(subject, body)
    except Exception:
        logger.exception("Could not email the owner about a keypad lockout")
