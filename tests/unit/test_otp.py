"""One-time passcode rules (smartdoor.domain.otp) on an in-memory store and a controllable clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from msgspec.structs import replace

from smartdoor.domain.otp import (
    ALREADY_OPEN_SECONDS,
    AlreadyOpen,
    CodeCollision,
    ConcurrentIssue,
    Denied,
    FailureRecord,
    Granted,
    LockedOut,
    OtpPolicy,
    PasscodeService,
    StoredCode,
    code_hash,
    generate_code,
    is_well_formed,
    send_passcode,
    sms_text,
)
from smartdoor.errors import MalformedPasscode, TransientError, VisitorNotFound

KEY = b"k" * 32
START = 1_800_000_000.0
DOOR = "front-door"
VISIT = "front-door-1800000000000"
# Digits str.isdigit() accepts that are not ASCII: never a valid code.
FULLWIDTH_DIGITS = "\uff11\uff12\uff13\uff14\uff15\uff16"
ARABIC_INDIC_DIGITS = "\u0661\u0662\u0663\u0664\u0665\u0666"


class FakeClock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FixedKey:
    def __init__(self, key: bytes = KEY) -> None:
        self.key = key

    def hmac_key(self) -> bytes:
        return self.key


class InMemoryPasscodeStore:
    """The PasscodeStore contract on dicts (each method is atomic: tests are single-threaded)."""

    def __init__(self) -> None:
        self.codes: dict[tuple[str, str], StoredCode] = {}
        self.pointers: dict[tuple[str, str], str] = {}
        self.failures: dict[str, FailureRecord] = {}
        self.before_replace: Callable[[], None] | None = None
        self.before_save_failures: Callable[[], None] | None = None

    def current_code_hash(self, door_id: str, visitor_id: str) -> str | None:
        return self.pointers.get((door_id, visitor_id))

    def replace_code(self, code: StoredCode, previous_hash: str | None) -> None:
        if self.before_replace is not None:
            hook, self.before_replace = self.before_replace, None
            hook()
        if (code.door_id, code.code_hash) in self.codes:
            raise CodeCollision("same hash")
        if self.pointers.get((code.door_id, code.visitor_id)) != previous_hash:
            raise ConcurrentIssue("pointer moved")
        old = self.codes.get((code.door_id, previous_hash)) if previous_hash else None
        if old is not None and old.visitor_id == code.visitor_id:
            del self.codes[(code.door_id, old.code_hash)]
        self.codes[(code.door_id, code.code_hash)] = code
        self.pointers[(code.door_id, code.visitor_id)] = code.code_hash

    def peek_code(self, door_id: str, code_hash: str) -> StoredCode | None:
        return self.codes.get((door_id, code_hash))

    def take_code(self, door_id: str, code_hash: str, now: float) -> StoredCode | None:
        stored = self.codes.get((door_id, code_hash))
        if stored is not None and stored.used_at is None:
            self.codes[(door_id, code_hash)] = replace(stored, used_at=now)
        return stored

    def release_code(self, door_id: str, code_hash: str) -> None:
        stored = self.codes.get((door_id, code_hash))
        if stored is not None:
            self.codes[(door_id, code_hash)] = replace(stored, used_at=None)

    def load_failures(self, door_id: str) -> FailureRecord:
        return self.failures.get(door_id, FailureRecord())

    def save_failures(self, door_id: str, record: FailureRecord, expected_version: int, ttl: int) -> bool:
        if self.before_save_failures is not None:
            hook, self.before_save_failures = self.before_save_failures, None
            hook()
        if self.load_failures(door_id).version != expected_version:
            return False
        self.failures[door_id] = record
        return True


@dataclass
class ScriptedCodes:
    """A code generator that returns the given codes in order (to force collisions)."""

    codes: list[str]
    calls: int = 0

    def __call__(self) -> str:
        code = self.codes[min(self.calls, len(self.codes) - 1)]
        self.calls += 1
        return code


@dataclass
class Person:
    phone: str


@dataclass
class FakeVisitors:
    people: dict[str, Person]

    def get(self, visitor_id: str) -> Person | None:
        return self.people.get(visitor_id)


@dataclass
class RecordingSms:
    sent: list[tuple[str, str]] = field(default_factory=list)

    def send_sms(self, phone: str, text: str) -> str:
        self.sent.append((phone, text))
        return f"msg-{len(self.sent)}"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store() -> InMemoryPasscodeStore:
    return InMemoryPasscodeStore()


@pytest.fixture
def service(store: InMemoryPasscodeStore, clock: FakeClock) -> PasscodeService:
    return PasscodeService(store=store, keys=FixedKey(), clock=clock)


def wrong_code_for(*right: str) -> str:
    return next(c for c in (f"{n:06d}" for n in range(1_000_000)) if c not in right)


def fail(service: PasscodeService, times: int, right: str, door: str = DOOR) -> list[object]:
    return [service.verify(door, wrong_code_for(right)) for _ in range(times)]


# --- generation and format -----------------------------------------------------------------


def test_generated_codes_are_six_ascii_digits_with_leading_zeros_kept() -> None:
    # GIVEN / WHEN many generated codes
    codes = [generate_code() for _ in range(2000)]
    # THEN each is 6 ASCII digits, and zero-padding is kept (P(no leading 0 in 2000) ~ 1e-92)
    assert all(len(c) == 6 and c.isascii() and c.isdigit() for c in codes)
    assert any(c.startswith("0") for c in codes)


@pytest.mark.parametrize("otp", ["123456", "000000", "999999"])
def test_six_ascii_digits_are_well_formed(otp: str) -> None:
    assert is_well_formed(otp)


@pytest.mark.parametrize(
    "otp",
    ["", "12345", "1234567", "12345a", " 123456", "123456\n", "12 345", "-12345", "+12345",
     FULLWIDTH_DIGITS, ARABIC_INDIC_DIGITS, 123456, None],
)  # fmt: skip
def test_anything_else_is_malformed(otp: object) -> None:
    assert not is_well_formed(otp)


def test_hash_binds_the_code_to_its_door_and_the_key() -> None:
    # GIVEN one code
    # WHEN hashed for two doors and with two keys
    # THEN every hash differs, and the same inputs give the same hash
    assert code_hash(KEY, "front", "123456") == code_hash(KEY, "front", "123456")
    assert code_hash(KEY, "front", "123456") != code_hash(KEY, "back", "123456")
    assert code_hash(KEY, "front", "123456") != code_hash(b"x" * 32, "front", "123456")
    assert "123456" not in code_hash(KEY, "front", "123456")


def test_policy_rejects_non_positive_values() -> None:
    with pytest.raises(ValueError, match="max_failures"):
        OtpPolicy(max_failures=0)


# --- issuing -------------------------------------------------------------------------------


def test_issue_stores_only_the_hmac_of_the_code(
    service: PasscodeService, store: InMemoryPasscodeStore, clock: FakeClock
) -> None:
    # WHEN a code is issued
    issued = service.issue(DOOR, "v1", visit_id=VISIT)
    # THEN it is 6 digits, valid for 300 s, and the store holds its door-bound HMAC and not the code
    assert is_well_formed(issued.code)
    assert issued.expires_at == int(clock.now) + 300
    (stored,) = store.codes.values()
    assert stored.code_hash == code_hash(KEY, DOOR, issued.code)
    assert stored.visitor_id == "v1" and stored.expires_at == issued.expires_at
    assert stored.visit_id == VISIT and issued.visit_id == VISIT
    assert issued.code not in repr(store.codes) + repr(store.pointers)


def test_issued_passcode_repr_hides_the_code(service: PasscodeService) -> None:
    issued = service.issue(DOOR, "v1", visit_id=VISIT)
    assert issued.code not in repr(issued) and issued.code not in str(issued)


def test_a_new_code_replaces_the_visitors_previous_one(service: PasscodeService) -> None:
    # GIVEN a visitor with a code from an earlier visit
    first = service.issue(DOOR, "v1", visit_id="front-door-1")
    # WHEN a second one is issued for a later visit
    second = service.issue(DOOR, "v1", visit_id="front-door-2")
    # THEN the first no longer opens the door, and the second does, for the later visit
    assert isinstance(service.verify(DOOR, first.code), Denied)
    assert service.verify(DOOR, second.code) == Granted(
        visitor_id="v1", door_id=DOOR, visit_id="front-door-2"
    )


def test_the_grant_names_the_visit_the_code_was_issued_for(service: PasscodeService) -> None:
    # GIVEN two visitors with codes from two different visits
    theirs = service.issue(DOOR, "v2", visit_id="front-door-1")
    mine = service.issue(DOOR, "v1", visit_id="front-door-2")
    # WHEN each code is typed
    # THEN each grant names the visit of its own code, not the latest one
    assert service.verify(DOOR, theirs.code) == Granted("v2", DOOR, "front-door-1")
    assert service.verify(DOOR, mine.code) == Granted("v1", DOOR, "front-door-2")


def test_replacing_one_visitors_code_leaves_other_visitors_codes_alone(service: PasscodeService) -> None:
    other = service.issue(DOOR, "v2", visit_id=VISIT)
    service.issue(DOOR, "v1", visit_id=VISIT)
    service.issue(DOOR, "v1", visit_id=VISIT)
    assert service.verify(DOOR, other.code) == Granted(visitor_id="v2", door_id=DOOR, visit_id=VISIT)


def test_one_visitor_can_hold_codes_for_two_doors(service: PasscodeService) -> None:
    front = service.issue("front", "v1", visit_id=VISIT)
    back = service.issue("back", "v1", visit_id=VISIT)
    assert service.verify("front", front.code) == Granted("v1", "front", VISIT)
    assert service.verify("back", back.code) == Granted("v1", "back", VISIT)


def test_a_hash_collision_with_another_visitors_live_code_regenerates(
    store: InMemoryPasscodeStore, clock: FakeClock
) -> None:
    # GIVEN a generator that repeats visitor v2's code once
    codes = ScriptedCodes(["111111", "111111", "222222"])
    service = PasscodeService(store=store, keys=FixedKey(), clock=clock, generate=codes)
    theirs = service.issue(DOOR, "v2", visit_id=VISIT)
    # WHEN v1 gets a code
    mine = service.issue(DOOR, "v1", visit_id=VISIT)
    # THEN v1's code was regenerated, and both codes open the door for their own visitor
    assert (theirs.code, mine.code) == ("111111", "222222")
    assert service.verify(DOOR, "111111") == Granted("v2", DOOR, VISIT)
    assert service.verify(DOOR, "222222") == Granted("v1", DOOR, VISIT)


def test_issue_gives_up_as_transient_after_repeated_collisions(
    store: InMemoryPasscodeStore, clock: FakeClock
) -> None:
    service = PasscodeService(store=store, keys=FixedKey(), clock=clock, generate=ScriptedCodes(["111111"]))
    service.issue(DOOR, "v2", visit_id=VISIT)
    with pytest.raises(TransientError):
        service.issue(DOOR, "v1", visit_id=VISIT)
    assert store.current_code_hash(DOOR, "v1") is None


def test_concurrent_issues_for_one_visitor_leave_a_single_live_code(
    service: PasscodeService, store: InMemoryPasscodeStore
) -> None:
    # GIVEN another issue for the same visitor that lands between our read and our write
    racing: list[str] = []
    store.before_replace = lambda: racing.append(service.issue(DOOR, "v1", visit_id=VISIT).code)
    # WHEN we issue
    ours = service.issue(DOOR, "v1", visit_id=VISIT)
    # THEN ours re-read the pointer and replaced the racing code: only ours works
    assert len(racing) == 1
    assert isinstance(service.verify(DOOR, racing[0]), Denied)
    assert service.verify(DOOR, ours.code) == Granted("v1", DOOR, VISIT)


def test_issue_rejects_ids_that_could_forge_table_keys(service: PasscodeService) -> None:
    with pytest.raises(ValueError, match="doorId"):
        service.issue("front#door", "v1", visit_id=VISIT)
    with pytest.raises(ValueError, match="visitorId"):
        service.issue(DOOR, "", visit_id=VISIT)
    with pytest.raises(ValueError, match="visitId"):
        service.issue(DOOR, "v1", visit_id="VISIT#1")
    with pytest.raises(ValueError, match="visitId"):
        service.issue(DOOR, "v1", visit_id="")


# --- verifying -----------------------------------------------------------------------------


def test_a_code_opens_the_door_once(service: PasscodeService, clock: FakeClock) -> None:
    issued = service.issue(DOOR, "v1", visit_id=VISIT)
    assert service.verify(DOOR, issued.code) == Granted(visitor_id="v1", door_id=DOOR, visit_id=VISIT)
    # a repeat moments later (a double tap) is "already open", not a wrong try
    clock.advance(ALREADY_OPEN_SECONDS)
    assert service.verify(DOOR, issued.code) == AlreadyOpen(visitor_id="v1", door_id=DOOR)
    # later, the used code is just a wrong code
    clock.advance(1)
    assert service.verify(DOOR, issued.code) == Denied(failures_in_window=1)


def test_a_code_works_until_just_before_its_expiry(service: PasscodeService, clock: FakeClock) -> None:
    issued = service.issue(DOOR, "v1", visit_id=VISIT)
    clock.now = issued.expires_at - 0.001
    assert isinstance(service.verify(DOOR, issued.code), Granted)


def test_an_expired_code_is_denied_even_though_it_is_still_stored(
    service: PasscodeService, store: InMemoryPasscodeStore, clock: FakeClock
) -> None:
    # GIVEN a code whose item TTL has not removed yet
    issued = service.issue(DOOR, "v1", visit_id=VISIT)
    clock.now = issued.expires_at
    assert store.codes  # still there
    # WHEN it is typed at its expiry
    # THEN it is refused
    assert isinstance(service.verify(DOOR, issued.code), Denied)


def test_a_code_is_refused_at_another_door_and_still_works_at_its_own(service: PasscodeService) -> None:
    issued = service.issue("front", "v1", visit_id=VISIT)
    assert service.verify("back", issued.code) == Denied(failures_in_window=1)
    assert service.verify("front", issued.code) == Granted("v1", "front", VISIT)


def test_a_failure_counts_only_at_the_door_where_it_happened(
    service: PasscodeService, store: InMemoryPasscodeStore
) -> None:
    issued = service.issue("front", "v1", visit_id=VISIT)
    service.verify("back", issued.code)
    assert len(store.load_failures("back").failures) == 1
    assert store.load_failures("front") == FailureRecord()


@pytest.mark.parametrize("otp", ["12345", "1234567", "abcdef", " 12345", FULLWIDTH_DIGITS])
def test_malformed_input_is_rejected_without_touching_state(
    service: PasscodeService, store: InMemoryPasscodeStore, otp: str
) -> None:
    # GIVEN a door with a live code
    issued = service.issue(DOOR, "v1", visit_id=VISIT)
    codes_before = dict(store.codes)
    # WHEN malformed input is typed many times
    for _ in range(10):
        with pytest.raises(MalformedPasscode):
            service.verify(DOOR, otp)
    # THEN no failure was counted, the door is not locked, and the code still works
    assert store.load_failures(DOOR) == FailureRecord()
    assert store.codes == codes_before
    assert service.verify(DOOR, issued.code) == Granted("v1", DOOR, VISIT)


# --- lockout -------------------------------------------------------------------------------


def test_five_failures_within_fifteen_minutes_lock_the_door(
    service: PasscodeService, clock: FakeClock
) -> None:
    issued = service.issue(DOOR, "v1", visit_id=VISIT)
    # WHEN 5 wrong codes arrive within 15 minutes (the 5th at 899 s)
    outcomes = []
    for offset in (0, 225, 450, 675):
        clock.now = START + offset
        outcomes += fail(service, 1, issued.code)
    clock.now = START + 899
    outcomes += fail(service, 1, issued.code)
    # THEN the first 4 are plain denials and the 5th locks the door for 15 minutes, once
    assert outcomes[:4] == [Denied(1), Denied(2), Denied(3), Denied(4)]
    assert outcomes[4] == LockedOut(retry_at=START + 899 + 900, just_locked=True, door_wide=False)
    assert fail(service, 1, issued.code) == [
        LockedOut(retry_at=START + 899 + 900, just_locked=False, door_wide=False)
    ]


def test_five_failures_spread_over_twenty_minutes_do_not_lock(
    service: PasscodeService, clock: FakeClock
) -> None:
    issued = service.issue(DOOR, "v1", visit_id=VISIT)
    outcomes = []
    for minute in (0, 5, 10, 15, 20):
        clock.now = START + minute * 60
        outcomes += fail(service, 1, issued.code)
    # THEN never more than 3 failures fall in one 15-minute window
    assert all(isinstance(o, Denied) for o in outcomes)
    assert outcomes[-1] == Denied(failures_in_window=3)  # 10, 15 and 20 min; 5 min is 900 s old


def test_a_correct_code_during_lockout_is_refused_and_not_consumed(
    service: PasscodeService, store: InMemoryPasscodeStore
) -> None:
    # GIVEN a locked door and a live code
    fail(service, 5, right="")
    issued = service.issue(DOOR, "v1", visit_id=VISIT)
    # WHEN the correct code is typed during the lockout
    refused = service.verify(DOOR, issued.code)
    # THEN it is refused without being consumed or counted as a failure
    assert refused == LockedOut(retry_at=START + 900, door_wide=False)
    assert (DOOR, code_hash(KEY, DOOR, issued.code)) in store.codes
    assert store.load_failures(DOOR).version == 5


def test_a_code_survives_a_lockout_it_outlives(store: InMemoryPasscodeStore, clock: FakeClock) -> None:
    # GIVEN a code valid for an hour and a 15-minute lockout
    service = PasscodeService(store=store, keys=FixedKey(), clock=clock, policy=OtpPolicy(ttl_seconds=3600))
    issued = service.issue(DOOR, "v1", visit_id=VISIT)
    fail(service, 5, issued.code)
    # WHEN the correct code is typed during and then after the lockout
    during = service.verify(DOOR, issued.code)
    clock.advance(900)
    after = service.verify(DOOR, issued.code)
    # THEN it is refused during and accepted after: the refusal did not consume it
    assert during == LockedOut(retry_at=START + 900, door_wide=False)
    assert after == Granted("v1", DOOR, VISIT)


def test_the_lockout_ends_after_fifteen_minutes_with_a_fresh_count(
    service: PasscodeService, clock: FakeClock
) -> None:
    fail(service, 5, right="")
    clock.now = START + 899.9
    assert fail(service, 1, right="") == [LockedOut(retry_at=START + 900, door_wide=False)]
    clock.now = START + 900
    # THEN the next wrong code is failure 1 of a new window, not an instant re-lock
    assert fail(service, 1, right="") == [Denied(failures_in_window=1)]


def test_lockout_is_configurable(store: InMemoryPasscodeStore, clock: FakeClock) -> None:
    policy = OtpPolicy(max_failures=2, failure_window_seconds=60, lockout_seconds=30)
    service = PasscodeService(store=store, keys=FixedKey(), clock=clock, policy=policy)
    assert fail(service, 2, right="") == [
        Denied(1),
        LockedOut(retry_at=START + 30, just_locked=True, door_wide=False),
    ]
    clock.advance(30)
    assert fail(service, 1, right="") == [Denied(1)]


def test_a_failure_racing_another_is_still_counted(
    service: PasscodeService, store: InMemoryPasscodeStore
) -> None:
    # GIVEN another wrong try that saves the door's counter between our read and our write
    racing: list[object] = []
    store.before_save_failures = lambda: racing.extend(fail(service, 1, right=""))
    # WHEN we record our failure
    outcome = service.verify(DOOR, "000000")
    # THEN our compare-and-swap retried on the fresh record: both failures count
    assert racing == [Denied(failures_in_window=1)]
    assert outcome == Denied(failures_in_window=2)
    assert store.load_failures(DOOR).version == 2


def test_only_the_try_that_locks_reports_just_locked(
    service: PasscodeService, store: InMemoryPasscodeStore
) -> None:
    # GIVEN 4 failures, and a 5th failure racing ours that locks the door first
    fail(service, 4, right="")
    racing: list[object] = []
    store.before_save_failures = lambda: racing.extend(fail(service, 1, right=""))
    # WHEN our failure is recorded
    ours = service.verify(DOOR, "000000")
    # THEN the racing try reported the lockout and ours just sees the door locked
    assert racing == [LockedOut(retry_at=START + 900, just_locked=True, door_wide=False)]
    assert ours == LockedOut(retry_at=START + 900, just_locked=False, door_wide=False)


def test_an_endlessly_contended_counter_surfaces_as_transient(clock: FakeClock) -> None:
    class AlwaysConflicting(InMemoryPasscodeStore):
        def save_failures(self, door_id: str, record: FailureRecord, expected_version: int, ttl: int) -> bool:
            return False

    service = PasscodeService(store=AlwaysConflicting(), keys=FixedKey(), clock=clock)
    with pytest.raises(TransientError):
        service.verify(DOOR, "123456")


def test_the_failure_record_expires_when_it_stops_mattering(clock: FakeClock) -> None:
    class TtlRecordingStore(InMemoryPasscodeStore):
        ttls: dict[str, list[int]] = {}

        def save_failures(self, door_id: str, record: FailureRecord, expected_version: int, ttl: int) -> bool:
            self.ttls.setdefault(door_id, []).append(ttl)
            return super().save_failures(door_id, record, expected_version, ttl)

    store = TtlRecordingStore()
    policy = OtpPolicy(failure_window_seconds=900, lockout_seconds=1800)
    service = PasscodeService(store=store, keys=FixedKey(), clock=clock, policy=policy)
    # WHEN one failure happens, then 4 more 100 s later (the 5th locks the address)
    fail(service, 1, right="")
    clock.advance(100)
    fail(service, 4, right="")
    # THEN a plain failure's record lives as long as the window, a lockout's as long as the lockout
    address = store.ttls[f"{DOOR}#address#unknown"]
    assert address[0] == int(START + 900) + 1
    assert address[-2] == int(START + 100 + 900) + 1
    assert address[-1] == int(START + 100 + 1800) + 1
    # AND the door's own record, with its 5-minute window, as long as that window
    assert store.ttls[DOOR][-1] == int(START + 100 + 300) + 1


# --- issuing and texting in one step ---------------------------------------------------------


def test_send_passcode_texts_the_code_that_opens_the_door(service: PasscodeService) -> None:
    visitors = FakeVisitors({"v1": Person(phone="+15551234567")})
    sms = RecordingSms()
    # WHEN a code is sent to a known visitor
    sent = send_passcode("v1", DOOR, visit_id=VISIT, passcodes=service, visitors=visitors, sms=sms)
    # THEN the SMS goes to their phone with the code, and the result carries only the masked phone
    ((phone, text),) = sms.sent
    code = text.split(" is ")[1][:6]
    assert phone == "+15551234567"
    assert text == f"Smart Door: your code for {DOOR} is {code}. It expires in 5 minutes."
    assert sent.sent_to == "+1*******567" and sent.expires_at == int(START) + 300
    assert sent.visit_id == VISIT
    assert code not in repr(sent)
    assert service.verify(DOOR, code) == Granted("v1", DOOR, VISIT)


def test_send_passcode_for_an_unknown_visitor_stores_and_sends_nothing(
    service: PasscodeService, store: InMemoryPasscodeStore
) -> None:
    sms = RecordingSms()
    with pytest.raises(VisitorNotFound):
        send_passcode("ghost", DOOR, visit_id=VISIT, passcodes=service, visitors=FakeVisitors({}), sms=sms)
    assert sms.sent == [] and store.codes == {} and store.pointers == {}


def test_send_passcode_without_a_usable_visit_id_stores_and_sends_nothing(
    service: PasscodeService, store: InMemoryPasscodeStore
) -> None:
    sms = RecordingSms()
    visitors = FakeVisitors({"v1": Person(phone="+15551234567")})
    with pytest.raises(ValueError, match="visitId"):
        send_passcode("v1", DOOR, visit_id="a/b", passcodes=service, visitors=visitors, sms=sms)
    assert sms.sent == [] and store.codes == {} and store.pointers == {}


@pytest.mark.parametrize(("ttl", "wording"), [(300, "5 minutes"), (60, "1 minute"), (90, "90 seconds")])
def test_sms_text_states_the_lifetime(ttl: int, wording: str) -> None:
    assert (
        sms_text("back", "012345", ttl)
        == f"Smart Door: your code for back is 012345. It expires in {wording}."
    )


def test_sms_fails_after_storing_then_a_retry_replaces_the_unsent_code(service: PasscodeService) -> None:
    class FlakySms(RecordingSms):
        def send_sms(self, phone: str, text: str) -> str:
            if not self.sent:
                self.sent.append(("lost", text))
                raise TransientError("SNS throttled")
            return super().send_sms(phone, text)

    visitors = FakeVisitors({"v1": Person(phone="+15551234567")})
    sms = FlakySms()
    with pytest.raises(TransientError):
        send_passcode("v1", DOOR, visit_id=VISIT, passcodes=service, visitors=visitors, sms=sms)
    send_passcode("v1", DOOR, visit_id=VISIT, passcodes=service, visitors=visitors, sms=sms)
    lost, delivered = (text.split(" is ")[1][:6] for _, text in sms.sent)
    # THEN only the delivered code works
    assert isinstance(service.verify(DOOR, lost), Denied)
    assert service.verify(DOOR, delivered) == Granted("v1", DOOR, VISIT)


@pytest.fixture(autouse=True)
def _no_leftover_hooks(store: InMemoryPasscodeStore) -> Iterator[None]:
    yield
    assert store.before_replace is None, "a test set a race hook that never fired"
    assert store.before_save_failures is None, "a test set a race hook that never fired"
