"""Typed function configuration, read from the environment once per cold start.

Each function declares a `FunctionSettings` whose field names (`field(name=...)`) are its
environment variables; `load_settings` validates it and caches the result, so a bad deployment
fails loudly at the first invocation (a ValidationError naming the variable) and domain code
never reads os.environ.

A function's environment may not hold another function's variable: a project variable (a name
some settings class declares) that this function's class does not declare is an
`UnknownSettingVariable`, so a deployment that sets a variable nobody reads (a copy drifting from
the code) fails instead of being ignored. The project variables are those of the settings
classes defined in the process: in a Lambda process its own (and the shared bases'); in the local
stack and the tests every function's, as they import every handler. Names of AWS and of the
runtime (AWS_*, POWERTOOLS_*, LAMBDA_*, _HANDLER, _X_AMZN_*, ...) are never project variables.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated

import msgspec

from smartdoor.domain.phones import is_e164, is_sender_id
from smartdoor.domain.sms_budget import SmsLimits
from smartdoor.process_cache import process_cache
from smartdoor.schema import Meta, Model, field, parse

# Set by Lambda, its runtime or Powertools, whatever a settings class declares.
PLATFORM_PREFIXES = ("AWS_", "POWERTOOLS_", "LAMBDA_", "_")


class FunctionSettings(Model):
    """Base for per-function settings: immutable, field names are environment variable names."""


class UnknownSettingVariable(ValueError):
    """The environment holds a project variable that this function's settings do not declare."""


@process_cache
def load_settings[SettingsT: FunctionSettings](model: type[SettingsT]) -> SettingsT:
    return read_settings(model, os.environ)


def read_settings[SettingsT: FunctionSettings](
    model: type[SettingsT], environ: Mapping[str, str]
) -> SettingsT:
    """`model` from `environ` (numbers and booleans as their text); ValidationError names the
    variable, UnknownSettingVariable names another function's variable set here."""
    strangers = sorted((set(environ) & project_variables()) - variables(model))
    if strangers:
        raise UnknownSettingVariable(
            f"{model.__name__} does not read {', '.join(strangers)}: set only for another function?"
        )
    return parse(model, dict(environ), strict=False)


def project_variables() -> set[str]:
    """Every variable a settings class defined in this process declares (not the platform's)."""
    found: set[str] = set()
    pending: list[type[FunctionSettings]] = [FunctionSettings]
    while pending:
        model = pending.pop()
        pending.extend(model.__subclasses__())
        found |= variables(model)
    return {name for name in found if not name.startswith(PLATFORM_PREFIXES)}


def reset_settings_cache() -> None:
    """For tests that change the environment between cases."""
    load_settings.cache_clear()


class SmsOriginSettings(FunctionSettings):
    """Base for functions that text someone: the optional sender ID and origination number
    (CDK context smsSenderId / originationNumber, docs/sms.md) put on every SMS."""

    sms_sender_id: str | None = field(default=None, name="SMS_SENDER_ID")
    sms_origination_number: str | None = field(default=None, name="SMS_ORIGINATION_NUMBER")

    def __post_init__(self) -> None:
        if self.sms_sender_id is not None and not is_sender_id(self.sms_sender_id):
            raise ValueError("SMS_SENDER_ID must be 3-11 letters and digits with at least one letter")
        if self.sms_origination_number is not None and not is_e164(self.sms_origination_number):
            raise ValueError("SMS_ORIGINATION_NUMBER must be an E.164 number such as +18005550100")


class SmsSettings(SmsOriginSettings, kw_only=True):
    """For functions that text someone: the origin, and the hourly SMS budgets (CDK context
    smsPerVisitorPerHour / smsPerDoorPerHour, smartdoor.domain.sms_budget) and their table."""

    sms_budget_table: Annotated[str, Meta(min_length=1)] = field(name="SMS_BUDGET_TABLE")
    sms_per_visitor_per_hour: Annotated[int, Meta(ge=1)] = field(name="SMS_PER_VISITOR_PER_HOUR")
    sms_per_door_per_hour: Annotated[int, Meta(ge=1)] = field(name="SMS_PER_DOOR_PER_HOUR")

    def sms_limits(self) -> SmsLimits:
        return SmsLimits(self.sms_per_visitor_per_hour, self.sms_per_door_per_hour)


def variables(model: type[FunctionSettings], *, required_only: bool = False) -> set[str]:
    """The environment variables `model` reads (only those without a default, if asked)."""
    return {
        field_info.encode_name
        for field_info in msgspec.structs.fields(model)
        if field_info.required or not required_only
    }
