"""The smartdoor command's owner tools (enrol, visitors list, visitors forget) against a running
local stack, and how it finds a deployed stack (--aws) from the CloudFormation outputs.

The local stack runs in this process (LocalApp on free ports); the command finds it through
GET /local/stack and talks to its moto endpoint over HTTP, as it would from another terminal.
"""

from __future__ import annotations

import io
import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from PIL import Image

from smartdoor_local import sample_faces
from smartdoor_local.app import LocalApp
from smartdoor_local.cli import main
from smartdoor_local.stack import LocalConfig
from smartdoor_local.story import HttpClient
from smartdoor_local.targets import TargetUnavailable, aws_names, stack_outputs
from tests.fakes.images import huge_jpeg, huge_png

PHONE = "+15550100042"


@pytest.fixture(scope="module")
def app() -> Iterator[LocalApp]:
    with LocalApp(LocalConfig(), port=0) as running:
        yield running


@pytest.fixture
def port(app: LocalApp) -> Iterator[int]:
    yield app.server.port
    # Every test leaves the collection as it found it: empty.
    for visitor in app.stack.client("dynamodb").scan(TableName=app.stack.names["visitors"])["Items"]:
        main(["visitors", "forget", visitor["visitorId"]["S"], "--port", str(app.server.port)])


def photo_file(tmp_path: Path, data: bytes, name: str = "photo.jpg") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def stored(app: LocalApp) -> dict[str, Any]:
    """Everything an enrolment could have written: visitors, faces, visitor photos."""
    stack = app.stack
    dynamodb = stack.client("dynamodb")
    objects = stack.client("s3").list_objects_v2(Bucket=stack.names["photos"], Prefix="visitors/")
    return {
        "visitors": dynamodb.scan(TableName=stack.names["visitors"])["Items"],
        "faces": dynamodb.scan(TableName=stack.names["faces"])["Items"],
        "photos": [item["Key"] for item in objects.get("Contents", [])],
    }


def wait_for_sms(app: LocalApp, phone: str, after: int, timeout: float = 30) -> str:
    message = app.stack.outbox.wait_for(
        lambda m: m.channel == "sms" and m.to == phone, after=after, timeout=timeout
    )
    return message.body


def side_by_side(*jpegs: bytes) -> bytes:
    images = [Image.open(io.BytesIO(jpeg)).convert("RGB").resize((400, 400)) for jpeg in jpegs]
    canvas = Image.new("RGB", (400 * len(images), 400))
    for index, image in enumerate(images):
        canvas.paste(image, (400 * index, 0))
    buffer = io.BytesIO()
    canvas.save(buffer, format="JPEG")
    return buffer.getvalue()


class TestEnrol:
    def test_an_enrolled_visitor_is_known_at_the_door(
        self, app: LocalApp, port: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        photo = photo_file(tmp_path, sample_faces.astronaut())
        status, out, err = run(
            capsys, "enrol", "--name", "Eileen Collins", "--phone", PHONE, photo, "--port", str(port)
        )
        assert (status, err) == (0, "")
        assert out.startswith("Enrolled Eileen Collins as vis-") and "+1*******042" in out
        assert PHONE not in out
        visitor_id = out.split(" as ")[1].split()[0]

        everything = stored(app)
        (visitor,) = everything["visitors"]
        assert visitor["name"] == {"S": "Eileen Collins"} and visitor["phone"] == {"S": PHONE}
        assert visitor["doorId"] == {"S": "front-door"}
        assert [f["externalImageId"]["S"] for f in everything["faces"]] == [visitor_id]
        assert everything["photos"] == [f"visitors/{visitor_id}/enrolment.jpg"]

        # The camera sees her (another photo): known, a code goes straight to her phone.
        sent = len(app.stack.outbox.messages())
        client = HttpClient(app.url)
        for _ in range(2):
            status, answer = client.post_frame("front-door", sample_faces.astronaut_again())
            assert status == 202 and answer["faces"][0]["matches"][0]["visitorId"] == visitor_id
            time.sleep(0.2)
        assert re.search(r"code \d{6} for front-door", wait_for_sms(app, PHONE, sent))
        known = app.stack.bus.events("KnownFaceDetected")
        assert known and known[-1]["detail"]["visitorId"] == visitor_id

    @pytest.mark.parametrize(
        ("photo", "problem"),
        [
            (sample_faces.no_face(), "there is no face in the photo"),
            (
                side_by_side(sample_faces.astronaut(), sample_faces.astronaut_again()),
                "the photo shows 2 faces",
            ),
            (b"GIF89a not a photo", "the photo cannot be used: image is not a JPEG or PNG picture"),
        ],
        ids=["no face", "two faces", "not a picture"],
    )
    def test_a_photo_that_cannot_make_a_visitor_is_refused_and_stores_nothing(
        self,
        app: LocalApp,
        port: int,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        photo: bytes,
        problem: str,
    ) -> None:
        path = photo_file(tmp_path, photo)
        status, out, err = run(
            capsys, "enrol", "--name", "Someone", "--phone", PHONE, path, "--port", str(port)
        )
        assert (status, out) == (2, "")
        assert err == f"smartdoor enrol: error: {problem}\n" or (
            problem in err and err.startswith("smartdoor enrol")
        )
        assert stored(app) == {"visitors": [], "faces": [], "photos": []}

    @pytest.mark.parametrize(
        ("photo", "size"),
        [(huge_png(20_000, 20_000), "20000x20000"), (huge_jpeg(15_000, 15_000), "15000x15000")],
        ids=["a 400 MP PNG of 49 kB", "a 225 MP JPEG"],
    )
    def test_a_photo_past_the_pixel_limit_is_one_clear_line_and_stores_nothing(
        self,
        app: LocalApp,
        port: int,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        photo: bytes,
        size: str,
    ) -> None:
        # GIVEN a photo past Pillow's decompression-bomb limit (its header says so; it is small)
        path = photo_file(tmp_path, photo)
        # WHEN it is enrolled
        status, out, err = run(
            capsys, "enrol", "--name", "Someone", "--phone", PHONE, path, "--port", str(port)
        )
        # THEN the command says why in one line (no traceback) and nothing is stored
        assert (status, out) == (2, "")
        assert err == (
            f"smartdoor enrol: error: the photo cannot be used: image is {size}: too many pixels "
            "(the limit is 40 MP)\n"
        )
        assert stored(app) == {"visitors": [], "faces": [], "photos": []}

    @pytest.mark.parametrize(
        ("argv", "problem"),
        [
            (["--name", "Eileen", "--phone", "5550100042"], "--phone must be in E.164 form"),
            (["--name", "Eileen", "--phone", "+0123"], "--phone must be in E.164 form"),
            # Exactly E.164: `--phone $'+15550100042\n'` was once stored and texted.
            (["--name", "Eileen", "--phone", "+15550100042\n"], "--phone must be in E.164 form"),
            (["--name", "Eileen", "--phone", "+15550100042 "], "--phone must be in E.164 form"),
            (["--name", "Eileen", "--phone", " +15550100042"], "--phone must be in E.164 form"),
            (["--name", "Eileen", "--phone", "+15550100042\t"], "--phone must be in E.164 form"),
            (["--name", "   ", "--phone", PHONE], "the name must not be blank"),
            (["--name", "x" * 65, "--phone", PHONE], "the name must be at most 64 characters"),
        ],
    )
    def test_a_bad_name_or_phone_is_refused_before_anything_is_read(
        self,
        app: LocalApp,
        port: int,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        argv: list[str],
        problem: str,
    ) -> None:
        photo = photo_file(tmp_path, sample_faces.astronaut())
        status, out, err = run(capsys, "enrol", *argv, photo, "--port", str(port))
        assert (status, out) == (2, "")
        assert problem in err
        assert "5550100042" not in err  # the number typed is not echoed
        assert stored(app) == {"visitors": [], "faces": [], "photos": []}

    def test_a_missing_photo_file_is_a_clear_error(
        self, port: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        missing = str(tmp_path / "nobody.jpg")
        status, _, err = run(
            capsys, "enrol", "--name", "Eileen", "--phone", PHONE, missing, "--port", str(port)
        )
        assert status == 2
        assert err == f"smartdoor enrol: error: {missing}: no such photo file\n"
        status, _, err = run(
            capsys, "enrol", "--name", "Eileen", "--phone", PHONE, str(tmp_path), "--port", str(port)
        )
        assert status == 2 and "not a file" in err


class TestVisitors:
    def test_list_shows_visitors_with_masked_phones(
        self, port: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert run(capsys, "visitors", "list", "--port", str(port)) == (0, "No known visitors.\n", "")
        photo = photo_file(tmp_path, sample_faces.astronaut())
        run(capsys, "enrol", "--name", "Eileen Collins", "--phone", PHONE, photo, "--port", str(port))
        status, out, _ = run(capsys, "visitors", "list", "--port", str(port))
        assert status == 0
        header, row = out.splitlines()
        assert header.split() == ["VISITOR", "ID", "NAME", "PHONE", "FACES", "CREATED"]
        assert "Eileen Collins" in row and "+1*******042" in row and PHONE not in out
        status, out, _ = run(capsys, "visitors", "list", "--json", "--port", str(port))
        (listed,) = [json.loads(line) for line in out.splitlines()]
        assert listed["name"] == "Eileen Collins" and listed["phone"] == "+1*******042"
        assert listed["faces"] == 1 and listed["visitorId"].startswith("vis-")

    def test_forget_removes_faces_record_photos_codes_and_claims(
        self, app: LocalApp, port: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        photo = photo_file(tmp_path, sample_faces.astronaut())
        _, out, _ = run(
            capsys, "enrol", "--name", "Eileen Collins", "--phone", PHONE, photo, "--port", str(port)
        )
        visitor_id = out.split(" as ")[1].split()[0]
        # She rings (a new visit: the earlier tests' visit has ended) and gets a code...
        time.sleep(app.config.visit_gap_seconds)
        sent = len(app.stack.outbox.messages())
        client = HttpClient(app.url)
        for _ in range(2):
            client.post_frame("front-door", sample_faces.astronaut())
            time.sleep(0.2)
        found = re.search(r"code (\d{6}) for", wait_for_sms(app, PHONE, sent))
        assert found is not None
        code = found.group(1)
        wait_until_quiet(app)

        status, out, err = run(capsys, "visitors", "forget", visitor_id, "--port", str(port))
        assert (status, err) == (0, "")
        # Her code, its pointer and her hourly SMS counter; her visit's event claim, the
        # known-visitor workflow's claim and her place in the door's current visit.
        assert out == (
            f"Forgot Eileen Collins ({visitor_id}): erased 1 faces, 1 photos, 3 passcode items, "
            "3 visit items and the record; their passcode no longer works.\n"
        )
        assert stored(app) == {"visitors": [], "faces": [], "photos": []}
        # ... which no longer opens the door, and the camera no longer knows her.
        assert client.post_json("/doors/front-door/unlock", {"otp": code})[0] == 403
        status, answer = client.post_frame("front-door", sample_faces.astronaut())
        assert status == 202 and answer["faces"][0]["matches"] == []

    def test_forgetting_someone_unknown_is_a_clear_error(
        self, port: int, capsys: pytest.CaptureFixture[str]
    ) -> None:
        status, out, err = run(capsys, "visitors", "forget", "vis-0000000000000000", "--port", str(port))
        assert (status, out) == (2, "")
        assert "there is no visitor vis-0000000000000000" in err


def wait_until_quiet(app: LocalApp, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while any(e["status"] == "RUNNING" for e in app.stack.executions()):
        assert time.monotonic() < deadline, "workflows still running"
        time.sleep(0.1)


def test_without_a_running_local_stack_the_command_says_how_to_start_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    status, out, err = run(capsys, "visitors", "list", "--port", str(free))
    assert (status, out) == (1, "")
    assert f"no local stack answers at http://127.0.0.1:{free}" in err and "smartdoor local" in err


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        (["--lock", "zigbee"], "invalid choice: 'zigbee'"),
        (["--lock-seconds", "10"], "lock seconds are a whole number 25-300"),
        (["--lock", "webhook", "--lock-webhook-url", "ftp://lock"], "an http(s):// URL"),
        (["--lock-webhook-url", "http://127.0.0.1:8123/api/webhook/x"], "goes with --lock webhook"),
        (["--lock", "none", "--door-agent"], "need --lock iot"),
        (["--door-video", "/nonexistent/porch.avi"], "no video file"),
        (["--door-agent", "--door-camera", "0"], "not allowed with argument"),
    ],
)
def test_the_local_lock_options_refuse_what_cannot_work(
    capsys: pytest.CaptureFixture[str], arguments: list[str], said: str
) -> None:
    # argparse exits 2 on a bad value; the command returns 2 on a bad combination: nothing starts
    try:
        status = main(["local", "--no-story", "--port", "1", *arguments])
    except SystemExit as exit:
        status = int(exit.code or 0)
    assert status == 2
    assert said in capsys.readouterr().err


class TestDeployedStack:
    OUTPUTS = {
        "VisitorsTableName": "SmartDoor-Visitors-ABC",
        "PasscodesTableName": "SmartDoor-Passcodes-DEF",
        "PhotosBucketName": "smartdoor-photos-xyz",
        "CollectionId": "SmartDoor-back-door",
        "DoorPageUrl": "https://d111.cloudfront.net/door/?door=back-door",
    }

    @pytest.fixture
    def cloudformation(self) -> Iterator[Any]:
        with mock_aws():
            client = boto3.client("cloudformation", region_name="us-east-1")
            template = {
                "Resources": {"Alerts": {"Type": "AWS::SNS::Topic"}},
                "Outputs": {key: {"Value": value} for key, value in self.OUTPUTS.items()},
            }
            client.create_stack(StackName="SmartDoor", TemplateBody=json.dumps(template))
            yield client
            # moto may be shared with the module's local stack: leave no stack behind.
            client.delete_stack(StackName="SmartDoor")

    def test_names_come_from_the_stacks_outputs(self, cloudformation: Any) -> None:
        names = aws_names(stack_outputs("SmartDoor", "us-east-1"), "SmartDoor")
        assert names.visitors_table == "SmartDoor-Visitors-ABC"
        assert names.passcodes_table == "SmartDoor-Passcodes-DEF"
        assert names.photos_bucket == "smartdoor-photos-xyz"
        assert names.collection_id == "SmartDoor-back-door"
        assert names.door_id == "back-door"

    def test_a_missing_stack_or_output_is_a_clear_error(
        self, cloudformation: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        with pytest.raises(TargetUnavailable, match="cannot read stack Elsewhere"):
            stack_outputs("Elsewhere", "us-east-1")
        with pytest.raises(TargetUnavailable, match="no output CollectionId"):
            aws_names({"VisitorsTableName": "t", "PhotosBucketName": "b"}, "SmartDoor")
        status, out, err = run(
            capsys, "visitors", "list", "--aws", "--stack-name", "Elsewhere", "--region", "us-east-1"
        )
        assert (status, out) == (1, "")
        assert "cannot read stack Elsewhere" in err


@pytest.mark.parametrize(
    ("arguments", "lock", "agent"),
    [
        ([], "none", False),  # as CDK's default: no lock, the keypad's plain "Door open"
        (["--door-agent"], "iot", True),  # make demo: the agent's relay is the lock
        (["--door-camera", "0"], "iot", True),
        (["--lock", "iot"], "iot", False),  # a real agent of your own joins the broker
        (["--lock", "webhook"], "webhook", False),
    ],
)
def test_the_local_lock_is_none_unless_asked_for_or_the_door_agent_runs(
    monkeypatch: pytest.MonkeyPatch, arguments: list[str], lock: str, agent: bool
) -> None:
    import smartdoor_local.app

    served: dict[str, Any] = {}

    def serve(config: LocalConfig, **options: Any) -> int:
        served.update(config=config, **options)
        return 0

    monkeypatch.setattr(smartdoor_local.app, "serve", serve)
    assert main(["local", "--no-story", "--port", "1", *arguments]) == 0
    assert served["config"].lock == lock
    assert (served["door_agent"] is not None) == agent
