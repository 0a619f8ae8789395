"""The deployment's HMAC key for approval links, without Secrets Manager (SecretsManagerHmacKey)."""

from __future__ import annotations

from smartdoor.domain.approvals import approval_link_id

TEST_LINK_KEY = b"approval-link-key-for-tests-" + b"k" * 36


class StaticLinkKey:
    def __init__(self, key: bytes = TEST_LINK_KEY) -> None:
        self.key = key

    def hmac_key(self) -> bytes:
        return self.key

    def owner_id(self, approval_ref: str) -> str:
        """The approval id in the owner's link, `<approvalRef>.<mac>`, as ask_owner makes it."""
        return approval_link_id(approval_ref, self.key)
