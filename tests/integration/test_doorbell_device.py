"""The door device simulator against the local server running the real API handler (moto), with
S3 served by moto's server on 127.0.0.1: ring, snapshot upload through the presigned form, the
snapshot function on what landed, and how a device signs its requests."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from moto.server import ThreadedMotoServer

from api.handler import handler as api_handler
from process_snapshot.handler import handler as process_snapshot
from smartdoor.adapters.snapshot_store import S3SnapshotUploads
from smartdoor.domain.snapshots import parse_snapshot_key
from smartdoor_local.device import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    MAX_SNAPSHOT_BYTES,
    ApiKey,
    DeviceError,
    DoorDevice,
    HttpAnswer,
    IamSigV4,
    UrllibHttp,
    main,
    region_of,
)
from smartdoor_local.http_server import LocalServer, direct, smartdoor_api_routes
from tests.e2e.api_world import DOOR_ID, PHOTOS_BUCKET, ApiWorld, use_world_environment
from tests.fakes import FakeFaceEngine, FakeLambdaContext, make_jpeg
from tests.integration.test_snapshot_handler import object_created


@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@dataclass
class Stack:
    world: ApiWorld
    api_url: str
    requests: list[dict[str, Any]]


@pytest.fixture
def stack(aws: None, monkeypatch: pytest.MonkeyPatch, s3_server: str) -> Iterator[Stack]:
    world = ApiWorld.create()
    use_world_environment(world, monkeypatch)
    # The upload form points at moto's S3 server (on AWS: the bucket's regional endpoint).
    presigner = boto3.client(
        "s3", endpoint_url=s3_server, config=Config(signature_version="s3v4", s3={"addressing_style": "path"})
    )
    seen: list[dict[str, Any]] = []

    def api(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.append(event)
        return dict(
            api_handler(
                event, context, snapshot_forms=S3SnapshotUploads(PHOTOS_BUCKET, presigning_client=presigner)
            )
        )

    with LocalServer(api_routes=smartdoor_api_routes(direct(api))) as server:
        yield Stack(world=world, api_url=server.url, requests=seen)


def test_ring_with_an_api_key_puts_doorbell_pressed_on_the_bus(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["ring", "--door", DOOR_ID, "--api", stack.api_url, "--api-key", "device-key-123"])

    assert status == EXIT_OK
    assert "Rang front-door" in capsys.readouterr().out
    (request,) = stack.requests
    headers = {name.lower(): value for name, value in request["headers"].items()}
    assert headers["x-api-key"] == "device-key-123"
    (event,) = stack.world.bus_events()
    assert event["detail-type"] == "DoorbellPressed"
    assert event["detail"]["doorId"] == DOOR_ID and event["detail"]["reportedBy"] == "api"


def test_a_snapshot_goes_through_the_form_to_s3_and_is_searched(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    # GIVEN a JPEG on the device
    photo = tmp_path / "porch.jpg"
    photo.write_bytes(make_jpeg())

    # WHEN the device sends it
    assert main(["snapshot", str(photo), "--door", DOOR_ID, "--api", stack.api_url]) == EXIT_OK

    # THEN exactly that file landed under a snapshot key of the door
    s3 = boto3.client("s3")
    (stored,) = s3.list_objects_v2(Bucket=PHOTOS_BUCKET)["Contents"]
    parsed = parse_snapshot_key(stored["Key"])
    assert parsed is not None and parsed.door_id == DOOR_ID
    assert s3.get_object(Bucket=PHOTOS_BUCKET, Key=stored["Key"])["Body"].read() == photo.read_bytes()
    assert s3.head_object(Bucket=PHOTOS_BUCKET, Key=stored["Key"])["ContentType"] == "image/jpeg"

    # AND the snapshot function accepts it (S3 -> EventBridge -> process_snapshot), in an
    # environment of its own (the API's variables are not set in its process)
    from process_snapshot.handler import ProcessSnapshotSettings
    from smartdoor.settings import project_variables, variables

    for name in (set(os.environ) & project_variables()) - variables(ProcessSnapshotSettings):
        monkeypatch.delenv(name)
    stream = "face-search"
    boto3.client("kinesis").create_stream(StreamName=stream, ShardCount=1)
    for name, value in {
        "VISITS_TABLE": "smartdoor-visits",
        "FACE_SEARCH_STREAM_NAME": stream,
        "COLLECTION_ID": "faces",
    }.items():
        monkeypatch.setenv(name, value)
    from smartdoor.settings import reset_settings_cache
    from tests.integration.test_stream_match_visit_store import create_visits_table

    reset_settings_cache()
    create_visits_table()
    result = process_snapshot(
        object_created(PHOTOS_BUCKET, stored["Key"]), FakeLambdaContext(), engine=FakeFaceEngine()
    )
    assert result["status"] == "SEARCHED"


@pytest.mark.parametrize(
    ("content", "message"),
    [(make_jpeg(fmt="PNG"), "not a JPEG"), (b"\xff\xd8\xff" + b"\0" * MAX_SNAPSHOT_BYTES, "at most")],
    ids=["png", "over 5 MB"],
)
def test_a_bad_photo_is_refused_on_the_device_before_any_request(
    stack: Stack, tmp_path: Any, capsys: pytest.CaptureFixture[str], content: bytes, message: str
) -> None:
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(content)

    assert main(["snapshot", str(photo), "--api", stack.api_url]) == EXIT_BAD_INPUT
    assert message in capsys.readouterr().err
    assert stack.requests == []


def test_a_door_the_api_does_not_serve_is_a_clear_failure(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ring", "--door", "garage", "--api", stack.api_url]) == EXIT_FAILED
    assert "answered 404" in capsys.readouterr().err
    assert stack.world.bus_events() == []


def test_s3_refusing_the_upload_is_reported(tmp_path: Any) -> None:
    class Refusing:
        def __init__(self) -> None:
            self.calls: list[str] = []

        def send(self, method: str, url: str, headers: Any, body: bytes) -> HttpAnswer:
            self.calls.append(url)
            if "/snapshots" in url:
                form = {
                    "upload": {"url": "https://bucket.s3.amazonaws.com/", "fields": {"key": "k"}},
                    "key": "k",
                }
                return HttpAnswer(201, {}, json.dumps(form).encode())
            return HttpAnswer(
                400,
                {},
                b"<Error><Code>EntityTooLarge</Code>"
                b"<Message>Your proposed upload exceeds the maximum allowed size</Message></Error>",
            )

    device = DoorDevice("https://api.example.com/prod", DOOR_ID, ApiKey("k"), Refusing())
    with pytest.raises(DeviceError, match="exceeds the maximum allowed size"):
        device.send_snapshot(make_jpeg())


def test_iam_requests_carry_a_sigv4_signature_api_gateway_can_verify() -> None:
    # GIVEN a device with IAM credentials
    credentials = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    sent: list[tuple[str, str, dict[str, str], bytes]] = []

    class Recording:
        def send(self, method: str, url: str, headers: Any, body: bytes) -> HttpAnswer:
            sent.append((method, url, dict(headers), body))
            return HttpAnswer(202, {}, b'{"accepted": true}')

    api = "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/prod"
    DoorDevice(api, DOOR_ID, IamSigV4(credentials, region_of(api) or ""), Recording()).ring()

    # THEN the request is signed for execute-api in the API's region
    ((method, url, headers, body),) = sent
    authorization = headers["Authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/execute-api/aws4_request" in authorization
    # AND recomputing the signature from what was sent (as API Gateway does) gives the same one
    request = AWSRequest(
        method=method, url=url, data=body, headers={k: v for k, v in headers.items() if k != "Authorization"}
    )
    request.context["timestamp"] = headers["X-Amz-Date"]
    signer = SigV4Auth(credentials, "execute-api", "eu-west-1")
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    assert authorization.endswith(f"Signature={expected}")


def test_the_region_comes_from_the_execute_api_host() -> None:
    assert region_of("https://abc123.execute-api.ap-southeast-2.amazonaws.com/prod") == "ap-southeast-2"
    assert region_of("http://127.0.0.1:8080") is None


@pytest.mark.parametrize(
    "argv",
    [
        ["ring", "--api", "ftp://example.com"],
        ["ring", "--api", "http://127.0.0.1:1", "--door", "a/b"],
    ],
    ids=["not http", "bad door"],
)
def test_bad_arguments_are_exit_status_2(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SMARTDOOR_API_URL", raising=False)
    assert main(argv) == EXIT_BAD_INPUT


def test_without_api_the_device_talks_to_the_running_local_stack(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN no --api and no SMARTDOOR_API_URL; the local stack's port comes from SMARTDOOR_PORT
    monkeypatch.delenv("SMARTDOOR_API_URL", raising=False)
    monkeypatch.setenv("SMARTDOOR_PORT", "9")
    # WHEN the device rings THEN it went to that local stack (nothing listens there)
    assert main(["ring"], http=UrllibHttp()) == EXIT_FAILED
    assert "could not reach 127.0.0.1:9" in capsys.readouterr().err


def test_an_unreachable_api_is_exit_status_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ring", "--api", "http://127.0.0.1:9"], http=UrllibHttp()) == EXIT_FAILED
    assert "could not reach" in capsys.readouterr().err
