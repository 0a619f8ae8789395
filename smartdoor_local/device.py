"""A door device simulator: ring the doorbell, or send a snapshot, the way a real device must.

    smartdoor device ring [--door front-door] [--api URL] [--api-key KEY | --iam]
    smartdoor device snapshot PHOTO.jpg [--door front-door] [--api URL] [--api-key KEY | --iam]

(`python -m smartdoor_local.device ring|snapshot ...` is the same, for a device with only this
file's package.) `--api` is the API's base URL: the deployed stack's `ApiUrl` output
(`https://<id>.execute-api.<region>.amazonaws.com/v1`), or SMARTDOOR_API_URL; without either,
the running local stack (`smartdoor_local.discovery`). Device routes on AWS need a credential:

- `--api-key KEY` (or SMARTDOOR_API_KEY): sent as `x-api-key`; the key belongs to the devices'
  usage plan (throttled, with a daily quota). Get it with
  `aws apigateway get-api-key --api-key <DeviceApiKeyId output> --include-value`.
- `--iam`: the request is signed with SigV4 for `execute-api` using the usual AWS credential
  chain (environment, profile, instance role), for devices that hold IAM credentials (IoT
  credential provider, Greengrass).

`snapshot` checks the photo first (a JPEG, at most 5 MB) and sends nothing otherwise. It then
asks `POST /doors/{doorId}/snapshots` for an upload form and posts the file to S3 with the
form's fields (multipart/form-data, the file last, as S3 requires). S3 itself enforces the
form's conditions (one key, image/jpeg, at most 5 MB, 60 seconds).

Exit status: 0 done, 1 the API or S3 refused or could not be reached, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
MAX_SNAPSHOT_BYTES = 5 * 1024 * 1024  # smartdoor.domain.snapshots.MAX_SNAPSHOT_BYTES
JPEG_MAGIC = b"\xff\xd8\xff"
DOOR_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
EXECUTE_API_HOST = re.compile(r"^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$")
TIMEOUT_SECONDS = 15


class DeviceError(Exception):
    """What went wrong, for a person; `status` is the exit status."""

    def __init__(self, message: str, status: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"{}")
        except ValueError:
            return {}


class Http(Protocol):
    def send(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> HttpAnswer: ...


class UrllibHttp:
    """HTTP(S) with the standard library: nothing to install on a Raspberry Pi."""

    def send(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> HttpAnswer:
        if urlsplit(url).scheme not in {"http", "https"}:
            raise DeviceError(f"not an http(s) URL: {url}", EXIT_BAD_INPUT)
        request = urllib.request.Request(url, data=body, method=method, headers=dict(headers))  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
                return HttpAnswer(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as error:
            return HttpAnswer(error.code, dict(error.headers), error.read())
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            raise DeviceError(f"could not reach {urlsplit(url).netloc}: {error}") from error


# ---------------------------------------------------------------------------- signing


class Signer(Protocol):
    def sign(self, method: str, url: str, headers: dict[str, str], body: bytes) -> dict[str, str]: ...


class Unsigned:
    """The local stack: no credential."""

    def sign(self, method: str, url: str, headers: dict[str, str], body: bytes) -> dict[str, str]:
        return headers


@dataclass(frozen=True)
class ApiKey:
    key: str = field(repr=False)

    def sign(self, method: str, url: str, headers: dict[str, str], body: bytes) -> dict[str, str]:
        return {**headers, "x-api-key": self.key}


@dataclass(frozen=True)
class IamSigV4:
    """SigV4 for API Gateway (`execute-api`), as AWS_IAM authorization checks it."""

    credentials: Any = field(repr=False)  # botocore Credentials
    region: str

    @classmethod
    def from_environment(cls, api_url: str, region: str | None = None) -> IamSigV4:
        import boto3

        session = boto3.session.Session()
        credentials = session.get_credentials()
        if credentials is None:
            raise DeviceError(
                "--iam needs AWS credentials (environment, profile or instance role)", EXIT_BAD_INPUT
            )
        region = region or region_of(api_url) or session.region_name
        if not region:
            raise DeviceError("--iam needs the API's region: pass --region", EXIT_BAD_INPUT)
        return cls(credentials=credentials.get_frozen_credentials(), region=region)

    def sign(self, method: str, url: str, headers: dict[str, str], body: bytes) -> dict[str, str]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        request = AWSRequest(method=method, url=url, data=body, headers=headers)
        SigV4Auth(self.credentials, "execute-api", self.region).add_auth(request)
        return dict(request.headers.items())


def region_of(api_url: str) -> str | None:
    match = EXECUTE_API_HOST.match(urlsplit(api_url).hostname or "")
    return match.group(1) if match else None


# ---------------------------------------------------------------------------- the device


def multipart_form(
    fields: Mapping[str, str], file_name: str, content: bytes, content_type: str
) -> tuple[bytes, str]:
    """An S3 POST body: every form field, then the file (S3 ignores fields after the file)."""
    boundary = f"smartdoor-{uuid.uuid4().hex}"
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{file_name}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n".encode()
        + content
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def check_snapshot(content: bytes) -> None:
    if not content.startswith(JPEG_MAGIC):
        raise DeviceError("the photo is not a JPEG (snapshots must be image/jpeg)", EXIT_BAD_INPUT)
    if len(content) > MAX_SNAPSHOT_BYTES:
        raise DeviceError(
            f"the photo is {len(content)} bytes; snapshots are at most {MAX_SNAPSHOT_BYTES} bytes",
            EXIT_BAD_INPUT,
        )


@dataclass(frozen=True)
class SnapshotSent:
    key: str
    expires_at: str


class DoorDevice:
    def __init__(self, api_url: str, door_id: str, signer: Signer, http: Http | None = None) -> None:
        if not DOOR_ID.match(door_id):
            raise DeviceError("--door must be 1-64 of A-Z a-z 0-9 _ -", EXIT_BAD_INPUT)
        if urlsplit(api_url).scheme not in {"http", "https"} or not urlsplit(api_url).netloc:
            raise DeviceError(f"--api must be the API's base URL, not {api_url!r}", EXIT_BAD_INPUT)
        self._api = api_url.rstrip("/")
        self._door = door_id
        self._signer = signer
        self._http = http or UrllibHttp()

    def _call(self, route: str, expected: int) -> dict[str, Any]:
        url = f"{self._api}/doors/{quote(self._door, safe='')}/{route}"
        body = b"{}"
        headers = self._signer.sign("POST", url, {"Content-Type": "application/json"}, body)
        answer = self._http.send("POST", url, headers, body)
        payload = answer.json()
        if answer.status != expected:
            reason = (
                payload.get("error") or payload.get("message") or answer.body[:200].decode(errors="replace")
            )
            hint = " (check the API key or IAM credentials)" if answer.status in {401, 403} else ""
            raise DeviceError(f"POST /doors/{self._door}/{route} answered {answer.status}: {reason}{hint}")
        return dict(payload)

    def ring(self) -> dict[str, Any]:
        """The doorbell: starts the door's session, or extends the running one."""
        return self._call("ring", 202)

    def send_snapshot(self, content: bytes, file_name: str = "snapshot.jpg") -> SnapshotSent:
        check_snapshot(content)
        answer = self._call("snapshots", 201)
        try:
            upload = answer["upload"]
            url, fields = str(upload["url"]), {str(k): str(v) for k, v in upload["fields"].items()}
        except (KeyError, TypeError, AttributeError):
            raise DeviceError("the API's snapshot answer has no upload form") from None
        body, content_type = multipart_form(fields, Path(file_name).name, content, "image/jpeg")
        stored = self._http.send("POST", url, {"Content-Type": content_type}, body)
        if stored.status not in {200, 201, 204}:
            detail = re.search(rb"<Message>(.*?)</Message>", stored.body)
            message = detail.group(1).decode(errors="replace") if detail else f"HTTP {stored.status}"
            raise DeviceError(f"S3 refused the snapshot: {message}")
        return SnapshotSent(
            key=str(answer.get("key", fields.get("key", ""))), expires_at=str(answer.get("expiresAt", ""))
        )


# ---------------------------------------------------------------------------- command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m smartdoor_local.device", description="Play a Smart Door door device."
    )
    add_commands(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    return parser


def add_commands(commands: Any) -> None:
    """`ring` and `snapshot`, here and under `smartdoor device`."""
    ring = commands.add_parser("ring", help="press the doorbell (starts or extends the door's session)")
    snapshot = commands.add_parser("snapshot", help="send a JPEG (at most 5 MB) as an edge-device snapshot")
    snapshot.add_argument("photo", metavar="PHOTO.jpg")
    ring.set_defaults(device_command="ring")
    snapshot.set_defaults(device_command="snapshot")
    for command in (ring, snapshot):
        command.add_argument("--door", default="front-door", help="the door id (default front-door)")
        command.add_argument(
            "--api",
            default=os.environ.get("SMARTDOOR_API_URL"),
            help="the API base URL (SMARTDOOR_API_URL; default: the running local stack)",
        )
        auth = command.add_mutually_exclusive_group()
        auth.add_argument("--api-key", default=None, help="the devices' API key (SMARTDOOR_API_KEY)")
        auth.add_argument("--iam", action="store_true", help="sign with SigV4 using your AWS credentials")
        command.add_argument("--region", help="the API's region for --iam (default: from the URL)")


def _signer(args: argparse.Namespace) -> Signer:
    if args.iam:
        return IamSigV4.from_environment(args.api, args.region)
    key = args.api_key or os.environ.get("SMARTDOOR_API_KEY")
    return ApiKey(key) if key else Unsigned()


def main(argv: Sequence[str] | None = None, http: Http | None = None) -> int:
    return run(_parser().parse_args(argv), http)


def run(args: argparse.Namespace, http: Http | None = None) -> int:
    try:
        if not args.api:
            from smartdoor_local.discovery import SeveralStacks, local_url

            try:
                args.api = local_url()
            except (SeveralStacks, ValueError) as error:
                raise DeviceError(f"{error} (or pass --api)", EXIT_BAD_INPUT) from None
        device = DoorDevice(args.api, args.door, _signer(args), http)
        if args.device_command == "ring":
            answer = device.ring()
            print(
                f"Rang {args.door}: the doorbell session is starting (or was extended). {json.dumps(answer)}"
            )
        else:
            path = Path(args.photo)
            try:
                content = path.read_bytes()
            except OSError as error:
                raise DeviceError(f"cannot read {path}: {error.strerror}", EXIT_BAD_INPUT) from None
            sent = device.send_snapshot(content, path.name)
            print(f"Snapshot sent for {args.door}: s3 key {sent.key}")
    except DeviceError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.status
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
