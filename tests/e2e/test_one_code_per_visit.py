"""One decision and at most one code per person per visit, on a running local stack, over HTTP.

A visitor does not leave the camera's view when the owner decides: the camera keeps sending
frames of her (within the visit gap) while the owner approves or denies, while her code
arrives and after. These tests do what the camera and the people do: post frames, read the
outbox, approve or deny through the API, type the code.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import pytest

from smartdoor_local import sample_faces
from smartdoor_local.story import HttpClient
from tests.e2e.test_local_stack import OWNER_PHONE, Running, running  # noqa: F401 - the fixture

DOOR = "front-door"
VISITOR_PHONE = "+15550100077"
LINK = re.compile(r"/owner/\?a=([A-Za-z0-9_.-]+)")
CODE = re.compile(r"\b(\d{6})\b")
FRAME_EVERY_SECONDS = 0.6
# After the code arrived, she stays this long: many frames, each matching her new face.
STAYS_SECONDS = 8.0


class Camera:
    """Posts the current picture(s) to the door's frames route until stopped, in turn."""

    def __init__(self, client: HttpClient, *pictures: bytes) -> None:
        self._client = client
        self.pictures = list(pictures)
        self._stop = threading.Event()
        self.refused: list[int] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        turn = 0
        while not self._stop.is_set():
            status, _ = self._client.post_frame(DOOR, self.pictures[turn % len(self.pictures)])
            if status != 202:
                self.refused.append(status)
            turn += 1
            self._stop.wait(FRAME_EVERY_SECONDS)

    def __enter__(self) -> Camera:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


@pytest.fixture
def client(running: Running) -> HttpClient:  # noqa: F811 - the imported fixture
    return HttpClient(running.url)


def outbox(client: HttpClient) -> list[dict[str, Any]]:
    status, messages = client.get("/local/outbox")
    assert status == 200
    return list(messages)


def wait_for(
    client: HttpClient, channel: str, to: str | None, pattern: re.Pattern[str], count: int = 1
) -> list[str]:
    """The first match of `pattern` in each of the first `count` messages of that kind."""
    deadline = time.monotonic() + 90
    while True:
        found = [
            match.group(1)
            for message in outbox(client)
            if message["channel"] == channel and (to is None or message["to"] == to)
            if (match := pattern.search(message["body"]))
        ]
        if len(found) >= count:
            return found
        assert time.monotonic() < deadline, f"waited for {count} {channel} to {to}: {outbox(client)}"
        time.sleep(0.2)


def bus_events(running: Running) -> list[tuple[str, str]]:  # noqa: F811
    return [(e["detail-type"], e["detail"]["visitId"]) for e in running.app.stack.bus.events()]


def test_an_approved_visitor_who_stays_gets_one_code_and_a_newcomer_is_still_announced(
    running: Running,  # noqa: F811
    client: HttpClient,
) -> None:
    # GIVEN a stranger in front of the camera, who stays there throughout
    with Camera(client, sample_faces.astronaut()) as camera:
        (approval_id,) = wait_for(client, "sms", OWNER_PHONE, LINK)

        # WHEN the owner approves her, and her code arrives while she is still at the door
        decided = client.post_json(
            f"/approvals/{approval_id}", {"decision": "approve", "name": "Eileen", "phone": VISITOR_PHONE}
        )
        assert decided[0] == 200
        (code,) = wait_for(client, "sms", VISITOR_PHONE, CODE)
        time.sleep(STAYS_SECONDS)

        # THEN she got one code, it still opens the door, and the owner heard of her once
        assert len(wait_for(client, "sms", VISITOR_PHONE, CODE)) == 1
        status, opened = client.post_json(f"/doors/{DOOR}/unlock", {"otp": code})
        assert (status, opened.get("granted")) == (200, True)
        subjects = [m["subject"] for m in outbox(client) if m["channel"] == "email"]
        assert subjects == ["Someone is at front-door", "Smart Door: visitor let in at front-door"]
        (first_visit,) = {visit for _, visit in bus_events(running)}
        assert [kind for kind, _ in bus_events(running)] == ["UnknownFaceDetected", "DoorUnlocked"]

        # WHEN somebody nobody knows joins her in the same visit
        camera.pictures = [sample_faces.astronaut(), sample_faces.camera_man()]
        links = wait_for(client, "sms", OWNER_PHONE, LINK, count=2)

    # THEN the owner is asked about the newcomer, with a new link, in a visit of its own
    assert links[1] != approval_id
    unknown_visits = [visit for kind, visit in bus_events(running) if kind == "UnknownFaceDetected"]
    assert len(unknown_visits) == 2 and unknown_visits[0] == first_visit != unknown_visits[1]
    # AND she was never sent a second code, nor announced as known
    assert len(wait_for(client, "sms", VISITOR_PHONE, CODE)) == 1
    assert "KnownFaceDetected" not in [kind for kind, _ in bus_events(running)]
    assert camera.refused == []
    assert running.app.stack.async_failures == [] and running.app.stack.match_failures == []


def test_a_denied_stranger_who_stays_is_decided_once(running: Running, client: HttpClient) -> None:  # noqa: F811
    with Camera(client, sample_faces.astronaut()) as camera:
        (approval_id,) = wait_for(client, "sms", OWNER_PHONE, LINK)
        assert client.post_json(f"/approvals/{approval_id}", {"decision": "deny"})[0] == 200
        deadline = time.monotonic() + 60
        while "AccessDenied" not in [kind for kind, _ in bus_events(running)]:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        time.sleep(STAYS_SECONDS)

    assert [kind for kind, _ in bus_events(running)] == ["UnknownFaceDetected", "AccessDenied"]
    assert len([m for m in outbox(client) if m["channel"] == "sms"]) == 1
    assert camera.refused == []


def test_the_owner_approving_after_the_visitor_left_still_lets_her_in(
    running: Running,  # noqa: F811
    client: HttpClient,
) -> None:
    # GIVEN a stranger who rang and left before the owner looked
    with Camera(client, sample_faces.astronaut()):
        (approval_id,) = wait_for(client, "sms", OWNER_PHONE, LINK)
    time.sleep(running.app.config.visit_gap_seconds + 1)

    # WHEN the owner approves her after the visit ended
    decided = client.post_json(
        f"/approvals/{approval_id}", {"decision": "approve", "name": "Eileen", "phone": VISITOR_PHONE}
    )
    assert decided[0] == 200

    # THEN she still gets her code, and it opens the door when she comes back to type it
    (code,) = wait_for(client, "sms", VISITOR_PHONE, CODE)
    status, opened = client.post_json(f"/doors/{DOOR}/unlock", {"otp": code})
    assert (status, opened.get("granted")) == (200, True)
