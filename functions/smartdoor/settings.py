"""Typed function configuration, read from the environment once per cold start.

Each function declares a pydantic model whose field aliases are its environment variables;
`load_settings` validates it and caches the result, so a bad deployment fails loudly at the
first invocation and domain code never reads os.environ.
"""

from __future__ import annotations

import os
from functools import cache
from typing import TypeVar

from pydantic import BaseModel, ConfigDict

SettingsT = TypeVar("SettingsT", bound="FunctionSettings")


class FunctionSettings(BaseModel):
    """Base for per-function settings: immutable, aliases are environment variable names."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")


@cache
def load_settings(model: type[SettingsT]) -> SettingsT:
    return model.model_validate(dict(os.environ))


def reset_settings_cache() -> None:
    """For tests that change the environment between cases."""
    load_settings.cache_clear()
