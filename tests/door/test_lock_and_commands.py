"""The relay on gpiozero's mock pins, the lock's timing, and which commands are acted on."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from smartdoor_door.commands import REMEMBERED_COMMANDS, CommandFilter, Ignored
from smartdoor_door.config import parse_config
from smartdoor_door.lock import DoorLock
from smartdoor_door.mqtt import CommandListener, state_message
from smartdoor_door.relay import ConsoleRelay, GpioRelay
from tests.door.conftest import DOOR_ID

NOW = datetime(2026, 11, 21, 20, 0, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Reports(list[tuple[str, str | None]]):
    def __call__(self, state: str, command_id: str | None) -> None:
        self.append((state, command_id))


def command(**overrides: Any) -> bytes:
    body = {
        "commandId": "6f1c2a3b-0000-4000-8000-000000000001",
        "action": "unlock",
        "doorId": DOOR_ID,
        "visitId": "visit-1",
        "unlockSeconds": 5,
        "issuedAt": "2026-11-21T19:59:58Z",
        "expiresAt": "2026-11-21T20:00:30Z",
        **overrides,
    }
    return json.dumps(body).encode()


# ---------------------------------------------------------------------------- relay and lock


def test_the_relay_pin_is_high_for_unlock_seconds_then_low(mock_pins: MockFactory) -> None:
    # GIVEN the relay on GPIO 17 and a lock on a fake clock
    clock, reports = FakeClock(), Reports()
    lock = DoorLock(GpioRelay(17), reports, clock)
    pin = mock_pins.pin(17)
    assert pin.state is False
    # WHEN a 5-second unlock arrives
    lock.unlock(5, "c1")
    # THEN the pin is high until 5 s have passed, then low
    assert pin.state is True
    clock.now += 4.9
    lock.tick()
    assert pin.state is True
    clock.now += 0.1
    lock.tick()
    assert pin.state is False
    assert reports == [("unlocked", "c1"), ("locked", "c1")]


def test_an_active_low_relay_module_is_driven_low_to_open(mock_pins: MockFactory) -> None:
    lock = DoorLock(GpioRelay(22, active_high=False), Reports(), FakeClock())
    pin = mock_pins.pin(22)
    assert pin.state is True  # idle high = relay off = locked
    lock.unlock(3, "c1")
    assert pin.state is False


def test_a_second_unlock_while_open_extends_rather_than_toggles(mock_pins: MockFactory) -> None:
    clock, reports = FakeClock(), Reports()
    lock = DoorLock(GpioRelay(17), reports, clock)
    pin = mock_pins.pin(17)
    lock.unlock(5, "c1")
    clock.now += 3
    lock.unlock(5, "c2")
    assert pin.state is True
    clock.now += 4  # 7 s after the first: still open (until 8)
    lock.tick()
    assert pin.state is True
    clock.now += 1
    lock.tick()
    assert pin.state is False
    assert reports == [("unlocked", "c1"), ("unlocked", "c2"), ("locked", "c2")]


def test_a_shorter_second_unlock_never_shortens_the_open_time(mock_pins: MockFactory) -> None:
    clock = FakeClock()
    lock = DoorLock(GpioRelay(17), Reports(), clock)
    lock.unlock(10, "c1")
    clock.now += 1
    lock.unlock(1, "c2")
    clock.now += 5
    lock.tick()
    assert mock_pins.pin(17).state is True


def test_lock_now_closes_the_relay_fail_secure(mock_pins: MockFactory) -> None:
    reports = Reports()
    lock = DoorLock(GpioRelay(17), reports, FakeClock())
    lock.unlock(30, "c1")
    lock.lock("MQTT connection lost")
    assert mock_pins.pin(17).state is False
    assert reports[-1] == ("locked", "c1")


def test_the_console_relay_says_what_it_does() -> None:
    lines: list[str] = []
    clock = FakeClock()
    lock = DoorLock(ConsoleRelay(lines.append), Reports(), clock)
    lock.unlock(5, "c1")
    clock.now += 5
    lock.tick()
    assert lines == ["relay: closed", "relay: OPEN", "relay: closed"]


# ---------------------------------------------------------------------------- commands


def test_a_valid_command_is_accepted_with_its_seconds() -> None:
    accepted = CommandFilter(DOOR_ID, 5).accept(command(unlockSeconds=8), NOW)
    assert (accepted.command_id, accepted.unlock_seconds, accepted.visit_id) == (
        "6f1c2a3b-0000-4000-8000-000000000001",
        8,
        "visit-1",
    )


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (command(expiresAt="2026-11-21T19:59:59Z"), "expired at 2026-11-21T19:59:59Z"),
        (command(expiresAt="2026-11-21T20:00:00Z"), "expired"),
        (command(doorId="back-door"), "is for door 'back-door'"),
        (command(action="open-garage"), "unknown action 'open-garage'"),
        (b"not json", "malformed: not JSON"),
        (b"[1, 2]", "malformed: not a JSON object"),
        (command(commandId=None), "malformed: commandId"),
        (command(expiresAt="soon"), "malformed: expiresAt"),
        (command(expiresAt="2026-11-21T20:00:30"), "no time zone"),
        (command(unlockSeconds="five"), "unlockSeconds is not a number"),
    ],
)
def test_commands_that_are_ignored_say_why(payload: bytes, reason: str) -> None:
    with pytest.raises(Ignored, match=reason):
        CommandFilter(DOOR_ID, 5).accept(payload, NOW)


def test_a_repeated_command_id_is_ignored() -> None:
    filter_ = CommandFilter(DOOR_ID, 5)
    filter_.accept(command(), NOW)
    with pytest.raises(Ignored, match="already handled"):
        filter_.accept(command(), NOW)


def test_the_last_hundred_ids_are_remembered() -> None:
    filter_ = CommandFilter(DOOR_ID, 5)
    for n in range(REMEMBERED_COMMANDS + 1):
        filter_.accept(command(commandId=f"c{n}"), NOW)
    with pytest.raises(Ignored):
        filter_.accept(command(commandId=f"c{REMEMBERED_COMMANDS}"), NOW)
    filter_.accept(command(commandId="c0"), NOW)  # forgotten: 101 ids ago


def test_unlock_seconds_are_bounded_and_default_from_the_config() -> None:
    filter_ = CommandFilter(DOOR_ID, 7)
    assert filter_.accept(command(commandId="a", unlockSeconds=600), NOW).unlock_seconds == 30
    assert filter_.accept(command(commandId="b", unlockSeconds=0), NOW).unlock_seconds == 1
    assert filter_.accept(command(commandId="c", unlockSeconds=None), NOW).unlock_seconds == 7


def listener(mock_pins: MockFactory, reports: Reports) -> CommandListener:
    config = parse_config({"door_id": DOOR_ID, "api": {"url": "http://127.0.0.1:9", "auth": "none"}})
    return CommandListener(
        config, lambda _report: DoorLock(GpioRelay(17), reports, FakeClock()), now=lambda: NOW
    )


def test_the_listener_drives_the_relay_only_for_commands_it_accepts(mock_pins: MockFactory) -> None:
    # GIVEN the listener's message handling (paho's on_message calls it)
    reports = Reports()
    agent = listener(mock_pins, reports)
    pin = mock_pins.pin(17)
    # WHEN expired, foreign, malformed commands arrive, THEN the door stays locked
    for payload in (command(expiresAt="2026-11-21T19:00:00Z"), command(doorId="garage"), b"{"):
        assert agent.handle(payload) is False
    assert pin.state is False
    # WHEN a valid one arrives, THEN it opens; its repeat is ignored
    assert agent.handle(command()) is True
    assert pin.state is True
    assert agent.handle(command()) is False
    assert reports == [("unlocked", "6f1c2a3b-0000-4000-8000-000000000001")]


def test_the_state_message_is_the_contract() -> None:
    body = json.loads(state_message(DOOR_ID, "locked", None, NOW + timedelta(seconds=1)))
    assert body == {"doorId": DOOR_ID, "state": "locked", "commandId": None, "at": "2026-11-21T20:00:01Z"}
