"""Synthesize the Smart Door app in-process, once per session per context (synth is the slow part).

Every synth runs cdk-nag (the app adds it), so a fixture that returns at all has already
passed cdk-nag; the compliance tests read the validation report to prove it.
"""

from __future__ import annotations

import pytest

from tests.infra.synth import Synthesized, synthesize


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The default deployment: faceSource=images."""
    return synthesize(tmp_path_factory.mktemp("cdk-out-default"))


CUSTOM_CONTEXT = {
    "faceSource": "streamProcessor",
    "videoRetentionHours": "168",  # the CLI passes -c values as strings
    "photoRetentionDays": "7",
    "siteUrl": "https://door.example.com",
    "apiThrottleRateLimit": "2",
    "apiThrottleBurstLimit": "4",
    "smsSenderId": "SmartDoor",
    "originationNumber": "+18005550100",
    "smsDeliveryLogs": "false",
}


@pytest.fixture(scope="session")
def synthesized_custom(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """A deployment that overrides the defaults: an account that still has Rekognition streaming
    video, a week of camera video, photos kept 7 days, a site URL, a tighter API throttle, an SMS
    sender ID and origination number, and SMS delivery logging left to another stack."""
    return synthesize(tmp_path_factory.mktemp("cdk-out-custom"), **CUSTOM_CONTEXT)


@pytest.fixture(scope="session")
def synthesized_snapshots(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """A home with the door agent: faceSource=snapshots (no Kinesis Video, no Kinesis Data Stream,
    no doorbell sampling; the agent's uploads are the frames)."""
    return synthesize(tmp_path_factory.mktemp("cdk-out-snapshots"), faceSource="snapshots")


LOCK_WEBHOOK_CONTEXT = {
    "lockWebhookUrl": "https://home.example.com/api/webhook/smartdoor-front-door",
    "lockWebhookSecretName": "smartdoor/lock-webhook-key",
}


@pytest.fixture(scope="session")
def synthesized_lock_iot(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """A door whose lock is a relay driven by the door agent through AWS IoT Core."""
    return synthesize(tmp_path_factory.mktemp("cdk-out-lock-iot"), lockIot="true")


@pytest.fixture(scope="session")
def synthesized_lock_webhook(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """A door whose lock has an HTTP API (Home Assistant, a smart lock's bridge): the webhook."""
    return synthesize(tmp_path_factory.mktemp("cdk-out-lock-webhook"), **LOCK_WEBHOOK_CONTEXT)
