"""The keypad against a stranger with many addresses: per-address and per-door budgets, the
one-tap link that opens whatever the budgets say, and the guessing bound (docs/api.md, "Guessing")."""

from __future__ import annotations

import pytest

from smartdoor.domain.otp import (
    AlreadyOpen,
    Denied,
    Granted,
    LockedOut,
    OtpPolicy,
    PasscodeService,
    guessing_bound,
    sms_text,
    unlock_link,
)
from smartdoor.errors import MalformedPasscode
from tests.unit.test_otp import (  # the fixtures too: the same service on the same in-memory store
    DOOR,
    START,
    VISIT,
    FakeClock,
    InMemoryPasscodeStore,
    clock,
    service,
    store,
    wrong_code_for,
)

__all__ = ["clock", "service", "store"]

# A household's worst five minutes: ten visitors holding a live code at one door at once.
LIVE_CODES = 10


def addresses(count: int) -> list[str]:
    return [f"203.0.113.{n}" for n in range(1, count + 1)]


def test_one_address_is_refused_before_the_door_is(service: PasscodeService) -> None:
    issued = service.issue(DOOR, "v1", visit_id=VISIT)
    wrong = wrong_code_for(issued.code)
    # WHEN one address sends 5 wrong codes
    tries = [service.verify(DOOR, wrong, client="198.51.100.7") for _ in range(5)]
    # THEN that address is refused, and only that address: the visitor types the code and gets in
    assert tries[-1] == LockedOut(retry_at=START + 900, just_locked=True, door_wide=False)
    assert service.verify(DOOR, wrong, client="198.51.100.7") == LockedOut(
        retry_at=START + 900, door_wide=False
    )
    assert service.verify(DOOR, issued.code, client="192.0.2.1") == Granted("v1", DOOR, VISIT)


def test_many_addresses_fill_the_door_budget_and_the_door_refuses_typed_codes_for_five_minutes(
    service: PasscodeService, clock: FakeClock
) -> None:
    issued = service.issue(DOOR, "v1", visit_id=VISIT)
    wrong = wrong_code_for(issued.code)
    # WHEN ten addresses send one wrong code each
    tries = [service.verify(DOOR, wrong, client=address) for address in addresses(10)]
    # THEN the tenth locks typed codes at the door for door_lockout_seconds, once (the owner is told)
    assert tries[:9] == [Denied(1)] * 9
    assert tries[9] == LockedOut(retry_at=START + 300, just_locked=True, door_wide=True)
    # AND a typed right code is refused without being spent
    assert service.verify(DOOR, issued.code, client="192.0.2.1") == LockedOut(retry_at=START + 300)
    # AND when the lockout ends, typed codes work again (this one's life ended with it: the link is
    # what keeps a visitor in, test below)
    clock.advance(300)
    fresh = service.issue(DOOR, "v2", visit_id=VISIT)
    assert isinstance(service.verify(DOOR, fresh.code, client="192.0.2.1"), Granted)


def test_a_thousand_wrong_codes_from_fifty_addresses_never_stop_the_link(service: PasscodeService) -> None:
    issued = service.issue(DOOR, "v1", visit_id=VISIT)
    wrong = wrong_code_for(issued.code)
    for round_number in range(20):
        for address in addresses(50):
            outcome = service.verify(DOOR, wrong, client=address)
            assert not isinstance(outcome, Granted), round_number
    # WHEN the visitor taps the link from the SMS (the code with its key)
    opened = service.verify(DOOR, issued.code, client="192.0.2.1", link_key=issued.link_key)
    # THEN the door opens, however locked the keypad is
    assert opened == Granted("v1", DOOR, VISIT)


def test_a_wrong_key_is_a_typed_code_and_a_key_opens_only_its_own_code(service: PasscodeService) -> None:
    first = service.issue(DOOR, "v1", visit_id=VISIT)
    second = service.issue(DOOR, "v2", visit_id=VISIT)
    for address in addresses(10):
        service.verify(DOOR, wrong_code_for(first.code, second.code), client=address)
    # a key with another visitor's code, and a made-up key: refused like a typed code
    assert isinstance(service.verify(DOOR, first.code, link_key=second.link_key), LockedOut)
    assert isinstance(service.verify(DOOR, first.code, link_key="A" * 22), LockedOut)
    # the right pair opens
    assert isinstance(service.verify(DOOR, first.code, link_key=first.link_key), Granted)


def test_a_malformed_key_changes_nothing(service: PasscodeService, store: InMemoryPasscodeStore) -> None:
    issued = service.issue(DOOR, "v1", visit_id=VISIT)
    with pytest.raises(MalformedPasscode):
        service.verify(DOOR, issued.code, link_key="not a key")
    assert store.failures == {}
    assert isinstance(service.verify(DOOR, issued.code), Granted)


def test_the_link_is_single_use_like_the_code(service: PasscodeService, clock: FakeClock) -> None:
    issued = service.issue(DOOR, "v1", visit_id=VISIT)
    assert isinstance(service.verify(DOOR, issued.code, link_key=issued.link_key), Granted)
    assert service.verify(DOOR, issued.code, link_key=issued.link_key) == AlreadyOpen("v1", DOOR)
    clock.advance(61)
    assert isinstance(service.verify(DOOR, issued.code, link_key=issued.link_key), Denied)


def test_a_right_code_sent_twenty_times_opens_once_and_counts_nothing(
    service: PasscodeService, store: InMemoryPasscodeStore
) -> None:
    issued = service.issue(DOOR, "v1", visit_id=VISIT)
    outcomes = [service.verify(DOOR, issued.code, client="192.0.2.1") for _ in range(20)]
    assert outcomes[0] == Granted("v1", DOOR, VISIT)
    assert outcomes[1:] == [AlreadyOpen("v1", DOOR)] * 19
    assert store.failures == {}


def test_a_code_released_after_the_door_was_not_told_opens_again(service: PasscodeService) -> None:
    issued = service.issue(DOOR, "v1", visit_id=VISIT)
    assert isinstance(service.verify(DOOR, issued.code), Granted)
    service.release(DOOR, issued.code)
    assert isinstance(service.verify(DOOR, issued.code), Granted)


def test_guessing_a_code_stays_under_one_in_ten_thousand_with_the_deployed_policy() -> None:
    policy = OtpPolicy()
    # ten wrong tries per five-minute code life at most, each ruling out one of 10^6 codes
    assert guessing_bound(policy, live_codes=1) == pytest.approx(10 / 10**6)
    assert guessing_bound(policy, live_codes=LIVE_CODES) <= 1e-4
    # a longer code life spans more door windows: the bound grows with it
    assert guessing_bound(OtpPolicy(ttl_seconds=900), live_codes=1) == pytest.approx(30 / 10**6)


def test_the_door_budget_holds_against_the_bound_when_simulated(
    service: PasscodeService, clock: FakeClock
) -> None:
    # GIVEN a guesser who tries every second from a new address for one code's life
    issued = service.issue(DOOR, "v1", visit_id=VISIT)
    counted = 0
    for second in range(service.policy.ttl_seconds):
        clock.now = START + second
        outcome = service.verify(
            DOOR, wrong_code_for(issued.code), client=f"198.18.{second // 250}.{second % 250}"
        )
        counted += isinstance(outcome, Denied) or (isinstance(outcome, LockedOut) and outcome.just_locked)
    # THEN no more tries were judged than the bound assumes
    assert counted <= guessing_bound(service.policy, live_codes=1) * 10**6


def test_the_sms_carries_the_one_tap_link_with_the_key_in_the_fragment() -> None:
    link = unlock_link("https://d111111abcdef8.cloudfront.net", DOOR, "123456", "k" * 22)
    assert link == f"https://d111111abcdef8.cloudfront.net/door/?door={DOOR}#123456.{'k' * 22}"
    text = sms_text(DOOR, "123456", 300, link)
    assert text == f"Smart Door: code 123456 for {DOOR}, valid 5 minutes. Open: {link}"
    assert len(text) <= 160  # one SMS segment with a CloudFront host
