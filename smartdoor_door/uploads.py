"""The door device routes over HTTP: the ring, and snapshots through a presigned S3 POST.

`POST {api}/doors/{doorId}/ring` (202) and `POST {api}/doors/{doorId}/snapshots` (201, a form),
then the JPEG to the form's URL as multipart/form-data with exactly the form's fields and the
file last (docs/doorbell.md). Connection errors, timeouts, 429 and 5xx are retried with
exponential backoff (honouring Retry-After); after the last attempt ApiUnreachable says what
was tried. A snapshot retry asks for a new form: a form lives 60 seconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests

from smartdoor_door.config import ApiConfig

logger = logging.getLogger(__name__)
TIMEOUT_SECONDS = 10
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


class ApiError(Exception):
    """The API or S3 refused a request (not worth retrying as it is)."""


class ApiUnreachable(ApiError):
    """Every attempt failed to reach the API (or it kept answering 5xx/429)."""


class _Retry(Exception):
    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.wait = wait


class Auth(Protocol):
    def headers(self, method: str, url: str, body: bytes) -> dict[str, str]: ...


@dataclass(frozen=True)
class NoAuth:
    def headers(self, method: str, url: str, body: bytes) -> dict[str, str]:
        return {}


@dataclass(frozen=True)
class ApiKeyAuth:
    key: str = field(repr=False)

    def headers(self, method: str, url: str, body: bytes) -> dict[str, str]:
        return {"x-api-key": self.key}


@dataclass(frozen=True)
class IamAuth:
    """SigV4 for `execute-api` with the usual AWS credential chain (needs boto3: the aws extra)."""

    region: str

    def headers(self, method: str, url: str, body: bytes) -> dict[str, str]:
        import boto3
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        credentials = boto3.session.Session().get_credentials()
        if credentials is None:
            raise ApiError("api.auth is iam but no AWS credentials were found (environment, profile, role)")
        request = AWSRequest(method=method, url=url, data=body, headers={"Content-Type": "application/json"})
        SigV4Auth(credentials.get_frozen_credentials(), "execute-api", self.region).add_auth(request)
        return dict(request.headers.items())


def auth_for(api: ApiConfig) -> Auth:
    if api.auth == "apiKey":
        return ApiKeyAuth(api.api_key)
    if api.auth == "iam":
        return IamAuth(api.region or _region_of(api.url))
    return NoAuth()


def _region_of(url: str) -> str:
    host = url.split("//", 1)[-1].split("/", 1)[0]
    parts = host.split(".")
    return parts[2] if len(parts) > 3 and parts[1] == "execute-api" else ""


@dataclass
class Backoff:
    """Attempts and waits: 1 s, 2 s, 4 s ... at most `max_wait` (a Retry-After wins, bounded)."""

    attempts: int = 5
    first_wait: float = 1.0
    max_wait: float = 30.0
    sleep: Callable[[float], None] = time.sleep

    def wait(self, attempt: int, hint: float | None) -> float:
        wait = hint if hint is not None else self.first_wait * 2**attempt
        return min(max(wait, 0.0), self.max_wait)


class DoorApi:
    def __init__(
        self,
        base_url: str,
        door_id: str,
        auth: Auth | None = None,
        *,
        backoff: Backoff | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.door_id = door_id
        self._auth = auth or NoAuth()
        self._backoff = backoff or Backoff()
        self._session = session or requests.Session()

    def ring(self) -> dict[str, Any]:
        """The doorbell: one accepted ring (202)."""
        return self._retrying("ring", lambda: self._post_route("ring", expected=202))

    def upload_snapshot(self, jpeg: bytes) -> str:
        """One JPEG through a fresh presigned POST form; the S3 key it was stored under."""
        return self._retrying("snapshot", lambda: self._upload_once(jpeg))

    def _retrying[T](self, what: str, attempt_once: Callable[[], T]) -> T:
        reason = ""
        for attempt in range(self._backoff.attempts):
            try:
                return attempt_once()
            except _Retry as retry:
                reason = str(retry)
                if attempt + 1 < self._backoff.attempts:
                    wait = self._backoff.wait(attempt, retry.wait)
                    logger.warning("%s: %s; retrying in %.1f s", what, reason, wait)
                    self._backoff.sleep(wait)
        raise ApiUnreachable(
            f"{what}: the API at {self.base_url} is unreachable after {self._backoff.attempts} attempts "
            f"({reason})"
        )

    def _post_route(self, route: str, expected: int) -> dict[str, Any]:
        url = f"{self.base_url}/doors/{self.door_id}/{route}"
        body = b"{}"
        headers = {"Content-Type": "application/json", **self._auth.headers("POST", url, body)}
        response = self._send(url, data=body, headers=headers)
        if response.status_code != expected:
            raise ApiError(f"POST {url} answered {response.status_code}: {_excerpt(response)}")
        answer = response.json()
        if not isinstance(answer, dict):
            raise ApiError(f"POST {url} answered {expected} without a JSON object")
        return answer

    def _upload_once(self, jpeg: bytes) -> str:
        form = self._post_route("snapshots", expected=201)
        try:
            upload, key = form["upload"], str(form["key"])
            url, fields, file_field = upload["url"], dict(upload["fields"]), upload.get("fileField", "file")
        except (KeyError, TypeError) as error:
            raise ApiError(f"the snapshot form lacks {error}") from None
        response = self._send(
            url, data=fields, files={file_field: ("snapshot.jpg", jpeg, "image/jpeg")}, headers={}
        )
        if response.status_code not in (200, 201, 204):
            raise ApiError(f"S3 refused the snapshot ({response.status_code}): {_excerpt(response)}")
        return key

    def _send(self, url: str, **kwargs: Any) -> requests.Response:
        try:
            response = self._session.post(url, timeout=TIMEOUT_SECONDS, **kwargs)
        except requests.ConnectionError as error:
            raise _Retry(f"cannot connect to {_host(url)} ({type(error).__name__})") from None
        except requests.Timeout:
            raise _Retry(f"{_host(url)} did not answer within {TIMEOUT_SECONDS} s") from None
        if response.status_code in RETRYABLE_STATUSES:
            raise _Retry(f"{_host(url)} answered {response.status_code}", _retry_after(response))
        return response


def _host(url: str) -> str:
    return url.split("//", 1)[-1].split("/", 1)[0]


def _retry_after(response: requests.Response) -> float | None:
    try:
        return float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None


def _excerpt(response: requests.Response) -> str:
    return response.text[:200].strip() or "(no body)"
