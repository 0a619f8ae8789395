"""The lock's CDK context (docs/door.md): validated in cdk_app/config.py with the flag that fixes it."""

from __future__ import annotations

from typing import Any

import pytest

from cdk_app.config import ConfigError, load_config

OWNER = {"ownerPhone": "+15550100000", "ownerEmail": "owner@example.com"}
WEBHOOK = {"lockWebhookUrl": "https://home.example.com/api/webhook/door", "lockWebhookSecretName": "door-key"}


def test_without_lock_keys_the_door_has_no_lock_and_commands_live_30_seconds() -> None:
    config = load_config(OWNER)
    assert config.lock is None
    assert (config.lock_command_seconds, config.lock_webhook_header) == (30, "X-Smartdoor-Key")


@pytest.mark.parametrize(
    ("context", "lock"),
    [({"lockIot": "true"}, "iot"), (WEBHOOK, "webhook"), ({"lockIot": "false", **WEBHOOK}, "webhook")],
)
def test_the_configured_lock_is_the_one_the_keys_name(context: dict[str, Any], lock: str) -> None:
    assert load_config({**OWNER, **context}).lock == lock


@pytest.mark.parametrize(
    ("context", "message"),
    [
        (
            {**WEBHOOK, "lockWebhookUrl": "http://home.example.com/hook"},
            "lockWebhookUrl: must be an https:// URL",
        ),
        (
            {**WEBHOOK, "lockWebhookUrl": "https://home.example.com/a b"},
            "lockWebhookUrl: must be an https:// URL",
        ),
        (
            {"lockWebhookUrl": WEBHOOK["lockWebhookUrl"]},
            "lockWebhookSecretName: is required with lockWebhookUrl",
        ),
        ({"lockWebhookSecretName": "door-key"}, "lockWebhookUrl: is required with lockWebhookSecretName"),
        ({**WEBHOOK, "lockIot": "true"}, "a door has one lock"),
        ({**WEBHOOK, "lockWebhookHeader": "X Key"}, "lockWebhookHeader: must be an HTTP header name"),
        (
            {**WEBHOOK, "lockWebhookSecretName": "no spaces"},
            "lockWebhookSecretName: must be a Secrets Manager",
        ),
        ({"lockCommandSeconds": "2"}, "lockCommandSeconds"),
    ],
)
def test_an_incomplete_or_unsafe_lock_configuration_is_refused_clearly(
    context: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config({**OWNER, **context})
