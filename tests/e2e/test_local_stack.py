"""The local stack end to end: what `make demo` / `smartdoor local` runs, on free ports.

The story is driven twice: through the HTTP API (the scripted client `smartdoor local` plays)
and through the pages in Chromium (camera page with a photo file and with a webcam, outbox,
owner page, keypad, executions). Each test checks the outbox and the executions' paths, and
that nothing is left listening once the stack is stopped. The visitor is scikit-image's photo
of astronaut Eileen Collins; nothing is downloaded.
"""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from smartdoor_local import sample_faces
from smartdoor_local.app import LocalApp
from smartdoor_local.console import Console
from smartdoor_local.stack import LocalConfig
from smartdoor_local.story import VISITOR_NAME, VISITOR_PHONE, Story
from tests.e2e.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from tests.fakes.images import huge_jpeg, huge_png

OWNER_PHONE = LocalConfig().owner_phone
OWNER_EMAIL = LocalConfig().owner_email
# The local default: longer than a frame takes to analyse on a busy machine.
VISIT_GAP = LocalConfig().visit_gap_seconds
UNKNOWN_PATH = [
    "Claim visit",
    "Extract frame from video",
    "Search collection again",
    "Already known?",
    "Create approval request",
    "Wait for owner's decision",
    "Owner's decision",
    "Record visitor as decided in this visit",
    "Enrol face",
    "Save visitor",
    "Issue passcode",
    "Code texted?",
    "Email owner: code sent",
    "Let later strangers be announced",
    "AccessCodeSent",
]
KNOWN_PATH = [
    "Claim visit",
    "Load visitor",
    "Visitor on record?",
    "Issue passcode",
    "Code texted?",
    "Email owner: code sent",
    "AccessCodeSent",
]
LINK = re.compile(r"http://127\.0\.0\.1:\d+/owner/\?a=[A-Za-z0-9_.-]+")
CODE = re.compile(r"\b(\d{6})\b")


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Running:
    """A started LocalApp and the ports it holds."""

    def __init__(self, app: LocalApp, console_output: io.StringIO) -> None:
        self.app = app
        self.console_output = console_output
        self.ports = [app.server.port, int(str(app.stack.aws_endpoint).rsplit(":", 1)[1])]

    @property
    def url(self) -> str:
        return self.app.url

    def outbox(self) -> list[dict[str, Any]]:
        return self.app.stack.outbox.to_json()

    def wait_for_sms(self, phone: str, after: int, timeout: float = 60) -> str:
        message = self.app.stack.outbox.wait_for(
            lambda m: m.channel == "sms" and m.to == phone, after=after, timeout=timeout
        )
        return message.body

    def executions_when_done(self, count: int, timeout: float = 60) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            executions = self.app.stack.executions()
            if len(executions) >= count and all(e["status"] != "RUNNING" for e in executions):
                return executions
            assert time.monotonic() < deadline, f"executions still running: {executions}"
            time.sleep(0.1)


@pytest.fixture
def running() -> Iterator[Running]:
    output = io.StringIO()
    app = LocalApp(LocalConfig(visit_gap_seconds=VISIT_GAP), port=0, console=Console(output))
    app.start()
    try:
        yield Running(app, output)
    finally:
        app.stop()


def assert_story_outbox(outbox: list[dict[str, Any]]) -> tuple[str, str]:
    """The six messages of the story, in order; returns the two codes."""
    assert [(m["channel"], m["to"], m["subject"]) for m in outbox] == [
        ("sms", OWNER_PHONE, None),
        ("email", OWNER_EMAIL, "Someone is at front-door"),
        ("sms", VISITOR_PHONE, None),
        ("email", OWNER_EMAIL, "Smart Door: visitor let in at front-door"),
        ("sms", VISITOR_PHONE, None),
        ("email", OWNER_EMAIL, "Smart Door: visitor at front-door"),
    ]
    assert [m["sentAt"] for m in outbox] == sorted(m["sentAt"] for m in outbox)
    link = LINK.search(outbox[0]["body"])
    assert link and link.group(0) in outbox[1]["body"]  # SMS and email carry the same link
    first, second = CODE.search(outbox[2]["body"]), CODE.search(outbox[4]["body"])
    assert first and second and first.group(1) != second.group(1)
    assert VISITOR_NAME in outbox[3]["body"]
    return first.group(1), second.group(1)


def assert_story_executions(executions: list[dict[str, Any]]) -> None:
    assert [(e["workflow"], e["status"], e["path"]) for e in executions] == [
        ("unknown_visitor", "SUCCEEDED", UNKNOWN_PATH),
        ("known_visitor", "SUCCEEDED", KNOWN_PATH),
    ]
    assert all(e["doorId"] == "front-door" for e in executions)
    assert executions[0]["visitId"] != executions[1]["visitId"]


# ---------------------------------------------------------------------------- the HTTP API


def test_the_story_through_the_http_api(running: Running) -> None:
    # GIVEN the local stack on free ports, WHEN the scripted story plays over HTTP
    result = Story(running.url, running.app.config, Console(io.StringIO())).play()

    # THEN the door opened for the approved visitor and she was known on her return
    assert result.unlocked_as == VISITOR_NAME
    first_code, second_code = assert_story_outbox(running.outbox())
    assert (result.first_code, result.second_code) == (first_code, second_code)
    assert_story_executions(result.executions)
    events = running.app.stack.bus.events()
    assert [e["detail-type"] for e in events] == [
        "UnknownFaceDetected",
        "DoorUnlocked",
        "KnownFaceDetected",
    ]
    # The door opened with the code of the first (approved) visit, and every event names its visit.
    unknown, unlocked, known = (e["detail"] for e in events)
    assert unlocked["visitId"] == unknown["visitId"] != known["visitId"]
    assert all(e["detail"]["doorId"] == "front-door" and e["detail"]["version"] == "1" for e in events)
    # The local API serves the same lists, and the first code was used up.
    from smartdoor_local.story import HttpClient

    client = HttpClient(running.url)
    assert client.get("/local/outbox") == (200, running.outbox())
    status, executions = client.get("/local/executions")
    assert status == 200 and [e["path"] for e in executions] == [UNKNOWN_PATH, KNOWN_PATH]
    assert client.post_json("/doors/front-door/unlock", {"otp": first_code})[0] == 403
    # The console printed every message as it was sent, phones masked.
    deadline = time.monotonic() + 10  # the console reports an execution within a second of its end
    while "flow   known_visitor SUCCEEDED" not in running.console_output.getvalue():
        assert time.monotonic() < deadline, running.console_output.getvalue()
        time.sleep(0.1)
    console = running.console_output.getvalue()
    assert "sms    to +1*******000" in console and OWNER_PHONE not in console
    assert "flow   unknown_visitor SUCCEEDED" in console


def test_stopping_leaves_nothing_listening() -> None:
    app = LocalApp(port=0).start()
    ports = [app.server.port, int(str(app.stack.aws_endpoint).rsplit(":", 1)[1])]
    assert all(listening(port) for port in ports)
    app.stop()
    assert not any(listening(port) for port in ports)


def test_the_local_api_refuses_bad_frames(running: Running) -> None:
    from smartdoor_local.story import HttpClient

    client = HttpClient(running.url)
    assert client.request("POST", "/local/doors/front-door/frames", b"", "image/jpeg")[0] == 400
    assert client.request("POST", "/local/doors/front-door/frames", b"hello", "text/plain")[0] == 415
    status, answer = client.request("POST", "/local/doors/front-door/frames", b"not a jpeg", "image/jpeg")
    assert status == 400 and "not a usable picture" in answer["error"]
    assert client.post_frame("back-door", sample_faces.astronaut())[0] == 404
    assert client.get("/local/doors/front-door/frames")[0] == 405
    # A frame without a face is accepted and streamed (the camera sees an empty porch).
    status, answer = client.post_frame("front-door", sample_faces.no_face())
    assert status == 202 and answer["faces"] == [] and answer["s3Key"].startswith("camera/front-door/")
    # Photo links only work as signed.
    assert client.get("/local/photos/camera/front-door/x.jpg?expires=9999999999&signature=00")[0] == 403


def test_a_frame_past_the_pixel_limit_is_an_unusable_picture_and_stores_nothing(running: Running) -> None:
    from smartdoor_local.story import HttpClient

    # GIVEN pictures past Pillow's decompression-bomb limits: Pillow raises past 179 MP, warns past 89 MP
    client = HttpClient(running.url)
    pictures = {
        "20000x20000": (huge_png(20_000, 20_000), "image/png"),
        "15000x15000": (huge_jpeg(15_000, 15_000), "image/jpeg"),
        "10000x10000": (huge_png(10_000, 10_000), "image/png"),
    }
    for size, (picture, content_type) in pictures.items():
        # WHEN the camera sends one as a frame
        status, answer = client.request("POST", "/local/doors/front-door/frames", picture, content_type)
        # THEN the answer is the documented 400 for an unusable picture, naming the reason
        assert (status, answer) == (
            400,
            {"error": f"not a usable picture: image is {size}: too many pixels (the limit is 40 MP)"},
        )
    # AND nothing was stored or streamed
    photos = running.app.stack.client("s3").list_objects_v2(Bucket=running.app.stack.names["photos"])
    assert photos.get("KeyCount", 0) == 0


# ---------------------------------------------------------------------------- door devices


def wait_for_event(running: Running, detail_type: str, timeout: float = 60) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while not (events := running.app.stack.bus.events(detail_type)):
        assert time.monotonic() < deadline, f"no {detail_type} on the bus"
        time.sleep(0.1)
    return events


def test_a_ring_starts_a_doorbell_session_that_samples_the_camera(running: Running) -> None:
    from smartdoor_local.device import DoorDevice, Unsigned
    from smartdoor_local.story import HttpClient

    # GIVEN the door camera filming a visitor, WHEN the doorbell rings (a door device's ring)
    device = DoorDevice(running.url, "front-door", Unsigned())
    assert device.ring()["accepted"] is True
    client = HttpClient(running.url)
    for _ in range(3):
        assert client.post_frame("front-door", sample_faces.astronaut())[0] == 202
        time.sleep(0.5)

    # THEN the doorbell session (workflows/doorbell_session.asl.json) sampled the camera's frames
    # until the visit was decided, and the frames it sampled again were counted once
    running.wait_for_sms(OWNER_PHONE, after=0)
    deadline = time.monotonic() + 60
    while True:  # the unknown visitor's workflow waits for the owner; the session must have ended
        sessions = [e for e in running.app.stack.executions() if e["workflow"] == "doorbell_session"]
        if sessions and all(e["status"] != "RUNNING" for e in sessions):
            break
        assert time.monotonic() < deadline, sessions
        time.sleep(0.2)
    assert [(e["status"], e["path"][0], e["path"][-1]) for e in sessions] == [
        ("SUCCEEDED", "Open or extend the door's session", "Session over")
    ]
    assert "Search the newest camera frame" in sessions[0]["path"]
    assert [e["detail-type"] for e in running.app.stack.bus.events()] == [
        "DoorbellPressed",
        "UnknownFaceDetected",
    ]
    assert running.app.stack.async_failures == [] and running.app.stack.match_failures == []


def test_an_edge_device_snapshot_decides_a_visit_on_its_own(running: Running) -> None:
    from smartdoor_local.device import DoorDevice, Unsigned

    # WHEN a device uploads one snapshot through the presigned form (to the local moto server)
    sent = DoorDevice(running.url, "front-door", Unsigned()).send_snapshot(sample_faces.astronaut())
    assert sent.key.startswith("snapshots/front-door/")

    # THEN S3 tells EventBridge, process_snapshot searches it, and one image decides the visit
    (unknown,) = wait_for_event(running, "UnknownFaceDetected")
    assert unknown["detail"]["frame"]["source"] == "s3"
    assert unknown["detail"]["frame"]["s3Key"] == sent.key
    assert "someone is at front-door" in running.wait_for_sms(OWNER_PHONE, after=0)


# ---------------------------------------------------------------------------- the demo command


def test_the_demo_command_plays_the_story_then_serves_until_interrupted(tmp_path: Path) -> None:
    """`smartdoor local` as make demo runs it, in its own process, stopped with Ctrl-C."""
    port = free_port()
    command = Path(sys.executable).with_name("smartdoor")
    output = tmp_path / "demo.out"
    with output.open("w") as sink:
        process = subprocess.Popen(  # noqa: S603 - our own console script, fixed arguments
            [str(command), "local", "--port", str(port)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            deadline = time.monotonic() + 180
            while "Your turn" not in output.read_text():
                assert process.poll() is None, output.read_text()
                assert time.monotonic() < deadline, output.read_text()
                time.sleep(0.5)
            text = output.read_text()
            moto = re.search(r"AWS \(moto\)\s+http://127\.0\.0\.1:(\d+)", text)
            assert moto, text
            ports = [port, int(moto.group(1))]
            assert all(listening(p) for p in ports)
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=60) == 0
        finally:
            if process.poll() is None:
                process.kill()
    text = output.read_text()
    for step in range(1, 7):
        assert re.search(rf"\] {step}\. ", text), f"step {step} missing:\n{text}"
    assert "THE STORY FAILED" not in text and "Traceback" not in text
    assert "unknown_visitor  SUCCEEDED  " + " → ".join(UNKNOWN_PATH) in text
    assert "known_visitor    SUCCEEDED  " + " → ".join(KNOWN_PATH) in text
    assert "Stopped. Nothing is listening any more." in text
    assert not any(listening(p) for p in ports)


def test_sigterm_stops_the_stack_without_the_story(tmp_path: Path) -> None:
    """`smartdoor local --no-story` serves at once; SIGTERM (a service manager, CI) stops it cleanly."""
    port = free_port()
    output = tmp_path / "serve.out"
    with output.open("w") as sink:
        process = subprocess.Popen(  # noqa: S603 - our own console script, fixed arguments
            [str(Path(sys.executable).with_name("smartdoor")), "local", "--no-story", "--port", str(port)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            deadline = time.monotonic() + 120
            while "Your turn" not in output.read_text():
                assert process.poll() is None and time.monotonic() < deadline, output.read_text()
                time.sleep(0.5)
            assert "The story" not in output.read_text()
            moto = re.search(r"AWS \(moto\)\s+http://127\.0\.0\.1:(\d+)", output.read_text())
            assert moto
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=60) == 0
        finally:
            if process.poll() is None:
                process.kill()
    assert not listening(port) and not listening(int(moto.group(1)))
    assert "Stopped. Nothing is listening any more." in output.read_text()


def test_a_port_in_use_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    from smartdoor_local.cli import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        status = main(["local", "--no-story", "--port", str(taken.getsockname()[1])])
    assert status == 1
    assert "Choose another port with --port" in capsys.readouterr().err


# ---------------------------------------------------------------------------- the pages


def _is_error(message: Any) -> bool:
    # Every error counts, a missing favicon's 404 included.
    return bool(message.type == "error")


@pytest.fixture
def page_of(browser: Any, running: Running) -> Iterator[Any]:
    """New pages in one desktop browser context; console errors (CSP included) fail the test."""
    context = browser.new_context(viewport={"width": 1100, "height": 900}, locale="en-US", timezone_id="UTC")
    errors: list[str] = []

    def open_page() -> Any:
        page = context.new_page()
        page.on("console", lambda m: errors.append(f"{m.text} {m.location}") if _is_error(m) else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        return page

    try:
        yield open_page
        assert errors == []
    finally:
        context.close()


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"local-{name}.png"), full_page=True, animations="disabled")


def ring_with_photo(camera: Any, photo: Path, expect_text: str) -> None:
    from playwright.sync_api import expect

    camera.locator("#photo").set_input_files(str(photo))
    expect(camera.get_by_role("button", name="Ring (3 frames)")).to_be_enabled()
    before = camera.locator("#frame-log li").count()
    camera.get_by_role("button", name="Ring (3 frames)").click()
    expect(camera.locator("#frame-log li")).to_have_count(before + 3, timeout=60_000)
    expect(camera.locator("#frame-log li").first).to_contain_text(expect_text)


def type_code(door: Any, code: str) -> None:
    for digit in code:
        door.get_by_role("button", name=digit, exact=True).click()
    door.get_by_role("button", name="Open").click()


def test_the_story_through_the_pages(running: Running, page_of: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    photo = tmp_path / "visitor.jpg"
    photo.write_bytes(sample_faces.astronaut())
    again = tmp_path / "visitor-again.jpg"
    again.write_bytes(sample_faces.astronaut_again())

    # GIVEN the camera page, WHEN a photo of an unknown visitor rings at the door
    camera = page_of()
    camera.goto(f"{running.url}/camera/")
    expect(camera.locator("#door-id")).to_have_text("front-door")
    ring_with_photo(camera, photo, "not in the collection")
    shot(camera, "1-camera")

    # THEN the owner's SMS lands in the outbox, its link clickable
    outbox = page_of()
    outbox.goto(f"{running.url}/outbox/")
    owner_sms = outbox.locator('li[data-channel="sms"]', has_text="someone is at front-door")
    expect(owner_sms).to_have_count(1, timeout=60_000)
    shot(outbox, "2-outbox-owner-sms")
    owner_sms.get_by_role("link").click()

    # WHEN the owner approves in the owner page
    owner = outbox
    expect(owner.get_by_role("heading", name="Someone is at your door")).to_be_visible()
    expect(owner.locator("#photo")).to_have_js_property("complete", True)
    assert owner.locator("#photo").evaluate("img => img.naturalWidth") > 0  # the local photo link works
    owner.get_by_label("Visitor's name").fill(VISITOR_NAME)
    owner.get_by_label("Visitor's mobile number").fill(VISITOR_PHONE)
    owner.get_by_role("button", name="Approve").click()
    expect(owner.get_by_role("heading", name="Approved")).to_be_visible()
    shot(owner, "3-owner-approved")

    # THEN the visitor's code arrives, and she unlocks with it on the keypad
    owner.goto(f"{running.url}/outbox/")
    visitor_sms = owner.locator('li[data-channel="sms"]', has_text="for front-door, valid")
    expect(visitor_sms).to_have_count(1, timeout=60_000)
    code = CODE.search(visitor_sms.inner_text())
    assert code
    door = page_of()
    door.goto(f"{running.url}/door/?door=front-door")
    expect(door.get_by_role("button", name="1", exact=True)).to_be_enabled()
    type_code(door, code.group(1))
    expect(door.get_by_role("heading", name="Door open")).to_be_visible()
    expect(door.locator("#visitor-name")).to_have_text(VISITOR_NAME)
    shot(door, "4-door-open")

    # WHEN she comes back later (after the visit gap), THEN the camera knows her
    time.sleep(VISIT_GAP + 0.5)
    ring_with_photo(camera, again, "known: vis-")
    owner.goto(f"{running.url}/outbox/")
    expect(owner.locator('li[data-channel="sms"]', has_text="for front-door, valid")).to_have_count(
        2, timeout=60_000
    )
    expect(owner.locator('li[data-channel="sms"]', has_text="someone is at front-door")).to_have_count(1)

    executions = running.executions_when_done(2)
    assert_story_executions(executions)
    assert_story_outbox(running.outbox())
    view = page_of()
    view.goto(f"{running.url}/executions/")
    expect(view.locator("li.execution")).to_have_count(2)
    newest, oldest = view.locator("li.execution").all()
    assert newest.locator("li.state").all_inner_texts() == KNOWN_PATH
    assert oldest.locator("li.state").all_inner_texts() == UNKNOWN_PATH
    expect(oldest.locator(".badge")).to_have_text("SUCCEEDED")
    shot(view, "5-executions")


def y4m_video(path: Path, jpeg: bytes, frames: int = 10) -> Path:
    """A YUV4MPEG2 clip of a still picture, for Chromium's fake webcam."""
    picture = Image.open(io.BytesIO(jpeg)).convert("RGB")
    picture.thumbnail((640, 480))  # keep the face's proportions: letterbox, never stretch
    image = Image.new("RGB", (640, 480))
    image.paste(picture, ((640 - picture.width) // 2, (480 - picture.height) // 2))
    y, cb, cr = image.convert("YCbCr").split()
    chroma = [plane.resize((320, 240)).tobytes() for plane in (cb, cr)]
    with path.open("wb") as out:
        out.write(b"YUV4MPEG2 W640 H480 F10:1 Ip A1:1 C420jpeg\n")
        for _ in range(frames):
            out.write(b"FRAME\n" + y.tobytes() + chroma[0] + chroma[1])
    return path


@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs Chromium at {CHROMIUM}")
def test_the_camera_page_streams_a_webcam(browser: Any, running: Running, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    # GIVEN a webcam that films the visitor (Chromium's fake camera playing her photo)
    clip = y4m_video(tmp_path / "webcam.y4m", sample_faces.astronaut())
    webcam_browser = browser.browser_type.launch(
        executable_path=str(CHROMIUM),
        args=[
            *CHROMIUM_ARGS,
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={clip}",
        ],
    )
    try:
        context = webcam_browser.new_context(viewport={"width": 1100, "height": 900})
        camera = context.new_page()
        errors: list[str] = []
        camera.on("console", lambda m: errors.append(m.text) if _is_error(m) else None)
        camera.goto(f"{running.url}/camera/")
        # WHEN the page uses the webcam (allowed on this page only) and streams
        camera.get_by_label("Webcam").check()
        expect(camera.locator("#video")).to_be_visible()
        camera.get_by_role("button", name="Stream (1 frame/s)").click()
        # THEN its frames reach the stream with her face, and the owner is asked
        expect(camera.locator("#frame-log li", has_text="a face")).not_to_have_count(0, timeout=60_000)
        running.wait_for_sms(OWNER_PHONE, after=0)
        camera.get_by_role("button", name="Stop streaming").click()
        shot(camera, "6-webcam")
        assert errors == []
    finally:
        webcam_browser.close()
    unknown = running.app.stack.bus.events("UnknownFaceDetected")
    assert len(unknown) == 1 and unknown[0]["detail"]["frame"]["source"] == "s3"


def test_only_the_camera_page_may_use_the_camera(running: Running) -> None:
    import urllib.request

    with urllib.request.urlopen(f"{running.url}/camera/") as camera:  # noqa: S310 - 127.0.0.1
        assert camera.headers["Permissions-Policy"].startswith("camera=(self)")
        assert "script-src 'self'" in camera.headers["Content-Security-Policy"]
    with urllib.request.urlopen(f"{running.url}/outbox/") as outbox:  # noqa: S310 - 127.0.0.1
        assert outbox.headers["Permissions-Policy"].startswith("camera=()")


# ---------------------------------------------------------------------------- the index and the icon


def test_the_index_links_every_local_page(running: Running, page_of: Any) -> None:
    from playwright.sync_api import expect

    from smartdoor_local.story import HttpClient

    # GIVEN the local stack, WHEN someone opens the first URL the demo prints
    index = page_of()
    index.goto(f"{running.url}/")

    # THEN it links every page: camera, outbox, executions, keypad, and says where the owner page is
    pages = index.locator("#pages")
    for name, path in [
        ("Door keypad", "/door/?door=front-door"),
        ("Door camera", "/camera/"),
        ("Outbox", "/outbox/"),
        ("Workflow executions", "/executions/"),
    ]:
        link = pages.get_by_role("link", name=name, exact=True)
        expect(link).to_be_visible()
        assert link.evaluate("a => new URL(a.href).pathname + new URL(a.href).search") == path
    expect(pages).to_contain_text("no approval request yet")
    expect(pages.get_by_role("link", name="Owner's approval page")).to_have_count(0)
    shot(index, "0-index")

    # WHEN a visitor rings and the owner's SMS is in the outbox
    client = HttpClient(running.url)
    for _ in range(3):
        status, _ = client.post_frame("front-door", sample_faces.astronaut())
        assert status == 202
    approval_sms = running.wait_for_sms(OWNER_PHONE, after=0)
    link = LINK.search(approval_sms)
    assert link

    # THEN the index links the newest approval request, and each page it links opens
    index.reload()
    owner_link = pages.get_by_role("link", name="Owner's approval page")
    expect(owner_link).to_have_attribute("href", link.group(0).removeprefix(running.url))
    owner_link.click()
    expect(index.get_by_role("heading", name="Someone is at your door")).to_be_visible()
    for name, heading in [
        ("Door camera", "Door camera"),
        ("Outbox", "Outbox"),
        ("Workflow executions", "Workflow executions"),
        ("Door keypad", "Enter your passcode"),
    ]:
        index.goto(f"{running.url}/")
        index.locator("#pages").get_by_role("link", name=name, exact=True).click()
        expect(index.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    # (page_of fails the test on any console error: a page whose icon 404s would)


def test_every_page_has_an_icon(running: Running) -> None:
    from smartdoor_local.http_server import WEB_DIR

    for path, content_type in [("/favicon.ico", "image/x-icon"), ("/favicon.svg", "image/svg+xml")]:
        request = urllib.request.Request(running.url + path)  # noqa: S310 - 127.0.0.1
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            assert response.status == 200 and response.headers["Content-Type"] == content_type
            assert len(response.read()) > 100
    pages = sorted(WEB_DIR.rglob("index.html"))
    assert len(pages) == 6
    for page in pages:
        html = page.read_text()
        icons = re.findall(r'<link rel="icon" href="([^"]+)"', html)
        assert len(icons) == 2, page
        for href in icons:
            assert (page.parent / href).resolve().is_file(), (page, href)
