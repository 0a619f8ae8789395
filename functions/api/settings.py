"""The API function's settings (environment), validated at the first invocation."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, field_validator

from smartdoor.domain.otp import OtpPolicy
from smartdoor.settings import FunctionSettings


class ApiSettings(FunctionSettings):
    approvals_table: str = Field(alias="APPROVALS_TABLE", min_length=1)
    visitors_table: str = Field(alias="VISITORS_TABLE", min_length=1)
    passcodes_table: str = Field(alias="PASSCODES_TABLE", min_length=1)
    photos_bucket: str = Field(alias="PHOTOS_BUCKET", min_length=1)
    event_bus_name: str = Field(alias="EVENT_BUS_NAME", min_length=1)
    alerts_topic_arn: str = Field(alias="ALERTS_TOPIC_ARN", min_length=1)
    otp_secret_arn: str = Field(alias="OTP_SECRET_ARN", min_length=1)
    door_id: str = Field(alias="DOOR_ID", pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")
    # The pages' origin (scheme://host[:port]); other origins get no CORS headers, and with no
    # SITE_ORIGIN no origin does (the pages then need the API on their own origin).
    site_origin: str | None = Field(None, alias="SITE_ORIGIN")
    otp_max_failures: int = Field(5, alias="OTP_MAX_FAILURES", ge=1)
    otp_failure_window_seconds: int = Field(900, alias="OTP_FAILURE_WINDOW_SECONDS", ge=1)
    otp_lockout_seconds: int = Field(900, alias="OTP_LOCKOUT_SECONDS", ge=1)

    @field_validator("site_origin")
    @classmethod
    def _origin_has_no_path(cls, value: str | None) -> str | None:
        if value is not None and origin_of(value) != value:
            raise ValueError(
                "SITE_ORIGIN must be scheme://host[:port] with no path, e.g. https://door.example.com"
            )
        return value

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
