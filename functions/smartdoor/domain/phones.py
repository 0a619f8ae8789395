r"""Phone numbers: validation and the masked form that is safe to log or show.

`is_e164` is the one phone rule: the CLI, the API (through the approval domain), the functions'
settings and the CDK configuration all ask it. The whole string must match, so a number with a
trailing newline or surrounding spaces is refused (`re.match` with `$` took `+15551234567\n`:
`$` also matches before a final newline), and only ASCII digits count (`\d` takes any script's).
"""

from __future__ import annotations

import re

# '+', a country code that does not start with 0, then the number: 7-15 digits in all.
E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def is_e164(value: str) -> bool:
    return E164.fullmatch(value) is not None


def mask_phone(phone: str) -> str:
    """'+15551234567' -> '+1*******567': enough to recognise, useless to call."""
    if len(phone) < 6:
        return "***"
    return phone[:2] + "*" * (len(phone) - 5) + phone[-3:]


# SNS's AWS.SNS.SMS.SenderID: 3-11 letters and digits, at least one letter, no spaces.
SENDER_ID = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9]{3,11}")


def is_sender_id(value: str) -> bool:
    return SENDER_ID.fullmatch(value) is not None
