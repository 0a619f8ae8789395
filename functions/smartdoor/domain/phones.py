"""Phone numbers: validation and the masked form that is safe to log or show."""

from __future__ import annotations

import re

E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def is_e164(value: str) -> bool:
    return bool(E164.match(value))


def mask_phone(phone: str) -> str:
    """'+15551234567' -> '+1*******567': enough to recognise, useless to call."""
    if len(phone) < 6:
        return "***"
    return phone[:2] + "*" * (len(phone) - 5) + phone[-3:]


# SNS's AWS.SNS.SMS.SenderID: 3-11 letters and digits, at least one letter, no spaces.
SENDER_ID = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9]{3,11}$")


def is_sender_id(value: str) -> bool:
    return bool(SENDER_ID.match(value))
