"""Photo links the local stack can serve: what S3 presigned GET URLs are on AWS.

The owner page and the owner's email show visit photos through short-lived signed links. On
AWS they point at S3; locally the photos live in moto's S3, which a browser cannot reach (and
the pages' CSP allows images from the site itself). So the task functions and the API get
`LocalPhotoLinks` instead of the S3 photo store's presigner: a link is

    <site>/local/photos/<key>?expires=<epoch seconds>&signature=<HMAC-SHA256(key, expires)>

signed with a key made at startup, and `/local/photos/` serves the object only while the link
is unexpired and its signature is right: a link cannot be widened to another key or a later time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from urllib.parse import quote

PHOTOS_PATH = "/local/photos/"
MAX_LINK_SECONDS = 7 * 24 * 3600


class LocalPhotoLinks:
    """The `PhotoLinks` interface (bucket, presigned_get_url) for photos served by the local server."""

    def __init__(
        self, site_url: str, bucket: str, key: bytes | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self._site = site_url.rstrip("/")
        self._bucket = bucket
        self._key = key or secrets.token_bytes(32)
        self._clock = clock

    @property
    def bucket(self) -> str:
        """The bucket the links serve (the photos bucket)."""
        return self._bucket

    def _signature(self, key: str, expires: int) -> str:
        return hmac.new(self._key, f"{key}\n{expires}".encode(), hashlib.sha256).hexdigest()

    def presigned_get_url(self, key: str, expires_in: int) -> str:
        if not 1 <= expires_in <= MAX_LINK_SECONDS:
            raise ValueError("expires_in must be between 1 second and 7 days")
        expires = int(self._clock()) + expires_in
        return (
            f"{self._site}{PHOTOS_PATH}{quote(key, safe='/')}"
            f"?expires={expires}&signature={self._signature(key, expires)}"
        )

    def is_valid(self, key: str, expires: str, signature: str) -> bool:
        """True for a link this object made, for this key, that has not expired."""
        if not expires.isdigit() or len(expires) > 12:
            return False
        expected = self._signature(key, int(expires))
        return hmac.compare_digest(expected, signature) and int(expires) >= self._clock()
