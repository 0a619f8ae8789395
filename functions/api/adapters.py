"""What one invocation of the API works with: the real AWS adapters, or a test's / the local stack's.

The handler puts them in the resolver's context (`app.append_context(adapters=...)`); routes and
the error mapping read them with `adapters_of(app)`. A resolver is built per invocation, so
concurrent in-process callers (the local stack, the race tests) never share them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from api.doorbell import SnapshotForms
from api.unlock import Bus, OwnerEmail, PasscodeVerifier, VisitorNames
from smartdoor.domain.approvals import ApprovalRepository, PhotoLinks, TaskTokens


@dataclass(frozen=True)
class Adapters:
    approvals: ApprovalRepository
    task_tokens: TaskTokens
    photo_links: PhotoLinks
    passcodes: PasscodeVerifier
    visitors: VisitorNames
    bus: Bus
    owner: OwnerEmail
    now: datetime
    snapshot_forms: SnapshotForms | None = None  # door devices' uploads (POST /doors/{id}/snapshots)


def adapters_of(app: APIGatewayRestResolver) -> Adapters:
    adapters = app.context["adapters"]
    assert isinstance(adapters, Adapters), "the handler appends this invocation's adapters"
    return adapters
