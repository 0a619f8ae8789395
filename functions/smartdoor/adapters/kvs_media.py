"""Kinesis Video Streams' archived-media APIs (GetImages, ListFragments) on their data endpoints.

Each API of each stream is served from its own data endpoint (GetDataEndpoint with the API's
name); `KvsMedia` looks each one up once per stream, API and process, and hands out an
archived-media client bound to it. Calls made through `KvsMedia.call` surface throttling (KVS
says ClientLimitExceededException) and 5xx as `TransientError`; other errors are unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from smartdoor.adapters.aws import client, transient_errors_as
from smartdoor.errors import TransientError

_KVS_THROTTLING = "ClientLimitExceededException"


def utc_datetime(seconds: float) -> datetime:
    """Epoch seconds as the aware datetime KVS timestamps are sent as."""
    return datetime.fromtimestamp(seconds, tz=UTC)


class KvsMedia:
    """GetDataEndpoint once per (stream, API), then archived-media clients on those endpoints."""

    def __init__(
        self,
        kvs_client: Any | None = None,
        archived_media_client: Callable[[str], Any] | None = None,
    ) -> None:
        self._kvs = kvs_client
        self._archived_media_client = archived_media_client or (
            lambda endpoint: client("kinesis-video-archived-media", endpoint_url=endpoint)
        )
        self._endpoints: dict[tuple[str, str], str] = {}

    @property
    def _kvs_client(self) -> Any:
        return self._kvs or client("kinesisvideo")

    def call(self, operation: Callable[..., Any], **params: Any) -> Any:
        try:
            with transient_errors_as(TransientError):
                return operation(**params)
        except TransientError:
            raise
        except Exception as error:
            code = getattr(error, "response", {}).get("Error", {}).get("Code", "")
            if code == _KVS_THROTTLING:
                raise TransientError(f"{code}: KVS is throttling this client") from error
            raise

    def media(self, stream_arn: str, api_name: str) -> Any:
        """An archived-media client on the stream's data endpoint for `api_name` (e.g. GET_IMAGES)."""
        key = (stream_arn, api_name)
        if key not in self._endpoints:
            response = self.call(self._kvs_client.get_data_endpoint, StreamARN=stream_arn, APIName=api_name)
            self._endpoints[key] = response["DataEndpoint"]
        return self._archived_media_client(self._endpoints[key])
