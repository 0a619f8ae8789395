"""7. The door opens: from a right code on the keypad to the door agent's relay, on the local stack.

`smartdoor local --lock iot` in this process (moto, the real handlers, the amqtt broker on
127.0.0.1) and the door agent's own lock code (smartdoor_door: CommandListener on the broker,
DoorLock driving a relay that notes the time it was told to open). A visitor is approved, then comes
back twice (one snapshot each, a visit gap apart); each code texted to her is typed through the
unlock route. Measured per code:

- code → relay open: POST /doors/{doorId}/unlock sent → the relay's `open()` (the API records the
  command and puts DoorUnlocked; the rule starts open_lock_iot; lock_command publishes; the broker
  delivers; the agent opens);
- code → keypad sees it open: → the lock route (GET /doors/{doorId}/lock/{commandId}, polled every
  50 ms as the door page does every second) says unlocked (the agent's report on the state topic →
  the topic rule → lock_state → the table).

The local stack runs everything in one process on a shared machine: on AWS the hops are other
services (EventBridge, Step Functions, IoT Core), so this shows where the local path spends its
time, not what AWS takes.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.lambda_env import enter_offline_process, quiet
from benchmarks.report import Figure, Section, write_timed

# Her codes: the approval's, then one per return. Three: smsPerVisitorPerHour's default (3) bounds
# the codes one visitor is texted in an hour.
SAMPLES = 3
VISITOR_PHONE = "+15550100088"
WAIT_SECONDS = 60.0
POLL_SECONDS = 0.05


class TimedRelay:
    """A relay (smartdoor_door.relay.Relay) that notes when it was told to open."""

    def __init__(self) -> None:
        self.opened: list[float] = []
        self.is_open = False

    def open(self) -> None:
        self.opened.append(time.perf_counter())
        self.is_open = True

    def close(self) -> None:
        self.is_open = False


def _wait(what: str, probe: Any, seconds: float = WAIT_SECONDS) -> Any:
    deadline = time.monotonic() + seconds
    while (found := probe()) is None or found is False:
        if time.monotonic() > deadline:
            raise RuntimeError(f"waited {seconds:.0f}s for {what}")
        time.sleep(POLL_SECONDS)
    return found


def _message(app: Any, to: str, pattern: re.Pattern[str], after: int) -> re.Match[str]:
    def probe() -> re.Match[str] | None:
        for message in app.stack.outbox.to_json()[after:]:
            found = pattern.search(message["body"]) if message["to"] == to else None
            if found:
                return found
        return None

    return _wait(f"a message to {to}", probe)


def _enrol(app: Any) -> str:
    """One unknown visit, approved (from then on the visitor is known): her first code."""
    from smartdoor_local import sample_faces
    from smartdoor_local.device import DoorDevice, Unsigned
    from smartdoor_local.story import APPROVAL_LINK, CODE, HttpClient

    DoorDevice(app.url, app.config.door_id, Unsigned()).send_snapshot(sample_faces.astronaut())
    approval = _message(app, app.config.owner_phone, APPROVAL_LINK, 0).group(1)
    sent = len(app.stack.outbox.messages())
    decision = {"decision": "approve", "name": "Bench", "phone": VISITOR_PHONE}
    status, _ = HttpClient(app.url).post_json(f"/approvals/{approval}", decision)
    if status != 200:
        raise RuntimeError(f"approving answered {status}")
    return _message(app, VISITOR_PHONE, CODE, sent).group(1)


def _unlock(app: Any, code: str) -> dict[str, Any]:
    from smartdoor_local.story import HttpClient

    status, answer = HttpClient(app.url).post_json(f"/doors/{app.config.door_id}/unlock", {"otp": code})
    if status != 200 or answer.get("lock") != "pending":
        raise RuntimeError(f"the unlock answered {status} {answer}")
    return dict(answer)


def _return_visit(app: Any, last_visit: float) -> tuple[str, float]:
    """The known visitor back after a visit gap (one snapshot): her code, this visit's time."""
    from smartdoor_local import sample_faces
    from smartdoor_local.device import DoorDevice, Unsigned
    from smartdoor_local.story import CODE

    time.sleep(max(0.0, last_visit + app.config.visit_gap_seconds + 0.5 - time.time()))
    sent = len(app.stack.outbox.messages())
    visit = time.time()
    DoorDevice(app.url, app.config.door_id, Unsigned()).send_snapshot(sample_faces.astronaut_again())
    return _message(app, VISITOR_PHONE, CODE, sent).group(1), visit


def _measure(app: Any, relay: TimedRelay, code: str) -> tuple[float, float]:
    """(code → relay open, code → the keypad's lock route says so), in seconds."""
    from smartdoor_local.story import HttpClient

    opened_before = len(relay.opened)
    typed = time.perf_counter()
    answer = _unlock(app, code)
    _wait("the relay to open", lambda: len(relay.opened) > opened_before)
    path = f"/doors/{app.config.door_id}/lock/{answer['commandId']}"
    _wait(
        "the lock route to say unlocked",
        lambda: HttpClient(app.url).get(path)[1].get("state") in ("unlocked", "locked"),
    )
    seen = time.perf_counter()
    return relay.opened[opened_before] - typed, seen - typed


def run(samples: int) -> Section:
    from smartdoor_door.config import parse_config
    from smartdoor_door.lock import DoorLock
    from smartdoor_door.mqtt import CommandListener
    from smartdoor_door.runner import tick_lock
    from smartdoor_local.app import LocalApp
    from smartdoor_local.stack import LocalConfig

    app = LocalApp(LocalConfig(lock="iot"), port=0).start()
    relay = TimedRelay()
    stop = threading.Event()
    try:
        broker = app.stack.broker
        assert broker is not None
        config = parse_config(
            {
                "door_id": app.config.door_id,
                "api": {"url": app.url, "auth": "none"},
                "mqtt": {"mode": "local", "host": broker.host, "port": broker.port},
                "door": {"unlock_seconds": 1},
            }
        )
        listener = CommandListener(config, lambda report: DoorLock(relay, report))
        listener.start()
        threading.Thread(target=tick_lock, args=(listener.lock, stop), daemon=True).start()
        _wait("the agent on the broker", lambda: listener.connected)
        code, last = _enrol(app), time.time()
        to_relay, to_keypad = [], []
        for sample in range(samples):
            if sample:
                code, last = _return_visit(app, last)
            relay_seconds, keypad_seconds = _measure(app, relay, code)
            to_relay.append(relay_seconds)
            to_keypad.append(keypad_seconds)
        listener.stop()
    finally:
        stop.set()
        app.stop()
    return _section(to_relay, to_keypad)


def _section(to_relay: list[float], to_keypad: list[float]) -> Section:
    section = Section("7", "The door opens: right code to the relay (local stack, lock iot)")
    relay_median, keypad_median = statistics.median(to_relay), statistics.median(to_keypad)
    section.add(
        Figure("7", "right code → agent's relay open, median", relay_median, f"{relay_median * 1000:.0f} ms"),
        Figure("7", "  same, slowest", max(to_relay), f"{max(to_relay) * 1000:.0f} ms"),
        Figure(
            "7",
            "right code → keypad's lock route says unlocked, median",
            keypad_median,
            f"{keypad_median * 1000:.0f} ms",
        ),
    )
    section.details += [
        f"{len(to_relay)} codes (an approved visitor's, then two returns a visit gap apart); the "
        "agent's lock code (smartdoor_door CommandListener and DoorLock) on the local amqtt broker.",
        "code → relay: "
        + ", ".join(f"{s * 1000:.0f}" for s in to_relay)
        + " ms; code → keypad: "
        + ", ".join(f"{s * 1000:.0f}" for s in to_keypad)
        + " ms (the page polls every second on top).",
    ]
    section.data = {"to_relay": to_relay, "to_keypad": to_keypad}
    return section


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=SAMPLES)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    enter_offline_process()

    def measure() -> Section:
        with quiet():
            return run(args.samples)

    write_timed(args.out, measure)
    return 0


if __name__ == "__main__":
    sys.exit(main())
