"""One-time passcodes: issue, verify, lock a door out after repeated failures.

Rules (DESIGN.md, "Security rules"):
- a code is 6 digits from `secrets`; only HMAC(key, "<doorId>:<code>") is stored, so a code is
  bound to its door and a leaked table reveals nothing usable;
- a code is valid for `ttl_seconds`, checked here against the injected clock (DynamoDB TTL is lazy);
- one live code per visitor per door: issuing replaces the visitor's previous code;
- a code remembers the visit it was issued for, so the door's DoorUnlocked event names the visit
  whose code opened it (the hash is unchanged: the visit is stored beside it, not inside it);
- a code is used at most once: the store takes (deletes) it atomically;
- after `max_failures` wrong codes at a door within `failure_window_seconds`, the door refuses every
  code (even a correct one, which stays usable) for `lockout_seconds`.

Input decisions: a code that is not exactly 6 ASCII digits is rejected with `MalformedPasscode`
before any state is read or written, so typos such as "12345" or "12 3456" never count towards a
lockout (they cannot match any code either). A well-formed wrong code counts as a failure.
A successful unlock does not clear the failure count: otherwise an attacker who shares the door
with a legitimate visitor would gain fresh guesses whenever the visitor opens the door.

The code itself exists only in the `IssuedPasscode` returned to the caller that sends the SMS; its
repr hides it, and nothing here logs it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

from smartdoor.domain.phones import mask_phone
from smartdoor.errors import MalformedPasscode, SmartDoorError, TransientError, VisitorNotFound
from smartdoor.observability import logger

CODE_LENGTH = 6
_WELL_FORMED_CODE = re.compile(r"[0-9]{6}")
# Door and visitor ids become parts of table keys joined by '#': keep them to the characters a
# Rekognition ExternalImageId allows, so two different pairs can never produce the same key.
_IDENTIFIER = re.compile(r"[A-Za-z0-9_.:\-]{1,128}")

# How many times `issue` regenerates on a hash collision or re-reads after a concurrent issue.
MAX_ISSUE_ATTEMPTS = 5
# How many times a failure is re-recorded when another attempt updated the door's counter first.
MAX_FAILURE_RECORD_ATTEMPTS = 10

Clock = Callable[[], float]
"""Returns the current time in epoch seconds (time.time in production, a fake in tests)."""


@dataclass(frozen=True)
class OtpPolicy:
    ttl_seconds: int = 300
    max_failures: int = 5
    failure_window_seconds: int = 900
    lockout_seconds: int = 900

    def __post_init__(self) -> None:
        for name in ("ttl_seconds", "max_failures", "failure_window_seconds", "lockout_seconds"):
            if getattr(self, name) < 1:
                raise ValueError(f"OtpPolicy.{name} must be at least 1")


# ---------------------------------------------------------------------------------------------
# Values exchanged with the store


@dataclass(frozen=True)
class StoredCode:
    """What the store keeps for a live code: its hash, never the code."""

    code_hash: str
    door_id: str
    visitor_id: str
    visit_id: str  # the visit the code was issued for
    issued_at: int
    expires_at: int


@dataclass(frozen=True)
class FailureRecord:
    """A door's recent failed tries and lockout. `version` makes updates compare-and-swap."""

    failures: tuple[float, ...] = ()
    locked_until: float | None = None
    version: int = 0

    def lockout_end(self, now: float) -> float | None:
        """When the lockout ends, if the door is locked out at `now`."""
        if self.locked_until is not None and now < self.locked_until:
            return self.locked_until
        return None

    def expires_at(self, policy: OtpPolicy) -> int:
        """When the record stops mattering (its TTL)."""
        latest = max([*self.failures, 0.0]) + policy.failure_window_seconds
        return int(max(latest, self.locked_until or 0.0)) + 1


class CodeCollision(SmartDoorError):
    """Another live code at the same door has the same hash; the caller regenerates."""


class ConcurrentIssue(SmartDoorError):
    """The visitor's current code changed between reading and replacing it; the caller re-reads."""


class PasscodeStore(Protocol):
    def current_code_hash(self, door_id: str, visitor_id: str) -> str | None:
        """Hash of the visitor's most recently issued code at the door, if any (may be used or expired)."""
        ...

    def replace_code(self, code: StoredCode, previous_hash: str | None) -> None:
        """Atomically store `code`, point the visitor at it and delete the code `previous_hash`.

        Raises CodeCollision if a code with the same hash exists at the door, ConcurrentIssue if the
        visitor's pointer no longer holds `previous_hash`. Never deletes another visitor's code.
        """
        ...

    def take_code(self, door_id: str, code_hash: str) -> StoredCode | None:
        """Atomically delete the code and return what was stored, or None if there was none.

        Of concurrent calls for one code, at most one gets it. Expired codes are returned too
        (TTL is lazy): judging expiry is the caller's job.
        """
        ...

    def load_failures(self, door_id: str) -> FailureRecord: ...

    def save_failures(self, door_id: str, record: FailureRecord, expected_version: int, ttl: int) -> bool:
        """Write `record` if the stored version is still `expected_version`; False if it changed."""
        ...


class HmacKeySource(Protocol):
    def hmac_key(self) -> bytes: ...


class VisitorContact(Protocol):
    @property
    def phone(self) -> str: ...


class VisitorLookup(Protocol):
    def get(self, visitor_id: str) -> VisitorContact | None: ...


class SmsSender(Protocol):
    def send_sms(self, phone: str, text: str) -> str: ...


# ---------------------------------------------------------------------------------------------
# Pure rules


def generate_code() -> str:
    """A uniformly random 6-digit code (leading zeros kept)."""
    return f"{secrets.randbelow(10**CODE_LENGTH):0{CODE_LENGTH}d}"


def is_well_formed(otp: object) -> bool:
    """Exactly 6 ASCII digits: no spaces, signs, other scripts' digits or trailing newline."""
    return isinstance(otp, str) and _WELL_FORMED_CODE.fullmatch(otp) is not None


def require_identifier(value: str, what: str) -> str:
    if not isinstance(value, str) or _IDENTIFIER.fullmatch(value) is None:
        raise ValueError(f"{what} must be 1-128 characters of A-Z a-z 0-9 _ . : -")
    return value


def code_hash(key: bytes, door_id: str, otp: str) -> str:
    """HMAC-SHA256 of "<doorId>:<code>": the same code at another door has another hash."""
    return hmac.new(key, f"{door_id}:{otp}".encode(), hashlib.sha256).hexdigest()


def register_failure(record: FailureRecord, now: float, policy: OtpPolicy) -> tuple[FailureRecord, bool]:
    """The door's record after one more failed try at `now`, and whether that try locked the door.

    A sliding window: the door locks when `max_failures` tries fall within the last
    `failure_window_seconds`. Locking clears the tries, so the door starts afresh when it reopens.
    """
    window_start = now - policy.failure_window_seconds
    recent = (*(t for t in record.failures if t > window_start), now)
    # Keep only as many as could still matter: the record stays small under attack.
    recent = recent[-policy.max_failures :]
    if len(recent) >= policy.max_failures:
        return replace(record, failures=(), locked_until=now + policy.lockout_seconds), True
    return replace(record, failures=recent, locked_until=record.lockout_end(now)), False


def sms_text(door_id: str, otp: str, ttl_seconds: int) -> str:
    return f"Smart Door: your code for {door_id} is {otp}. It expires in {_duration(ttl_seconds)}."


def _duration(seconds: int) -> str:
    if seconds % 60 == 0:
        minutes = seconds // 60
        return f"{minutes} minute" if minutes == 1 else f"{minutes} minutes"
    return f"{seconds} seconds"


# ---------------------------------------------------------------------------------------------
# Outcomes


@dataclass(frozen=True)
class IssuedPasscode:
    visitor_id: str
    door_id: str
    visit_id: str
    issued_at: int
    expires_at: int
    code: str = field(repr=False)  # goes into the SMS and nowhere else


@dataclass(frozen=True)
class Granted:
    visitor_id: str
    door_id: str
    visit_id: str  # the visit whose code opened the door


@dataclass(frozen=True)
class Denied:
    """Wrong, used, expired or other-door code (the caller cannot tell which, on purpose)."""

    failures_in_window: int


@dataclass(frozen=True)
class LockedOut:
    """The door refuses codes until `retry_at` (epoch seconds).

    `just_locked` is True only for the one failed try that caused the lockout, so the caller can
    alert the owner exactly once.
    """

    retry_at: float
    just_locked: bool = False


VerifyOutcome = Granted | Denied | LockedOut


# ---------------------------------------------------------------------------------------------
# The service


class PasscodeService:
    """Issues and verifies codes; the store does the atomic parts, this class decides."""

    def __init__(
        self,
        store: PasscodeStore,
        keys: HmacKeySource,
        clock: Clock,
        policy: OtpPolicy | None = None,
        generate: Callable[[], str] = generate_code,
    ) -> None:
        self._store = store
        self._keys = keys
        self._clock = clock
        self.policy = policy or OtpPolicy()
        self._generate = generate

    def issue(self, door_id: str, visitor_id: str, *, visit_id: str) -> IssuedPasscode:
        """A fresh code for the visitor at the door, issued for `visit_id`; the visitor's previous code
        stops working."""
        require_identifier(door_id, "doorId")
        require_identifier(visitor_id, "visitorId")
        require_identifier(visit_id, "visitId")
        key = self._keys.hmac_key()
        for _ in range(MAX_ISSUE_ATTEMPTS):
            otp = self._generate()
            if not is_well_formed(otp):
                raise ValueError("code generator must return 6 ASCII digits")
            issued_at = int(self._clock())
            stored = StoredCode(
                code_hash=code_hash(key, door_id, otp),
                door_id=door_id,
                visitor_id=visitor_id,
                visit_id=visit_id,
                issued_at=issued_at,
                expires_at=issued_at + self.policy.ttl_seconds,
            )
            previous = self._store.current_code_hash(door_id, visitor_id)
            try:
                self._store.replace_code(stored, previous)
            except (CodeCollision, ConcurrentIssue):
                continue
            return IssuedPasscode(
                visitor_id, door_id, visit_id, stored.issued_at, stored.expires_at, code=otp
            )
        raise TransientError(f"could not store a new code after {MAX_ISSUE_ATTEMPTS} attempts")

    def verify(self, door_id: str, otp: str) -> VerifyOutcome:
        """Check a code typed at the door. Raises MalformedPasscode (state untouched) for bad input."""
        if not is_well_formed(otp):
            raise MalformedPasscode("the code must be exactly 6 digits")
        require_identifier(door_id, "doorId")
        now = self._clock()
        record = self._store.load_failures(door_id)
        lockout_end = record.lockout_end(now)
        if lockout_end is not None:
            return LockedOut(retry_at=lockout_end)
        # A lockout that lands between the check above and this take lets one correct code
        # through; harmless, since only wrong codes cause lockouts.
        taken = self._store.take_code(door_id, code_hash(self._keys.hmac_key(), door_id, otp))
        # An expired code is taken too: it could never be used again anyway.
        if taken is not None and now < taken.expires_at:
            return Granted(visitor_id=taken.visitor_id, door_id=door_id, visit_id=taken.visit_id)
        return self._record_failure(door_id, record, now)

    def _record_failure(self, door_id: str, record: FailureRecord, now: float) -> VerifyOutcome:
        for _ in range(MAX_FAILURE_RECORD_ATTEMPTS):
            lockout_end = record.lockout_end(now)
            if lockout_end is not None:  # another try locked the door meanwhile
                return LockedOut(retry_at=lockout_end)
            updated, just_locked = register_failure(record, now, self.policy)
            updated = replace(updated, version=record.version + 1)
            ttl = updated.expires_at(self.policy)
            if self._store.save_failures(door_id, updated, expected_version=record.version, ttl=ttl):
                if just_locked:
                    return LockedOut(retry_at=now + self.policy.lockout_seconds, just_locked=True)
                return Denied(failures_in_window=len(updated.failures))
            record = self._store.load_failures(door_id)
        raise TransientError("the door's failure counter is too busy; try again")


# ---------------------------------------------------------------------------------------------
# Issuing and delivering in one step (the issue_passcode task)


@dataclass(frozen=True)
class PasscodeSent:
    visitor_id: str
    door_id: str
    visit_id: str
    expires_at: int
    sent_to: str  # masked phone number


def send_passcode(
    visitor_id: str,
    door_id: str,
    *,
    visit_id: str,
    passcodes: PasscodeService,
    visitors: VisitorLookup,
    sms: SmsSender,
) -> PasscodeSent:
    """Issue a code for a known visitor, for the visit `visit_id`, and text it to them; the code goes
    nowhere else.

    If the SMS fails after the code is stored, a retry issues a fresh code that replaces it, so
    retrying the whole step is safe.
    """
    require_identifier(visitor_id, "visitorId")
    require_identifier(door_id, "doorId")
    require_identifier(visit_id, "visitId")
    visitor = visitors.get(visitor_id)
    if visitor is None:
        raise VisitorNotFound(f"no visitor with id {visitor_id}")
    issued = passcodes.issue(door_id, visitor_id, visit_id=visit_id)
    sms.send_sms(visitor.phone, sms_text(door_id, issued.code, passcodes.policy.ttl_seconds))
    sent = PasscodeSent(visitor_id, door_id, visit_id, issued.expires_at, sent_to=mask_phone(visitor.phone))
    logger.info(
        "Passcode issued and sent",
        extra={
            "visitor_id": visitor_id,
            "door_id": door_id,
            "visit_id": visit_id,
            "expires_at": issued.expires_at,
            "to": sent.sent_to,
        },
    )
    return sent
