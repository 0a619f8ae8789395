"""The scripted story `smartdoor local` plays first, over HTTP, as a visitor, the owner and a phone would.

1. An unknown visitor rings: the door camera sends frames of a face nobody knows.
2. The owner's SMS arrives, with the approval link.
3. The owner approves, giving the visitor's name and phone number.
4. The visitor's SMS arrives, with a one-time code.
5. The visitor types the code on the keypad: the door unlocks.
6. Later, the same person comes back, now known: a code is sent directly, no owner involved.

Only the public HTTP interfaces are used (the API, the local API's frames and outbox), so the
story is also an example of a scripted client. The visitor is NASA's portrait of astronaut
Eileen Collins from scikit-image's sample data; step 6 uses another crop of it.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from smartdoor.domain.phones import mask_phone
from smartdoor_local import sample_faces
from smartdoor_local.console import Console
from smartdoor_local.stack import LocalConfig

VISITOR_NAME = "Eileen Collins"
VISITOR_PHONE = "+15550100001"
FRAMES_PER_RING = 3
FRAME_INTERVAL_SECONDS = 0.3
WAIT_SECONDS = 60.0
APPROVAL_LINK = re.compile(r"https?://[^\s]+/owner/\?a=([A-Za-z0-9_.-]+)")
CODE = re.compile(r"\b(?:is|code) (\d{6})\b")  # "... for front-door is 123456." / "code 123456 for ..."


STORY_WORKFLOWS = ("unknown_visitor", "known_visitor")


class StoryFailed(RuntimeError):
    """The story did not go as written (the message says which step)."""


class StoryInterrupted(RuntimeError):
    """Ctrl-C during the story."""


@dataclass
class StoryResult:
    approval_link: str = ""
    first_code: str = ""
    second_code: str = ""
    unlocked_as: str | None = None
    executions: list[dict[str, Any]] = field(default_factory=list)


class HttpClient:
    """JSON over HTTP to the local server (urllib: no extra dependency)."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout

    def request(
        self, method: str, path: str, body: bytes | None = None, content_type: str | None = None
    ) -> tuple[int, Any]:
        headers = {"Content-Type": content_type} if content_type else {}
        request = urllib.request.Request(  # noqa: S310 - always http://127.0.0.1
            self.base_url + path, data=body, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode("utf-8", "replace")

    def get(self, path: str) -> tuple[int, Any]:
        return self.request("GET", path)

    def post_json(self, path: str, payload: dict[str, Any]) -> tuple[int, Any]:
        return self.request("POST", path, json.dumps(payload).encode(), "application/json")

    def post_frame(self, door_id: str, jpeg: bytes) -> tuple[int, Any]:
        return self.request("POST", f"/local/doors/{door_id}/frames", jpeg, "image/jpeg")


class Story:
    def __init__(
        self,
        base_url: str,
        config: LocalConfig,
        console: Console,
        stop: threading.Event | None = None,
        *,
        visitor_name: str = VISITOR_NAME,
        visitor_phone: str = VISITOR_PHONE,
    ) -> None:
        self.http = HttpClient(base_url)
        self.config = config
        self.console = console
        self.stop = stop or threading.Event()
        self.visitor_name = visitor_name
        self.visitor_phone = visitor_phone
        self.result = StoryResult()

    # -- helpers

    def _wait(self, what: str, probe: Callable[[], Any], timeout: float = WAIT_SECONDS) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            found = probe()
            if found:
                return found
            if self.stop.is_set():
                raise StoryInterrupted(what)
            if time.monotonic() > deadline:
                raise StoryFailed(f"waited {timeout:.0f}s for {what}")
            self.stop.wait(0.1)

    def _outbox(self) -> list[dict[str, Any]]:
        status, messages = self.http.get("/local/outbox")
        if status != 200:
            raise StoryFailed(f"GET /local/outbox answered {status}")
        return list(messages)

    def _sms_to(self, phone: str, pattern: re.Pattern[str], after: int) -> Callable[[], re.Match[str] | None]:
        def probe() -> re.Match[str] | None:
            for message in self._outbox()[after:]:
                if message["channel"] == "sms" and message["to"] == phone:
                    found = pattern.search(message["body"])
                    if found:
                        return found
            return None

        return probe

    def _ring(self, jpeg: bytes, who: str) -> float:
        """Send a doorbell's worth of frames; returns the last frame's time."""
        last = 0.0
        for index in range(FRAMES_PER_RING):
            status, answer = self.http.post_frame(self.config.door_id, jpeg)
            if status != 202:
                raise StoryFailed(f"the camera's frame was refused: {status} {answer}")
            faces = answer["faces"]
            seen = "no face"
            if faces:
                face = faces[0]
                seen = f"a face ({face['confidence']:.1f}% sure)"
                if face["matches"]:
                    best = face["matches"][0]
                    seen += f", matches {best['visitorId']} at {best['similarity']:.1f}%"
                else:
                    seen += ", nobody in the collection"
            self.console.note(f"camera frame {index + 1}/{FRAMES_PER_RING} of {who}: {seen}")
            last = float(answer["frameTime"])
            if index + 1 < FRAMES_PER_RING:
                self.stop.wait(FRAME_INTERVAL_SECONDS)
        return last

    # -- the story

    def play(self) -> StoryResult:
        door, console = self.config.door_id, self.console
        console.print("The story: an unknown visitor, the owner's approval, a code, the door; she returns.")
        console.print("")

        sent = len(self._outbox())
        console.step(1, f"An unknown visitor rings at {door} (scikit-image's photo of Eileen Collins)")
        last_frame = self._ring(sample_faces.astronaut(), "the visitor")

        link = self._wait(
            "the owner's SMS with the approval link",
            self._sms_to(self.config.owner_phone, APPROVAL_LINK, sent),
        )
        self.result.approval_link = link.group(0)
        console.step(2, f"The owner's SMS ({mask_phone(self.config.owner_phone)}) links to {link.group(0)}")

        approval_id = link.group(1)
        status, shown = self.http.get(f"/approvals/{approval_id}")
        if status != 200:
            raise StoryFailed(f"the owner page's GET /approvals answered {status} {shown}")
        sent = len(self._outbox())
        status, decided = self.http.post_json(
            f"/approvals/{approval_id}",
            {"decision": "approve", "name": self.visitor_name, "phone": self.visitor_phone},
        )
        if status != 200:
            raise StoryFailed(f"approving answered {status} {decided}")
        console.step(
            3,
            f"The owner approves {self.visitor_name} ({mask_phone(self.visitor_phone)}): {decided['status']}",
        )

        code = self._wait("the visitor's SMS with a code", self._sms_to(self.visitor_phone, CODE, sent))
        self.result.first_code = code.group(1)
        console.step(4, f"The visitor's SMS brings the code {code.group(1)}")

        status, unlocked = self.http.post_json(f"/doors/{door}/unlock", {"otp": code.group(1)})
        if status != 200 or not unlocked.get("granted"):
            raise StoryFailed(f"the keypad's unlock answered {status} {unlocked}")
        self.result.unlocked_as = unlocked.get("visitor")
        console.step(5, f"She types it on the keypad: the door unlocks (welcome, {unlocked.get('visitor')})")
        if unlocked.get("lock") == "pending":
            console.note(
                f"(the lock was told: command {unlocked.get('commandId')}; the keypad asks "
                f"/doors/{door}/lock/<commandId> until the lock answers: the door agent's relay with "
                "--lock iot, the local webhook receiver with --lock webhook)"
            )

        # A new visit starts after VISIT_GAP_SECONDS without a face at the door.
        comes_back = last_frame + self.config.visit_gap_seconds + 0.5
        wait = max(0.0, comes_back - time.time())
        if wait:
            console.note(f"(she leaves; {wait:.0f}s later, after the visit gap, she comes back)")
            if self.stop.wait(wait):
                raise StoryInterrupted("the visit gap")
        sent = len(self._outbox())
        console.step(6, "The same person again, in another photo: now she is known")
        self._ring(sample_faces.astronaut_again(), "the returning visitor")
        code = self._wait("the known visitor's SMS with a code", self._sms_to(self.visitor_phone, CODE, sent))
        self.result.second_code = code.group(1)
        console.note(f"no owner involved: her SMS brings a new code directly, {code.group(1)}")

        self.result.executions = self._wait("both workflows to finish", self._finished_executions)
        console.print("")
        console.print("Executions (each one's path through its state machine):")
        for execution in self.result.executions:
            path = " → ".join(execution["path"])
            console.print(f"  {execution['workflow']:<16} {execution['status']:<10} {path}")
        return self.result

    def _finished_executions(self) -> list[dict[str, Any]] | None:
        status, executions = self.http.get("/local/executions")
        if status != 200:
            raise StoryFailed(f"GET /local/executions answered {status}")
        # The story's own workflows; the lock's (open_lock_*) waits for the lock and ends on its own.
        story = [execution for execution in executions if execution["workflow"] in STORY_WORKFLOWS]
        workflows = {execution["workflow"] for execution in story}
        if set(STORY_WORKFLOWS) <= workflows and all(execution["status"] != "RUNNING" for execution in story):
            return story
        return None


def play_story(
    base_url: str, config: LocalConfig, console: Console, stop: threading.Event | None = None
) -> bool:
    """Play the story; False if it failed (said on the console; the stack keeps serving)."""
    try:
        Story(base_url, config, console, stop).play()
    except StoryInterrupted:
        return True
    except StoryFailed as failure:
        console.print(f"THE STORY FAILED: {failure}. The stack keeps serving; try it yourself.")
        return False
    return True
