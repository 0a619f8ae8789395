"""The door opens for real on the local stack: the door agent, its relay, the lock's answer.

`smartdoor local --lock iot` as a test: the local stack with its MQTT broker, and the door agent
(smartdoor_door's runner, configured the way `smartdoor-door init --local` configures it) with a
video file as its camera and its relay on gpiozero's mock pins. A visitor walks into the video
(scikit-image's photo of Eileen Collins) → the agent uploads snapshots → the owner's SMS → approve
→ the visitor's code → the keypad → the agent's relay opens and closes → the lock's state reaches
the keypad's lock route. A lock that never answers (no agent) → the owner's email and no-answer.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from gpiozero.pins.mock import MockFactory
from PIL import Image

from smartdoor_door.config import GpioConfig
from smartdoor_door.runner import RunOptions, run_agent
from smartdoor_door.stack_outputs import from_local_stack
from smartdoor_local import sample_faces
from smartdoor_local.app import LocalApp
from smartdoor_local.stack import LocalConfig
from smartdoor_local.story import APPROVAL_LINK as APPROVAL
from smartdoor_local.story import CODE, HttpClient
from tests.fakes.pins import mock_pin_factory

DOOR = "front-door"
OWNER_PHONE = LocalConfig().owner_phone
OWNER_EMAIL = LocalConfig().owner_email
VISITOR_PHONE = "+15550100077"
LOCK_SECONDS = 25  # lockCommandSeconds' floor (cdk_app/config.py)
RELAY_PIN = 17


def wait_for(what: str, probe: Callable[[], Any], seconds: float = 60.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        found = probe()
        if found:
            return found
        assert time.monotonic() < deadline, f"waited {seconds:.0f}s for {what}"
        time.sleep(0.05)


def visitor_video(path: Path) -> Path:
    """An MJPG .avi: a still porch, then the visitor steps into view and stays."""
    face = cv2.cvtColor(
        np.asarray(Image.open(io.BytesIO(sample_faces.astronaut())).convert("RGB")), cv2.COLOR_RGB2BGR
    )
    face = cv2.resize(face, (360, 360))
    rng = np.random.default_rng(5)
    porch = np.full((480, 640, 3), 90, np.uint8)
    cv2.rectangle(porch, (420, 40), (620, 470), (40, 60, 90), -1)

    def frame(x: int | None) -> np.ndarray:
        out = porch.copy()
        if x is not None:
            left, right = max(x, 0), min(x + 360, 640)
            out[60:420, left:right] = face[:, left - x : right - x]
        noise = rng.normal(0, 2, out.shape)
        return np.clip(out.astype(np.float64) + noise, 0, 255).astype(np.uint8)

    frames = [frame(None) for _ in range(30)]
    frames += [frame(x) for x in range(-300, 140, 55)]
    frames += [frame(140) for _ in range(60)]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 15.0, (640, 480))
    assert writer.isOpened()
    for picture in frames:
        writer.write(picture)
    writer.release()
    return path


class Relay:
    """The relay pin's transitions, sampled (gpiozero's mock pin keeps only its state)."""

    def __init__(self, pins: MockFactory) -> None:
        self.changes: list[tuple[float, bool]] = []
        self._pins = pins
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        last: bool | None = None
        pin = self._pins.pin(RELAY_PIN)
        while not self._stop.wait(0.005):
            state = bool(pin.state)
            if state != last:
                self.changes.append((time.monotonic(), state))
                last = state

    def opened_at(self) -> float | None:
        return next((at for at, state in self.changes if state), None)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)


@pytest.fixture
def mock_pins() -> Iterator[MockFactory]:
    with mock_pin_factory() as factory:
        yield factory


@pytest.fixture
def local_iot() -> Iterator[LocalApp]:
    with LocalApp(LocalConfig(lock="iot", lock_command_seconds=LOCK_SECONDS), port=0) as app:
        yield app


def outbox(app: LocalApp) -> list[dict[str, Any]]:
    return HttpClient(app.url).get("/local/outbox")[1]


def message(app: LocalApp, channel: str, to: str, pattern: re.Pattern[str], after: int = 0) -> Any:
    def probe() -> Any:
        for sent in outbox(app)[after:]:
            if sent["channel"] == channel and sent["to"] == to and pattern.search(sent["body"]):
                return pattern.search(sent["body"])
        return None

    return wait_for(f"the {channel} to {to}", probe)


def lock_state(app: LocalApp, command_id: str) -> tuple[int, Any]:
    """The keypad's question: GET /doors/{doorId}/lock/{commandId}."""
    return HttpClient(app.url).get(f"/doors/{DOOR}/lock/{command_id}")


def approve_and_get_code(app: LocalApp) -> str:
    approval = message(app, "sms", OWNER_PHONE, APPROVAL).group(1)
    sent = len(outbox(app))
    decision = {"decision": "approve", "name": "Eileen", "phone": VISITOR_PHONE}
    assert HttpClient(app.url).post_json(f"/approvals/{approval}", decision)[0] == 200
    return str(message(app, "sms", VISITOR_PHONE, CODE, after=sent).group(1))


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A phone-sized page; console errors (CSP included) fail the test."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-US", timezone_id="UTC")
    errors: list[str] = []
    opened = context.new_page()
    opened.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    opened.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield opened
        assert errors == []
    finally:
        context.close()


def type_code(page: Any, app: LocalApp, code: str) -> None:
    page.goto(f"{app.url}/door/?door={DOOR}")
    for digit in code:
        page.get_by_role("button", name=digit, exact=True).click()
    page.get_by_role("button", name="Open").click()


def only_command(app: LocalApp) -> dict[str, Any]:
    (command,) = wait_for(
        "the unlock command", lambda: HttpClient(app.url).get("/local/lock")[1]["commands"], 10
    )
    return dict(command)


def test_a_visitor_in_the_agents_video_is_let_in_and_the_agents_relay_opens(
    local_iot: LocalApp, mock_pins: MockFactory, tmp_path: Path, page: Any
) -> None:
    from playwright.sync_api import expect

    app = local_iot
    # GIVEN the agent configured as `smartdoor-door init --local` writes it (the broker from
    # /local/stack), with its relay on pin 17 and a video of a visitor walking up as its camera
    config = from_local_stack(app.url, "127.0.0.1", 1)  # 1: a broker the stack must override
    assert (config.mqtt.host, config.mqtt.port) == ("127.0.0.1", app.stack.broker.port)  # type: ignore[union-attr]
    config = dataclasses.replace(config, gpio=GpioConfig(enabled=True, relay_pin=RELAY_PIN), unlock_seconds=1)
    relay = Relay(mock_pins)
    stop = threading.Event()
    errors: list[BaseException] = []

    def agent() -> None:
        try:
            run_agent(config, RunOptions(video=visitor_video(tmp_path / "porch.avi")), stop)
        except BaseException as error:  # the test reports it
            errors.append(error)

    thread = threading.Thread(target=agent, daemon=True)
    thread.start()
    try:
        # WHEN the agent's snapshots reach the owner, who approves, and the visitor types her code
        code = approve_and_get_code(app)
        assert relay.opened_at() is None  # nothing opened before the right code
        type_code(page, app, code)
        typed = time.monotonic()
        command = only_command(app)["commandId"]
        # THEN the agent's relay opens, then closes after its second
        opened = wait_for("the relay to open", relay.opened_at, 20)
        # and the keypad says "Door open" (the lock's own answer, through the lock route)
        expect(page.get_by_role("heading", name="Door open")).to_be_visible(timeout=10_000)
        wait_for(
            "the relay to close",
            lambda: [s for _, s in relay.changes][-1:] == [False] and len(relay.changes) >= 3,
            10,
        )
        assert opened - typed < LOCK_SECONDS
        # and the lock's answer reaches the keypad's lock route
        wait_for(
            "the lock's answer",
            lambda: lock_state(app, command)[1].get("state") in ("unlocked", "locked"),
            10,
        )
        status, state = lock_state(app, command)
        assert status == 200 and state["updatedAt"].endswith("Z")
        # and the open-lock workflow ends as succeeded: nobody tells the owner the door stayed shut
        wait_for("the open-lock workflow", lambda: _workflow_done(app, "open_lock_iot"), LOCK_SECONDS + 20)
        (execution,) = [e for e in app.stack.executions() if e["workflow"] == "open_lock_iot"]
        assert execution["status"] == "SUCCEEDED"
        assert not any("did not open" in (m["subject"] or "") for m in outbox(app))
        # and the outbox page shows the command and the lock's answer
        page.goto(f"{app.url}/outbox/")
        shown = page.locator(f'li.lock-command[data-command-id="{command}"]')
        expect(shown).to_have_attribute("data-state", re.compile(r"^(unlocked|locked)$"))
    finally:
        stop.set()
        thread.join(15)
        relay.stop()
    assert errors == []
    assert mock_pins.pin(RELAY_PIN).state is False  # the door is locked once the agent stops


def _workflow_done(app: LocalApp, workflow: str) -> bool:
    runs = [e for e in app.stack.executions() if e["workflow"] == workflow]
    return bool(runs) and all(e["status"] != "RUNNING" for e in runs)


def test_a_lock_that_never_answers_tells_the_owner_and_the_keypad(local_iot: LocalApp, page: Any) -> None:
    from playwright.sync_api import expect

    app = local_iot
    # GIVEN no door agent at all, and a visitor the owner approves (one snapshot through the API)
    from smartdoor_local.device import DoorDevice, Unsigned

    DoorDevice(app.url, DOOR, Unsigned()).send_snapshot(sample_faces.astronaut())
    code = approve_and_get_code(app)
    # WHEN she types her code on the keypad
    type_code(page, app, code)
    expect(page.get_by_text("Code accepted: opening the door…")).to_be_visible()
    unlocked = only_command(app)
    assert lock_state(app, unlocked["commandId"])[1]["state"] == "pending"
    # THEN once the command expires the owner is emailed that the door did not open
    email = wait_for(
        "the owner's email",
        lambda: next(
            (m for m in outbox(app) if m["channel"] == "email" and "did not open" in (m["subject"] or "")),
            None,
        ),
        LOCK_SECONDS + 30,
    )
    assert email["to"] == OWNER_EMAIL and unlocked["commandId"] in email["body"]
    # and the keypad's lock route says so; the workflow failed (the alarm's signal)
    assert lock_state(app, unlocked["commandId"])[1]["state"] == "no-answer"
    wait_for("the open-lock workflow", lambda: _workflow_done(app, "open_lock_iot"), 20)
    (execution,) = [e for e in app.stack.executions() if e["workflow"] == "open_lock_iot"]
    assert (execution["status"], execution.get("error")) == ("FAILED", "LockDidNotAnswer")
    # and an unknown command is not found
    assert lock_state(app, "00000000-0000-4000-8000-000000000000")[0] == 404


# ---------------------------------------------------------------------------- the webhook lock


@pytest.fixture
def local_webhook() -> Iterator[LocalApp]:
    with LocalApp(LocalConfig(lock="webhook", lock_command_seconds=LOCK_SECONDS), port=0) as app:
        yield app


def a_visitor_types_her_code(app: LocalApp) -> dict[str, Any]:
    from smartdoor_local.device import DoorDevice, Unsigned

    DoorDevice(app.url, DOOR, Unsigned()).send_snapshot(sample_faces.astronaut())
    code = approve_and_get_code(app)
    status, unlocked = HttpClient(app.url).post_json(f"/doors/{DOOR}/unlock", {"otp": code})
    assert status == 200 and unlocked["lock"] == "pending"
    return dict(unlocked)


def test_the_webhook_lock_is_called_with_its_key_and_its_2xx_opens_the_door(local_webhook: LocalApp) -> None:
    app = local_webhook
    # WHEN a visitor's right code opens the door
    unlocked = a_visitor_types_her_code(app)
    # THEN the local webhook receiver got the documented body with the right key, once
    wait_for(
        "the lock's answer", lambda: lock_state(app, unlocked["commandId"])[1].get("state") == "unlocked", 20
    )
    status, calls = HttpClient(app.url).get("/local/lock-webhook")
    assert status == 200
    ((received,),) = [calls]
    assert received["authorized"] is True and received["status"] == 200
    body = received["body"]
    assert set(body) == {"doorId", "visitId", "visitorId", "unlockedAt", "expiresAt", "commandId"}
    assert body["doorId"] == DOOR and body["commandId"] == unlocked["commandId"]
    assert app.stack.lock_webhook.key not in json.dumps(calls)
    wait_for("the open-lock workflow", lambda: _workflow_done(app, "open_lock_webhook"), 20)
    (execution,) = [e for e in app.stack.executions() if e["workflow"] == "open_lock_webhook"]
    assert execution["status"] == "SUCCEEDED"


def test_a_webhook_lock_that_stays_down_is_retried_then_dead_lettered_and_the_owner_told(
    local_webhook: LocalApp,
) -> None:
    app = local_webhook
    # GIVEN a lock whose webhook answers 503, again and again
    app.stack.lock_webhook.fail_next = [503] * 10
    unlocked = a_visitor_types_her_code(app)
    # THEN the HTTP Task retries, then gives up: the owner's email, no-answer, a dead letter
    email = wait_for(
        "the owner's email",
        lambda: next((m for m in outbox(app) if "did not open" in (m["subject"] or "")), None),
        40,
    )
    assert unlocked["commandId"] in email["body"]
    assert lock_state(app, unlocked["commandId"])[1]["state"] == "no-answer"
    assert len(app.stack.lock_webhook.calls()) >= 2  # retried
    queues = app.stack.client("sqs").list_queues()["QueueUrls"]
    (dead_letters,) = [url for url in queues if "Lock" in url and "Dead" in url]
    (letter,) = app.stack.client("sqs").receive_message(QueueUrl=dead_letters, WaitTimeSeconds=1)["Messages"]
    assert json.loads(letter["Body"])["detail"]["commandId"] == unlocked["commandId"]


def test_the_webhook_lock_can_be_a_real_one_on_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """`smartdoor local --lock webhook --lock-webhook-url URL` with SMARTDOOR_LOCK_WEBHOOK_KEY:
    the HTTP Task calls that lock (here a stand-in for a Home Assistant on 127.0.0.1)."""
    from werkzeug.serving import make_server
    from werkzeug.wrappers import Request, Response

    seen: list[tuple[str, str, dict[str, Any]]] = []

    def home_assistant(environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        seen.append(
            (request.path, request.headers.get("X-Smartdoor-Key", ""), json.loads(request.get_data()))
        )
        return Response("{}", status=200, content_type="application/json")(environ, start_response)

    server = make_server("127.0.0.1", 0, home_assistant, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("SMARTDOOR_LOCK_WEBHOOK_KEY", "the-key-home-assistant-expects")
    url = f"http://127.0.0.1:{server.server_port}/api/webhook/smartdoor-front-door"
    app = LocalApp(LocalConfig(lock="webhook", lock_webhook_url=url), port=0).start()
    try:
        unlocked = a_visitor_types_her_code(app)
        wait_for(
            "the lock's answer",
            lambda: lock_state(app, unlocked["commandId"])[1].get("state") == "unlocked",
            20,
        )
        ((path, key, body),) = seen
        assert (path, key) == ("/api/webhook/smartdoor-front-door", "the-key-home-assistant-expects")
        assert body["commandId"] == unlocked["commandId"]
        assert app.stack.lock_webhook.calls() == []  # the local receiver was not called
    finally:
        app.stop()
        server.shutdown()
