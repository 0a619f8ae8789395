"""Typed function configuration, read from the environment once per cold start.

Each function declares a pydantic model whose field aliases are its environment variables;
`load_settings` validates it and caches the result, so a bad deployment fails loudly at the
first invocation and domain code never reads os.environ.
"""

from __future__ import annotations

import os
from functools import cache

from pydantic import BaseModel, ConfigDict, Field, field_validator

from smartdoor.domain.phones import is_e164, is_sender_id


class FunctionSettings(BaseModel):
    """Base for per-function settings: immutable, aliases are environment variable names."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore", defer_build=True)


@cache
def load_settings[SettingsT: FunctionSettings](model: type[SettingsT]) -> SettingsT:
    return model.model_validate(dict(os.environ))


def reset_settings_cache() -> None:
    """For tests that change the environment between cases."""
    load_settings.cache_clear()


class SmsOriginSettings(BaseModel):
    """Mixin for functions that text someone: the optional sender ID and origination number
    (CDK context smsSenderId / originationNumber, docs/sms.md) put on every SMS."""

    sms_sender_id: str | None = Field(None, alias="SMS_SENDER_ID")
    sms_origination_number: str | None = Field(None, alias="SMS_ORIGINATION_NUMBER")

    @field_validator("sms_sender_id")
    @classmethod
    def _sender_id_is_valid(cls, value: str | None) -> str | None:
        if value is not None and not is_sender_id(value):
            raise ValueError("SMS_SENDER_ID must be 3-11 letters and digits with at least one letter")
        return value

    @field_validator("sms_origination_number")
    @classmethod
    def _origination_number_is_e164(cls, value: str | None) -> str | None:
        if value is not None and not is_e164(value):
            raise ValueError("SMS_ORIGINATION_NUMBER must be an E.164 number such as +18005550100")
        return value
