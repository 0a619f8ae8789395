"""`smartdoor local` as a process, over HTTP only: how it answers while it starts, and after.

The port is bound before the stack (moto, tables, state machines, dlib) is up, about ten seconds
on a laptop. Until every route is mounted, every path answers 503 with Retry-After and
`{"error": "starting"}`; `/local/health` turns 200 once the stack serves (docs/local.md).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.test_local_stack import free_port, listening

SMARTDOOR = Path(sys.executable).with_name("smartdoor")
STARTUP_SECONDS = 180


@dataclass(frozen=True)
class Answer:
    at: float
    method: str
    path: str
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


def ask(base: str, method: str, path: str, body: bytes | None = None, **headers: str) -> Answer:
    request = urllib.request.Request(base + path, data=body, method=method, headers=headers)  # noqa: S310
    at = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - 127.0.0.1 only
            return Answer(at, method, path, response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as error:
        return Answer(at, method, path, error.code, dict(error.headers), error.read())


@dataclass
class Started:
    process: subprocess.Popen[bytes]
    port: int
    output: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def starting(tmp_path: Path) -> Iterator[Started]:
    """`smartdoor local --no-story` just launched: its port may not even be bound yet."""
    port = free_port()
    output = tmp_path / "local.out"
    with output.open("w") as sink:
        process = subprocess.Popen(  # noqa: S603 - our own console script, fixed arguments
            [str(SMARTDOOR), "local", "--no-story", "--port", str(port)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "SMARTDOOR_STATE_DIR": str(tmp_path / "state")},
        )
        try:
            yield Started(process, port, output)
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def wait_until_listening(started: Started) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while not listening(started.port):
        assert started.process.poll() is None, started.output.read_text()
        assert time.monotonic() < deadline, started.output.read_text()
        time.sleep(0.05)


# What a client can do right after the port answers: each route the stack serves, once.
PROBES: list[tuple[str, str, bytes | None, dict[str, str]]] = [
    ("POST", "/local/doors/front-door/frames", b"not a jpeg", {"Content-Type": "image/jpeg"}),
    ("POST", "/doors/front-door/unlock", b'{"otp": "12"}', {"Content-Type": "application/json"}),
    ("GET", "/local/outbox", None, {}),
    ("GET", "/local/stack", None, {}),
    ("GET", "/config.json", None, {}),
    ("GET", "/", None, {}),
    ("GET", "/door/", None, {}),
    ("GET", "/local/health", None, {}),
]


def test_every_route_answers_503_starting_until_the_stack_is_ready(starting: Started) -> None:
    # GIVEN smartdoor local was just launched
    wait_until_listening(starting)

    # WHEN a client asks every route, over and over, from the first moment the port answers
    answers: list[Answer] = []
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        round_ = [ask(starting.url, method, path, body, **headers) for method, path, body, headers in PROBES]
        answers.extend(round_)
        if round_[-1].status == 200:
            break
        assert starting.process.poll() is None, starting.output.read_text()
        assert time.monotonic() < deadline, starting.output.read_text()
        time.sleep(0.1)

    # THEN it was caught starting, and every answer before it was ready was the honest 503
    early = [answer for answer in answers if answer.status == 503]
    assert {answer.path for answer in early} == {path for _, path, _, _ in PROBES}, "never seen starting"
    for answer in early:
        assert answer.headers.get("Retry-After") == "1", answer
        assert answer.headers.get("Content-Type") == "application/json", answer
        if answer.path == "/local/health":
            assert answer.json() == {"status": "starting", "error": "starting"}
        else:
            assert answer.json() == {"error": "starting"}, answer
    # ... and once a route answered for real, nothing went back to 503 (ready is for good)
    first_live = min(answer.at for answer in answers if answer.status != 503)
    assert all(answer.at < first_live for answer in early)

    # AND once ready, the routes are the real ones: the local API and the API handler judge the input
    # (a round asked after health said ready: the round that saw it began before)
    live = {
        answer.path: answer
        for answer in (
            ask(starting.url, method, path, body, **headers) for method, path, body, headers in PROBES
        )
    }
    assert live["/local/health"].json() == {"status": "ready"}
    frames = live["/local/doors/front-door/frames"]
    assert frames.status == 400 and "not a usable picture" in frames.json()["error"], frames  # type: ignore[index]
    assert live["/doors/front-door/unlock"].status == 400
    assert live["/local/stack"].json()["awsEndpoint"].startswith("http://127.0.0.1:")  # type: ignore[index]
    assert live["/config.json"].json()["apiUrl"] == starting.url  # type: ignore[index]
    assert live["/"].status == 200 and live["/door/"].status == 200


def test_a_browser_opening_a_page_early_gets_a_page_that_reloads_itself(starting: Started) -> None:
    # GIVEN smartdoor local is starting
    wait_until_listening(starting)

    # WHEN a browser asks for a page before the stack is ready
    answer = ask(starting.url, "GET", "/camera/", Accept="text/html,application/xhtml+xml")

    # THEN it is a 503 page that says so and reloads itself (API clients get the JSON)
    assert answer.status == 503 and answer.headers.get("Retry-After") == "1"
    assert answer.headers["Content-Type"].startswith("text/html")
    assert b"Smart Door is starting" in answer.body and b'http-equiv="refresh"' in answer.body


def test_health_says_stopping_and_then_nothing_listens(starting: Started) -> None:
    # GIVEN a ready local stack
    wait_until_listening(starting)
    deadline = time.monotonic() + STARTUP_SECONDS
    while ask(starting.url, "GET", "/local/health").status != 200:
        assert time.monotonic() < deadline, starting.output.read_text()
        time.sleep(0.2)

    # WHEN it is stopped
    starting.process.send_signal(signal.SIGINT)

    # THEN whatever answers meanwhile is 503 "stopping" (never a half-stopped route), then nothing
    seen: set[int] = set()
    while starting.process.poll() is None:
        try:
            answer = ask(
                starting.url,
                "POST",
                "/doors/front-door/unlock",
                b'{"otp": "12"}',
                **{"Content-Type": "application/json"},
            )
        except (urllib.error.URLError, ConnectionError):
            break
        seen.add(answer.status)
        if answer.status == 503:
            assert answer.json() == {"error": "stopping"}
        time.sleep(0.02)
    assert starting.process.wait(timeout=60) == 0
    assert seen <= {400, 503}
    assert not listening(starting.port)


# ---------------------------------------------------------------------------- finding the stack


def smartdoor(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own console script
        [str(SMARTDOOR), *argv], capture_output=True, text=True, timeout=120, env=env, check=False
    )


def wait_until_ready(started: Started) -> None:
    wait_until_listening(started)
    deadline = time.monotonic() + STARTUP_SECONDS
    while ask(started.url, "GET", "/local/health").status != 200:
        assert started.process.poll() is None, started.output.read_text()
        assert time.monotonic() < deadline, started.output.read_text()
        time.sleep(0.2)


def test_commands_find_the_running_stack_without_port(starting: Started, tmp_path: Path) -> None:
    # GIVEN smartdoor local serves on a port that is not the default
    wait_until_ready(starting)
    env = {**os.environ, "SMARTDOOR_STATE_DIR": str(tmp_path / "state")}
    env.pop("SMARTDOOR_PORT", None)
    (announced,) = (tmp_path / "state").glob("local-*.json")
    assert json.loads(announced.read_text())["url"] == starting.url

    # WHEN commands run with no --port
    listing = smartdoor("visitors", "list", env=env)
    ring = smartdoor("device", "ring", env=env)

    # THEN they talk to that stack
    assert (listing.returncode, listing.stdout) == (0, "No known visitors.\n"), listing.stderr
    assert ring.returncode == 0, ring.stderr
    assert ring.stdout.startswith("Rang front-door")
    rings = json.loads(ask(starting.url, "GET", "/local/events").body)
    assert [event["detail-type"] for event in rings] == ["DoorbellPressed"]

    # AND SMARTDOOR_PORT, then --port, take precedence over what the stack announced
    elsewhere = smartdoor("visitors", "list", env={**env, "SMARTDOOR_PORT": str(free_port())})
    assert elsewhere.returncode == 1 and "no local stack answers" in elsewhere.stderr
    explicit = smartdoor("visitors", "list", "--port", str(free_port()), env=env)
    assert explicit.returncode == 1 and "no local stack answers" in explicit.stderr

    # AND once the stack stops, its announcement is gone and commands say no stack runs
    starting.process.send_signal(signal.SIGINT)
    assert starting.process.wait(timeout=60) == 0
    assert not announced.exists()
    after = smartdoor("visitors", "list", env=env)
    assert f"127.0.0.1:{starting.port}" not in after.stderr


def test_version() -> None:
    from importlib.metadata import version

    result = smartdoor("--version")
    assert result.returncode == 0
    assert result.stdout == f"smartdoor {version('smartdoor')}\n"
