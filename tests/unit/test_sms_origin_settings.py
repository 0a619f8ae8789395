"""The SMS origin settings ask_owner and issue_passcode read (SMS_SENDER_ID, SMS_ORIGINATION_NUMBER)."""

from __future__ import annotations

import pytest
from msgspec import ValidationError

from ask_owner.handler import AskOwnerSettings
from issue_passcode.handler import IssuePasscodeSettings
from smartdoor.domain.phones import is_sender_id
from smartdoor.settings import read_settings

TEXTING = {"SMS_BUDGET_TABLE": "passcodes", "SMS_PER_VISITOR_PER_HOUR": "3", "SMS_PER_DOOR_PER_HOUR": "20"}
ASK_OWNER = {
    "APPROVALS_TABLE": "approvals",
    "PHOTOS_BUCKET": "photos",
    "ALERTS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:alerts",
    "OWNER_PHONE": "+15550100000",
    "OTP_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:otp",
    "SITE_URL": "https://door.example.com",
    **TEXTING,
}
ISSUE_PASSCODE = {
    "PASSCODES_TABLE": "passcodes",
    "VISITORS_TABLE": "visitors",
    "OTP_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:otp",
    "ALERTS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:alerts",
    **TEXTING,
}


@pytest.mark.parametrize("sender_id", ["SmartDoor", "Door1", "ABC", "A1234567890"])
def test_sender_ids_sns_accepts(sender_id: str) -> None:
    assert is_sender_id(sender_id)


@pytest.mark.parametrize("sender_id", ["AB", "123456", "Smart Door", "SmartDoor123", "Smart-Door", ""])
def test_sender_ids_sns_refuses(sender_id: str) -> None:
    # 3-11 letters and digits, at least one letter, no spaces or punctuation
    assert not is_sender_id(sender_id)


@pytest.mark.parametrize(
    ("model", "env"), [(AskOwnerSettings, ASK_OWNER), (IssuePasscodeSettings, ISSUE_PASSCODE)]
)
def test_both_sms_senders_read_the_origin_and_default_to_none(model: type, env: dict[str, str]) -> None:
    unset = read_settings(model, env)
    assert (unset.sms_sender_id, unset.sms_origination_number) == (None, None)
    origin = read_settings(
        model, env | {"SMS_SENDER_ID": "SmartDoor", "SMS_ORIGINATION_NUMBER": "+18005550100"}
    )
    assert (origin.sms_sender_id, origin.sms_origination_number) == ("SmartDoor", "+18005550100")


@pytest.mark.parametrize(
    ("key", "value"), [("SMS_SENDER_ID", "Smart Door"), ("SMS_ORIGINATION_NUMBER", "18005550100")]
)
def test_a_malformed_origin_fails_at_cold_start(key: str, value: str) -> None:
    with pytest.raises(ValidationError, match=key):
        read_settings(AskOwnerSettings, ASK_OWNER | {key: value})
