"""The HTTP API (API Gateway REST, Lambda proxy): owner approvals and the door keypad.

    GET  /approvals/{approvalId}   what the owner page shows (never the task token)
    POST /approvals/{approvalId}   the owner's decision: {"decision": "approve"|"deny", "name", "phone"}
    POST /doors/{doorId}/unlock    a visitor's passcode: {"otp": "123456"}
    POST /doors/{doorId}/ring      a door device: start (or extend) the doorbell session (202)
    POST /doors/{doorId}/snapshots a door device: a presigned S3 POST for one JPEG (201)

Routes live in `api.routes` (one module per group) and parse, call one domain function and
return; `api.router` matches them. Bodies are validated against the request models in
`api.contract` before a route runs; every failure is a typed exception mapped to a status code
in `api.errors`, the one place that knows HTTP codes for errors (docs/api.md is the contract;
docs/openapi.json is generated from these routes by `python -m api.openapi`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from api.adapters import Adapters, LockCommandStates
from api.errors import MAX_BODY_BYTES, answer_error, read_json_object
from api.router import Route, Router
from api.routes import approvals, doors
from api.settings import ApiSettings
from smartdoor.adapters.approval_store import DynamoApprovalStore
from smartdoor.adapters.event_bus import EventBridgeBus
from smartdoor.adapters.notifications import SnsNotifier
from smartdoor.adapters.passcode_store import passcode_service
from smartdoor.adapters.photo_store import S3PhotoStore
from smartdoor.adapters.secrets import SecretsManagerHmacKey
from smartdoor.adapters.task_tokens import StepFunctionsTaskTokens
from smartdoor.adapters.visitor_store import DynamoVisitorStore
from smartdoor.domain.approvals import log_id, utc_now
from smartdoor.domain.otp import PasscodeService
from smartdoor.observability import logger, metrics
from smartdoor.ports import (
    ApprovalRepository,
    EventBus,
    LinkKey,
    OwnerEmail,
    PasscodeVerifier,
    PhotoLinks,
    SnapshotForms,
    TaskTokens,
    VisitorNames,
)
from smartdoor.process_cache import process_cache
from smartdoor.settings import load_settings

__all__ = ["MAX_BODY_BYTES", "Adapters", "ApiSettings", "create_router", "handler", "reset_adapters"]


# One per warm container: the key source keeps the cached secret between invocations.
@process_cache
def _default_passcodes(settings: ApiSettings) -> PasscodeService:
    return passcode_service(settings.passcodes_table, settings.otp_secret_arn, settings.policy())


@process_cache
def _default_link_key(otp_secret_arn: str) -> LinkKey:
    return SecretsManagerHmacKey(otp_secret_arn)


def reset_adapters() -> None:
    """Forget the default adapters (tests that start a fresh moto account call this)."""
    _default_passcodes.cache_clear()
    _default_link_key.cache_clear()


def api_routes(settings: ApiSettings) -> list[Route]:
    """Every route the function serves (API Gateway has a resource for each; docs/openapi.json)."""
    return [*approvals.ROUTES, *doors.routes(settings)]


@process_cache  # one per warm container and configuration: the router keeps no per-request state
def create_router(settings: ApiSettings) -> Router:
    """The routes and the error mapping; the adapters come per invocation."""
    # No SITE_ORIGIN: no CORS headers at all.
    return Router(api_routes(settings), answer_error, read_json_object, cors_origin=settings.site_origin)


# ---------------------------------------------------------------------------- Lambda entry point


# Neither the event (OTPs, phone numbers, approval ids) nor responses go to logs.
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
def handler(
    event: dict[str, Any],
    context: LambdaContext,
    approvals: ApprovalRepository | None = None,
    task_tokens: TaskTokens | None = None,
    photo_links: PhotoLinks | None = None,
    link_key: LinkKey | None = None,
    passcodes: PasscodeVerifier | None = None,
    visitors: VisitorNames | None = None,
    bus: EventBus | None = None,
    owner: OwnerEmail | None = None,
    now: datetime | None = None,
    snapshot_forms: SnapshotForms | None = None,
    lock_states: LockCommandStates | None = None,
) -> dict[str, Any]:
    settings = load_settings(ApiSettings)
    adapters = Adapters(
        approvals=approvals or DynamoApprovalStore(settings.approvals_table),
        task_tokens=task_tokens or StepFunctionsTaskTokens(),
        photo_links=photo_links or S3PhotoStore(settings.photos_bucket),
        link_key=link_key or _default_link_key(settings.otp_secret_arn),
        passcodes=passcodes or _default_passcodes(settings),
        visitors=visitors or DynamoVisitorStore(settings.visitors_table),
        bus=bus or EventBridgeBus(settings.event_bus_name),
        owner=owner or SnsNotifier(settings.alerts_topic_arn),
        now=now or utc_now(),
        snapshot_forms=snapshot_forms,
        lock_states=lock_states,
    )
    approval_id = (event.get("pathParameters") or {}).get("approvalId")
    if approval_id:
        logger.append_keys(approval=log_id(str(approval_id)))
    return create_router(settings).resolve(event, adapters)
