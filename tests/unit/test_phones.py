"""The one phone rule (smartdoor.domain.phones.is_e164) and the CDK configuration that uses it."""

from __future__ import annotations

import pytest

from cdk_app.config import ConfigError, load_config
from smartdoor.domain.phones import is_e164, is_sender_id

OWNER_EMAIL = "owner@example.com"
# Each is a valid number with something around it, or not quite a number.
NOT_E164 = {
    "trailing newline": "+15557654321\n",
    "trailing CRLF": "+15557654321\r\n",
    "trailing space": "+15557654321 ",
    "leading space": " +15557654321",
    "trailing tab": "+15557654321\t",
    "leading newline": "\n+15557654321",
    "Arabic-Indic digits": "+1555765432\u0661",
    "no plus": "15557654321",
    "country code 0": "+05557654321",
    "too short": "+155576",
    "too long": "+1555765432101234",
    "empty": "",
}


@pytest.mark.parametrize("number", ["+15557654321", "+447700900123", "+1555765", "+123456789012345"])
def test_e164_numbers_are_accepted(number: str) -> None:
    assert is_e164(number)


@pytest.mark.parametrize("number", NOT_E164.values(), ids=NOT_E164.keys())
def test_anything_around_or_inside_the_number_is_refused(number: str) -> None:
    assert not is_e164(number)


@pytest.mark.parametrize("sender", ["SmartDoor\n", " SmartDoor", "SmartDoor\t"])
def test_a_sender_id_is_matched_whole_too(sender: str) -> None:
    assert is_sender_id(sender.strip()) and not is_sender_id(sender)


@pytest.mark.parametrize("number", NOT_E164.values(), ids=NOT_E164.keys())
def test_the_cdk_configuration_refuses_such_an_owner_phone_naming_the_flag(number: str) -> None:
    # GIVEN `-c ownerPhone=<number>`, WHEN the configuration is validated, THEN the flag is named
    with pytest.raises(ConfigError, match=r"ownerPhone: .*; pass -c ownerPhone="):
        load_config({"ownerPhone": number, "ownerEmail": OWNER_EMAIL})


@pytest.mark.parametrize("number", ["+18005550100\n", " +18005550100"])
def test_the_cdk_configuration_refuses_such_an_origination_number(number: str) -> None:
    with pytest.raises(ConfigError, match="originationNumber"):
        load_config({"ownerPhone": "+15557654321", "ownerEmail": OWNER_EMAIL, "originationNumber": number})


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("ownerEmail", "owner@example.com\n"),
        ("doorId", "front-door\n"),
        ("siteUrl", "https://door.example.com\n"),
    ],
)
def test_the_configurations_other_patterns_match_the_whole_value(key: str, value: str) -> None:
    context = {"ownerPhone": "+15557654321", "ownerEmail": OWNER_EMAIL, key: value}
    with pytest.raises(ConfigError, match=key):
        load_config(context)
    assert load_config(context | {key: value.strip()}).owner_phone == "+15557654321"
