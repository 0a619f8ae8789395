"""One-time passcodes: issue, verify, lock a door out after repeated failures.

Rules (DESIGN.md, "Security rules"):
- a code is 6 digits from `secrets`; only HMAC(key, "<doorId>:<code>") is stored, so a code is
  bound to its door and a leaked table reveals nothing usable;
- a code is valid for `ttl_seconds`, checked here against the injected clock (DynamoDB TTL is lazy);
- one live code per visitor per door: issuing replaces the visitor's previous code;
- a code remembers the visit it was issued for, so the door's DoorUnlocked event names the visit
  whose code opened it (the hash is unchanged: the visit is stored beside it, not inside it);
- a code is used at most once: the store marks it used atomically; the same code sent again
  within `ALREADY_OPEN_SECONDS` of its use (a double tap, a retry after a timeout, 20 at once)
  is `AlreadyOpen`, never a wrong try;
- the SMS carries a one-tap link with the code and a 128-bit key (only its HMAC is stored): a
  code sent with its key opens the door whatever the keypad budgets say, so a stranger's wrong
  codes never stop a visitor who holds a live code;
- typed codes have two budgets (docs/api.md, "Guessing"): per client address, `max_failures`
  wrong codes within `failure_window_seconds` refuse that address for `lockout_seconds`; per
  door, `door_max_failures` within `door_failure_window_seconds` refuse typed codes at the door
  for `door_lockout_seconds` (no longer than a code lives). A refused try changes nothing.

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
from typing import TYPE_CHECKING

from msgspec.structs import replace

from smartdoor.domain.phones import mask_phone
from smartdoor.errors import MalformedPasscode, SmartDoorError, TransientError, VisitorNotFound
from smartdoor.observability import logger
from smartdoor.schema import Record

if TYPE_CHECKING:
    from smartdoor.domain.sms_budget import SmsBudget
    from smartdoor.ports import HmacKeySource, PasscodeStore, SmsSender, VisitorLookup

CODE_LENGTH = 6
LINK_KEY_BYTES = 16  # 128 bits: the one-tap link's key
_LINK_KEY = re.compile(r"[A-Za-z0-9_-]{22}")  # token_urlsafe(16)
# A code sent again this soon after it opened the door is a repeat, not a guess.
ALREADY_OPEN_SECONDS = 60
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


class Budget(Record):
    """At most `max_failures` wrong codes within `window_seconds`; then `lockout_seconds` of refusals."""

    max_failures: int
    window_seconds: int
    lockout_seconds: int


class OtpPolicy(Record):
    ttl_seconds: int = 300
    # Per client address (the one API Gateway reports).
    max_failures: int = 5
    failure_window_seconds: int = 900
    lockout_seconds: int = 900
    # Per door, whatever the address: what bounds guessing by many addresses.
    door_max_failures: int = 10
    door_failure_window_seconds: int = 300
    door_lockout_seconds: int = 300

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            if getattr(self, name) < 1:
                raise ValueError(f"OtpPolicy.{name} must be at least 1")

    @property
    def address(self) -> Budget:
        return Budget(self.max_failures, self.failure_window_seconds, self.lockout_seconds)

    @property
    def door(self) -> Budget:
        return Budget(self.door_max_failures, self.door_failure_window_seconds, self.door_lockout_seconds)


def guessing_bound(policy: OtpPolicy, live_codes: int) -> float:
    """At most the probability that typed guesses open the door during one code's life, with
    `live_codes` codes live at the door at once (each a uniform 6-digit code).

    Any stretch of min(window, lockout) seconds holds at most `door_max_failures` wrong tries: the
    try that fills the window locks the door and clears the count, and a lockout at least as long
    as the window leaves no room for more. A code's life spans ceil(ttl / that) such stretches;
    each try matches one of the live codes with probability live_codes / 10^6."""
    stretch = min(policy.door_failure_window_seconds, policy.door_lockout_seconds)
    tries = policy.door_max_failures * -(-policy.ttl_seconds // stretch)
    return min(1.0, live_codes * tries / 10**CODE_LENGTH)


# ---------------------------------------------------------------------------------------------
# Values exchanged with the store


class StoredCode(Record):
    """What the store keeps for a live code: its hash, never the code."""

    code_hash: str
    door_id: str
    visitor_id: str
    visit_id: str  # the visit the code was issued for
    issued_at: int
    expires_at: int
    link_hash: str | None = None  # HMAC of the one-tap link's key
    used_at: float | None = None  # when it opened the door


class FailureRecord(Record):
    """A door's recent failed tries and lockout. `version` makes updates compare-and-swap."""

    failures: tuple[float, ...] = ()
    locked_until: float | None = None
    version: int = 0

    def lockout_end(self, now: float) -> float | None:
        """When the lockout ends, if the door is locked out at `now`."""
        if self.locked_until is not None and now < self.locked_until:
            return self.locked_until
        return None

    def expires_at(self, window_seconds: int) -> int:
        """When the record stops mattering (its TTL)."""
        latest = max([*self.failures, 0.0]) + window_seconds
        return int(max(latest, self.locked_until or 0.0)) + 1


class CodeCollision(SmartDoorError):
    """Another live code at the same door has the same hash; the caller regenerates."""


class ConcurrentIssue(SmartDoorError):
    """The visitor's current code changed between reading and replacing it; the caller re-reads."""


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


def link_hash(key: bytes, door_id: str, link_key: str) -> str:
    """HMAC-SHA256 of "link:<doorId>:<key>", what is stored of a one-tap link's key."""
    return hmac.new(key, f"link:{door_id}:{link_key}".encode(), hashlib.sha256).hexdigest()


def generate_link_key() -> str:
    return secrets.token_urlsafe(LINK_KEY_BYTES)


def is_link_key(value: object) -> bool:
    return isinstance(value, str) and _LINK_KEY.fullmatch(value) is not None


def register_failure(record: FailureRecord, now: float, budget: Budget) -> tuple[FailureRecord, bool]:
    """A budget's record after one more failed try at `now`, and whether that try locked it.

    A sliding window: the budget locks when `max_failures` tries fall within the last
    `window_seconds`. Locking clears the tries, so it starts afresh when it reopens.
    """
    window_start = now - budget.window_seconds
    recent = (*(t for t in record.failures if t > window_start), now)
    # Keep only as many as could still matter: the record stays small under attack.
    recent = recent[-budget.max_failures :]
    if len(recent) >= budget.max_failures:
        return replace(record, failures=(), locked_until=now + budget.lockout_seconds), True
    return replace(record, failures=recent, locked_until=record.lockout_end(now)), False


def sms_text(door_id: str, otp: str, ttl_seconds: int, link: str | None = None) -> str:
    """The visitor's SMS. With the link it stays within one 160-character segment for a CloudFront
    host (about 150 characters)."""
    if link:
        return f"Smart Door: code {otp} for {door_id}, valid {_duration(ttl_seconds)}. Open: {link}"
    return f"Smart Door: your code for {door_id} is {otp}. It expires in {_duration(ttl_seconds)}."


def unlock_link(site_url: str, door_id: str, otp: str, link_key: str) -> str:
    """The keypad with the code filled in (`#<code>.<key>`). The key rides in the fragment, which
    browsers never send: opening the link decides nothing, the page's button (a POST) does."""
    return f"{site_url.rstrip('/')}/door/?door={door_id}#{otp}.{link_key}"


def _duration(seconds: int) -> str:
    if seconds % 60 == 0:
        minutes = seconds // 60
        return f"{minutes} minute" if minutes == 1 else f"{minutes} minutes"
    return f"{seconds} seconds"


# ---------------------------------------------------------------------------------------------
# Outcomes


class IssuedPasscode(Record):
    __hidden__ = frozenset({"code", "link_key"})

    visitor_id: str
    door_id: str
    visit_id: str
    issued_at: int
    expires_at: int
    code: str  # goes into the SMS and nowhere else
    link_key: str = ""  # the one-tap link's key: the SMS only


class Granted(Record):
    visitor_id: str
    door_id: str
    visit_id: str  # the visit whose code opened the door


class AlreadyOpen(Record):
    """The code opened the door moments ago (a double tap, a retry): not a wrong try."""

    visitor_id: str
    door_id: str


class Denied(Record):
    """Wrong, used, expired or other-door code (the caller cannot tell which, on purpose)."""

    failures_in_window: int


class LockedOut(Record):
    """The door refuses codes until `retry_at` (epoch seconds).

    `just_locked` is True only for the one failed try that caused the lockout, so the caller can
    alert the owner exactly once.
    """

    retry_at: float
    just_locked: bool = False
    door_wide: bool = True  # False: only this client address is refused


VerifyOutcome = Granted | AlreadyOpen | Denied | LockedOut


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
            otp, link_key = self._generate(), generate_link_key()
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
                link_hash=link_hash(key, door_id, link_key),
            )
            previous = self._store.current_code_hash(door_id, visitor_id)
            try:
                self._store.replace_code(stored, previous)
            except (CodeCollision, ConcurrentIssue):
                continue
            return IssuedPasscode(
                visitor_id,
                door_id,
                visit_id,
                stored.issued_at,
                stored.expires_at,
                code=otp,
                link_key=link_key,
            )
        raise TransientError(f"could not store a new code after {MAX_ISSUE_ATTEMPTS} attempts")

    def verify(
        self, door_id: str, otp: str, *, client: str | None = None, link_key: str | None = None
    ) -> VerifyOutcome:
        """Check a code sent to the door, typed (from the `client` address) or with its link's key.

        Raises MalformedPasscode (state untouched) for bad input."""
        if not is_well_formed(otp) or (link_key is not None and not is_link_key(link_key)):
            raise MalformedPasscode("the code must be exactly 6 digits")
        require_identifier(door_id, "doorId")
        now = self._clock()
        key = self._keys.hmac_key()
        hashed = code_hash(key, door_id, otp)
        if link_key is not None and self._link_opens(door_id, hashed, link_hash(key, door_id, link_key), now):
            return self._take(door_id, hashed, now) or self._record_failures(door_id, client, now)
        budgets = self._budgets(door_id, client)
        records = {name: self._store.load_failures(name) for name in budgets}
        for name, record in records.items():
            lockout_end = record.lockout_end(now)
            if lockout_end is not None:
                return LockedOut(retry_at=lockout_end, door_wide=name == door_id)
        # A lockout that lands between the check above and this take lets one correct code
        # through; harmless, since only wrong codes cause lockouts.
        return self._take(door_id, hashed, now) or self._record_failures(door_id, client, now, records)

    def _link_opens(self, door_id: str, hashed: str, expected_link: str, now: float) -> bool:
        """The code is live (or just used) and the key is its link's: no budget applies."""
        stored = self._store.peek_code(door_id, hashed)
        return (
            stored is not None
            and stored.link_hash is not None
            and now < stored.expires_at
            and hmac.compare_digest(stored.link_hash, expected_link)
        )

    def _take(self, door_id: str, hashed: str, now: float) -> Granted | AlreadyOpen | None:
        """Use the code: Granted, AlreadyOpen for a repeat of the code that just opened the door,
        None when no live code matches (a wrong try)."""
        taken = self._store.take_code(door_id, hashed, now)
        if taken is None or (now >= taken.expires_at and taken.used_at is None):
            return None  # an expired code could never be used again anyway
        if taken.used_at is None:
            return Granted(visitor_id=taken.visitor_id, door_id=door_id, visit_id=taken.visit_id)
        if now - taken.used_at <= ALREADY_OPEN_SECONDS:
            return AlreadyOpen(visitor_id=taken.visitor_id, door_id=door_id)
        return None

    def release(self, door_id: str, otp: str) -> None:
        """Make a code that was just used usable again: the door never heard it should open."""
        self._store.release_code(door_id, code_hash(self._keys.hmac_key(), door_id, otp))

    def _budgets(self, door_id: str, client: str | None) -> dict[str, Budget]:
        """Each budget a typed code at the door counts against, by its record's name: the client
        address's first (so a guesser's own address is refused before the door is), then the door's."""
        address = f"{door_id}#address#{client or 'unknown'}"
        return {address: self.policy.address, door_id: self.policy.door}

    def _record_failures(
        self, door_id: str, client: str | None, now: float, records: dict[str, FailureRecord] | None = None
    ) -> VerifyOutcome:
        """Count one wrong try against every budget. The answer is the address budget's (its tries
        so far), unless a budget is or just got locked: the door's lockout before the address's."""
        outcomes = [
            self._record_failure(
                name, budget, (records or {}).get(name) or self._store.load_failures(name), now
            )
            for name, budget in self._budgets(door_id, client).items()
        ]
        address, door = outcomes
        if isinstance(door, LockedOut) and (door.just_locked or not isinstance(address, LockedOut)):
            return door
        if isinstance(address, LockedOut):
            return replace(address, door_wide=False)
        return address

    def _record_failure(self, name: str, budget: Budget, record: FailureRecord, now: float) -> VerifyOutcome:
        for _ in range(MAX_FAILURE_RECORD_ATTEMPTS):
            lockout_end = record.lockout_end(now)
            if lockout_end is not None:  # another try locked it meanwhile
                return LockedOut(retry_at=lockout_end)
            updated, just_locked = register_failure(record, now, budget)
            updated = replace(updated, version=record.version + 1)
            ttl = updated.expires_at(budget.window_seconds)
            if self._store.save_failures(name, updated, expected_version=record.version, ttl=ttl):
                if just_locked:
                    return LockedOut(retry_at=now + budget.lockout_seconds, just_locked=True)
                return Denied(failures_in_window=len(updated.failures))
            record = self._store.load_failures(name)
        raise TransientError("the keypad's failure counter is too busy; try again")


# ---------------------------------------------------------------------------------------------
# Issuing and delivering in one step (the issue_passcode task)


class PasscodeSent(Record):
    visitor_id: str
    door_id: str
    visit_id: str
    expires_at: int | None  # None: held
    sent_to: str | None  # masked phone number; None: held
    held: str | None = None  # why no text went (SMS budgets), for the owner


def send_passcode(
    visitor_id: str,
    door_id: str,
    *,
    visit_id: str,
    passcodes: PasscodeService,
    visitors: VisitorLookup,
    sms: SmsSender,
    site_url: str | None = None,
    budget: SmsBudget | None = None,
) -> PasscodeSent:
    """Issue a code for a known visitor, for the visit `visit_id`, and text it to them with its
    one-tap link to the keypad at `site_url` (the pages' address); the code goes nowhere else.

    With a `budget`, the text is counted first; when the budget is spent nothing is issued or
    sent (the visitor's live code keeps working) and the result says why, for the owner.
    If the SMS fails after the code is stored, a retry issues a fresh code that replaces it, so
    retrying the whole step is safe.
    """
    require_identifier(visitor_id, "visitorId")
    require_identifier(door_id, "doorId")
    require_identifier(visit_id, "visitId")
    visitor = visitors.get(visitor_id)
    if visitor is None:
        raise VisitorNotFound(f"no visitor with id {visitor_id}")
    held = budget.take(door_id, visitor_id) if budget is not None else None
    if held is not None:
        logger.warning(
            "Passcode held: SMS budget spent",
            extra={
                "visitor_id": visitor_id,
                "door_id": door_id,
                "visit_id": visit_id,
                "budget": held.scope.kind,
            },
        )
        return PasscodeSent(visitor_id, door_id, visit_id, expires_at=None, sent_to=None, held=held.reason())
    issued = passcodes.issue(door_id, visitor_id, visit_id=visit_id)
    link = unlock_link(site_url, door_id, issued.code, issued.link_key) if site_url else None
    sms.send_sms(visitor.phone, sms_text(door_id, issued.code, passcodes.policy.ttl_seconds, link))
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
