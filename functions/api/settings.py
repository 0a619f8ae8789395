"""The API function's settings (environment), validated at the first invocation."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

from smartdoor.domain.otp import OtpPolicy
from smartdoor.schema import Meta, field
from smartdoor.settings import FunctionSettings


class ApiSettings(FunctionSettings):
    approvals_table: Annotated[str, Meta(min_length=1)] = field(name="APPROVALS_TABLE")
    visitors_table: Annotated[str, Meta(min_length=1)] = field(name="VISITORS_TABLE")
    passcodes_table: Annotated[str, Meta(min_length=1)] = field(name="PASSCODES_TABLE")
    photos_bucket: Annotated[str, Meta(min_length=1)] = field(name="PHOTOS_BUCKET")
    event_bus_name: Annotated[str, Meta(min_length=1)] = field(name="EVENT_BUS_NAME")
    alerts_topic_arn: Annotated[str, Meta(min_length=1)] = field(name="ALERTS_TOPIC_ARN")
    otp_secret_arn: Annotated[str, Meta(min_length=1)] = field(name="OTP_SECRET_ARN")
    door_id: Annotated[str, Meta(pattern="^[a-z0-9][a-z0-9-]{0,31}$")] = field(name="DOOR_ID")
    # The pages' origin (scheme://host[:port]); other origins get no CORS headers, and with no
    # SITE_ORIGIN no origin does (the pages then need the API on their own origin).
    site_origin: str | None = field(default=None, name="SITE_ORIGIN")
    otp_max_failures: Annotated[int, Meta(ge=1)] = field(default=5, name="OTP_MAX_FAILURES")
    otp_failure_window_seconds: Annotated[int, Meta(ge=1)] = field(
        default=900, name="OTP_FAILURE_WINDOW_SECONDS"
    )
    otp_lockout_seconds: Annotated[int, Meta(ge=1)] = field(default=900, name="OTP_LOCKOUT_SECONDS")
    # The door's lock (docs/door.md): how it is told to open ("none": nothing listens but the bus),
    # how long a command is valid, and the table its answers land in (GET .../lock/{commandId}).
    lock: Literal["none", "iot", "webhook"] = field(default="none", name="LOCK_KIND")
    lock_command_seconds: Annotated[int, Meta(ge=1, le=3600)] = field(default=30, name="LOCK_COMMAND_SECONDS")
    lock_states_table: str | None = field(default=None, name="LOCK_STATES_TABLE")

    def __post_init__(self) -> None:
        if self.site_origin is not None and origin_of(self.site_origin) != self.site_origin:
            raise ValueError(
                "SITE_ORIGIN must be scheme://host[:port] with no path, e.g. https://door.example.com"
            )
        if self.lock != "none" and not self.lock_states_table:
            raise ValueError(f"LOCK_KIND={self.lock} needs LOCK_STATES_TABLE (the lock's answers)")

    def policy(self) -> OtpPolicy:
        # Verifying never reads the code lifetime (each stored code carries its own expiry).
        return OtpPolicy(
            max_failures=self.otp_max_failures,
            failure_window_seconds=self.otp_failure_window_seconds,
            lockout_seconds=self.otp_lockout_seconds,
        )


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
