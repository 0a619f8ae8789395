"""The local stack's moto server, over HTTP on 127.0.0.1: loopback only, no web pages, and S3's
browser-upload policy on snapshot forms (what AWS S3 would refuse at the upload is refused).

The forms come from the running local server (`POST /doors/{doorId}/snapshots`), as a door
device gets them; the uploads go where the form says, to the local moto server."""

from __future__ import annotations

import base64
import io
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from smartdoor_local import sample_faces
from smartdoor_local.app import LocalApp
from smartdoor_local.console import Console
from smartdoor_local.device import multipart_form
from smartdoor_local.stack import LOCAL_ACCESS_KEY_ID, LOCAL_SECRET_ACCESS_KEY, LocalConfig

DOOR = "front-door"
SIX_MB = 6 * 1024 * 1024


@pytest.fixture(scope="module")
def app() -> Iterator[LocalApp]:
    with LocalApp(LocalConfig(), port=0, console=Console(io.StringIO())) as running:
        yield running


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    assert url.startswith("http://127.0.0.1:")
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def new_form(app: LocalApp) -> dict[str, Any]:
    status, body = post(f"{app.url}/doors/{DOOR}/snapshots", b"{}", {"Content-Type": "application/json"})
    assert status == 201, body
    upload: dict[str, Any] = json.loads(body)["upload"]
    assert upload["url"].startswith(str(app.stack.aws_endpoint))
    return upload


def upload(
    form: dict[str, Any],
    content: bytes,
    fields: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, str]:
    body, content_type = multipart_form(fields or form["fields"], "snapshot.jpg", content, "image/jpeg")
    status, answer = post(form["url"], body, {"Content-Type": content_type, **(headers or {})})
    return status, answer.decode(errors="replace")


def s3_over_http(app: LocalApp) -> Any:
    return boto3.client(
        "s3",
        region_name="us-east-1",
        endpoint_url=app.stack.aws_endpoint,
        aws_access_key_id=LOCAL_ACCESS_KEY_ID,
        aws_secret_access_key=LOCAL_SECRET_ACCESS_KEY,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def stored(app: LocalApp, key: str) -> bool:
    try:
        s3_over_http(app).head_object(Bucket=app.stack.names["photos"], Key=key)
    except ClientError:
        return False
    return True


def assert_refused(answer: tuple[int, str], status: int, code: str) -> None:
    assert answer[0] == status, answer
    assert f"<Code>{code}</Code>" in answer[1]


# ---------------------------------------------------------------------------- the form as given


def test_the_form_as_given_stores_the_snapshot(app: LocalApp) -> None:
    form = new_form(app)
    status, answer = upload(form, sample_faces.astronaut())
    assert status == 204, answer
    assert stored(app, form["fields"]["key"])


# ---------------------------------------------------------------------------- one test per condition


def test_a_file_over_the_size_range_is_entity_too_large(app: LocalApp) -> None:
    form = new_form(app)
    assert_refused(upload(form, b"\xff\xd8\xff" + b"\0" * SIX_MB), 400, "EntityTooLarge")
    assert not stored(app, form["fields"]["key"])


def test_an_empty_file_is_entity_too_small(app: LocalApp) -> None:
    form = new_form(app)
    assert_refused(upload(form, b""), 400, "EntityTooSmall")
    assert not stored(app, form["fields"]["key"])


def test_another_content_type_is_refused(app: LocalApp) -> None:
    form = new_form(app)
    fields = {**form["fields"], "Content-Type": "text/html"}
    assert_refused(upload(form, b"<script>alert(1)</script>", fields), 403, "AccessDenied")
    assert not stored(app, form["fields"]["key"])


@pytest.mark.parametrize(
    "key", ["snapshots/back-door/1764770000000-0123456789abcdef.jpg", "visits/v1/photo.jpg"]
)
def test_a_key_other_than_the_forms_is_refused(app: LocalApp, key: str) -> None:
    form = new_form(app)
    fields = {**form["fields"], "key": key}
    assert_refused(upload(form, sample_faces.astronaut(), fields), 403, "AccessDenied")
    assert not stored(app, key)


def test_a_key_outside_a_starts_with_condition_is_refused(app: LocalApp) -> None:
    # GIVEN a form (signed with the stack's key) for any key under snapshots/front-door/
    s3 = s3_over_http(app)
    bucket = app.stack.names["photos"]
    form = s3.generate_presigned_post(
        Bucket=bucket,
        Key="snapshots/front-door/${filename}",
        Conditions=[["starts-with", "$key", "snapshots/front-door/"]],
    )
    inside = {**form["fields"], "key": "snapshots/front-door/inside.jpg"}
    outside = {**form["fields"], "key": "visits/outside.jpg"}
    # THEN a key under the prefix is stored, one elsewhere is refused
    assert upload(form, sample_faces.astronaut(), inside)[0] == 204
    assert_refused(upload(form, sample_faces.astronaut(), outside), 403, "AccessDenied")
    assert not stored(app, "visits/outside.jpg")


def test_an_expired_form_is_refused(app: LocalApp) -> None:
    # GIVEN a form signed with the stack's key that expired a minute ago
    form = s3_over_http(app).generate_presigned_post(
        Bucket=app.stack.names["photos"], Key="snapshots/front-door/expired.jpg", ExpiresIn=-60
    )
    answer = upload(form, sample_faces.astronaut())
    assert_refused(answer, 403, "AccessDenied")
    assert "Policy expired" in answer[1]
    assert not stored(app, "snapshots/front-door/expired.jpg")


def test_a_changed_signature_is_refused(app: LocalApp) -> None:
    form = new_form(app)
    signature = form["fields"]["x-amz-signature"]
    fields = {**form["fields"], "x-amz-signature": ("0" if signature[0] != "0" else "1") + signature[1:]}
    assert_refused(upload(form, sample_faces.astronaut(), fields), 403, "SignatureDoesNotMatch")
    assert not stored(app, form["fields"]["key"])


def test_a_policy_rewritten_without_its_signature_is_refused(app: LocalApp) -> None:
    # GIVEN the form's policy with a larger size range, re-encoded, and the original signature
    form = new_form(app)
    policy = json.loads(base64.b64decode(form["fields"]["policy"]))
    policy["conditions"] = [
        ["content-length-range", 1, 10 * SIX_MB] if isinstance(c, list) else c for c in policy["conditions"]
    ]
    fields = {**form["fields"], "policy": base64.b64encode(json.dumps(policy).encode()).decode()}
    assert_refused(upload(form, b"\xff\xd8\xff" + b"\0" * SIX_MB, fields), 403, "SignatureDoesNotMatch")
    assert not stored(app, form["fields"]["key"])


def test_a_form_without_policy_is_refused(app: LocalApp) -> None:
    form = new_form(app)
    fields = {k: v for k, v in form["fields"].items() if k not in {"policy", "x-amz-signature"}}
    assert_refused(upload(form, sample_faces.astronaut(), fields), 403, "AccessDenied")
    assert not stored(app, form["fields"]["key"])


def test_a_field_the_policy_does_not_name_is_refused(app: LocalApp) -> None:
    form = new_form(app)
    fields = {**form["fields"], "x-amz-meta-owner": "someone", "acl": "public-read"}
    answer = upload(form, sample_faces.astronaut(), fields)
    assert_refused(answer, 403, "AccessDenied")
    assert "Extra input fields: acl, x-amz-meta-owner" in answer[1]
    assert not stored(app, form["fields"]["key"])


# ---------------------------------------------------------------------------- the moto server's reach


def test_a_web_page_cannot_use_the_moto_server(app: LocalApp) -> None:
    form = new_form(app)
    status, body = upload(form, sample_faces.astronaut(), headers={"Origin": "https://attacker.example"})
    assert status == 403 and json.loads(body) == {"error": "this endpoint is not for web pages"}
    assert not stored(app, form["fields"]["key"])


def test_the_moto_server_answers_only_to_its_loopback_host(app: LocalApp) -> None:
    form = new_form(app)
    port = urlsplit(form["url"]).port
    status, body = upload(form, sample_faces.astronaut(), headers={"Host": f"attacker.example:{port}"})
    assert status == 421 and "error" in json.loads(body)
    assert not stored(app, form["fields"]["key"])


def listening_addresses(port: int) -> set[str]:
    """The local addresses this machine listens on at `port` (Linux's socket table, state LISTEN)."""
    addresses = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, port_hex = local.rsplit(":", 1)
            if state == "0A" and int(port_hex, 16) == port:
                addresses.add(address)
    return addresses


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's socket table")
@pytest.mark.parametrize("which", ["local server", "moto server"])
def test_both_servers_listen_on_127_0_0_1_only(app: LocalApp, which: str) -> None:
    url = app.url if which == "local server" else str(app.stack.aws_endpoint)
    port = urlsplit(url).port
    assert urlsplit(url).hostname == "127.0.0.1" and port is not None
    # 127.0.0.1 in the kernel's byte order, not 00000000 (every address)
    assert listening_addresses(port) == {"0100007F"}
