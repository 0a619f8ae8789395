"""The HTTP API (API Gateway REST, Lambda proxy): owner approvals and the door keypad.

    GET  /approvals/{approvalId}   what the owner page shows (never the task token)
    POST /approvals/{approvalId}   the owner's decision: {"decision": "approve"|"deny", "name", "phone"}
    POST /doors/{doorId}/unlock    a visitor's passcode: {"otp": "123456"}
    POST /doors/{doorId}/ring      a door device: start (or extend) the doorbell session (202)
    POST /doors/{doorId}/snapshots a door device: a presigned S3 POST for one JPEG (201)

Routes live in `api.routes` (one module per group) and parse, call one domain function and
return. Bodies are validated against the request models in `api.contract` before a route runs;
every failure is a typed exception mapped to a status code in `api.errors`, the one place that
knows HTTP codes for errors (docs/api.md is the contract; docs/openapi.json is generated from
these routes by `python -m api.openapi`).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig
from aws_lambda_powertools.event_handler.content_types import APPLICATION_JSON as JSON_CONTENT_TYPE
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from api.adapters import Adapters
from api.doorbell import SnapshotForms
from api.errors import MAX_BODY_BYTES, map_errors, read_json_object
from api.routes import approvals, doors
from api.settings import ApiSettings
from api.unlock import Bus, OwnerEmail, PasscodeVerifier, VisitorNames
from smartdoor.adapters.approval_store import DynamoApprovalStore
from smartdoor.adapters.event_bus import EventBridgeBus
from smartdoor.adapters.notifications import SnsNotifier
from smartdoor.adapters.passcode_store import passcode_service
from smartdoor.adapters.photo_store import S3PhotoStore
from smartdoor.adapters.task_tokens import StepFunctionsTaskTokens
from smartdoor.adapters.visitor_store import DynamoVisitorStore
from smartdoor.domain.approvals import ApprovalRepository, PhotoLinks, TaskTokens, log_id, utc_now
from smartdoor.domain.otp import PasscodeService
from smartdoor.observability import logger, metrics
from smartdoor.settings import load_settings

__all__ = ["MAX_BODY_BYTES", "Adapters", "ApiSettings", "create_app", "handler", "reset_adapters"]


# One per warm container: the key source keeps the cached secret between invocations.
@cache
def _default_passcodes(settings: ApiSettings) -> PasscodeService:
    return passcode_service(settings.passcodes_table, settings.otp_secret_arn, settings.policy())


def reset_adapters() -> None:
    """Forget the default adapters (tests that start a fresh moto account call this)."""
    _default_passcodes.cache_clear()


class _PerThreadEventResolver(APIGatewayRestResolver):
    """Powertools stores the event being resolved on its BaseRouter class, shared by every resolver
    in the process, so two requests resolved at once in one process (the local stack's threads,
    the race tests) would read each other's method and body. This resolver keeps its own event
    per thread; on Lambda, which serves one request at a time, it changes nothing."""

    _events = threading.local()

    @property  # type: ignore[override]
    def current_event(self) -> APIGatewayProxyEvent:
        event: APIGatewayProxyEvent = self._events.current
        return event

    @current_event.setter
    def current_event(self, value: APIGatewayProxyEvent) -> None:
        self._events.current = value

    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        self._events.current = APIGatewayProxyEvent(dict(event), self._json_body_deserializer)
        return super().resolve(event, context)


def create_app(settings: ApiSettings) -> APIGatewayRestResolver:
    """The resolver with every route and the error mapping; the adapters come per invocation."""
    # No SITE_ORIGIN: no CORS headers at all (a CORSConfig without an origin would mean "*").
    cors = CORSConfig(allow_origin=settings.site_origin, max_age=600) if settings.site_origin else None
    app = _PerThreadEventResolver(cors=cors, enable_validation=True, json_body_deserializer=read_json_object)
    approvals.register(app)
    doors.register(app, settings)
    map_errors(app)
    return app


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
    passcodes: PasscodeVerifier | None = None,
    visitors: VisitorNames | None = None,
    bus: Bus | None = None,
    owner: OwnerEmail | None = None,
    now: datetime | None = None,
    snapshot_forms: SnapshotForms | None = None,
) -> dict[str, Any]:
    settings = load_settings(ApiSettings)
    adapters = Adapters(
        approvals=approvals or DynamoApprovalStore(settings.approvals_table),
        task_tokens=task_tokens or StepFunctionsTaskTokens(),
        photo_links=photo_links or S3PhotoStore(settings.photos_bucket),
        passcodes=passcodes or _default_passcodes(settings),
        visitors=visitors or DynamoVisitorStore(settings.visitors_table),
        bus=bus or EventBridgeBus(settings.event_bus_name),
        owner=owner or SnsNotifier(settings.alerts_topic_arn),
        now=now or utc_now(),
        snapshot_forms=snapshot_forms,
    )
    approval_id = (event.get("pathParameters") or {}).get("approvalId")
    if approval_id:
        logger.append_keys(approval=log_id(str(approval_id)))
    app = create_app(settings)
    app.append_context(adapters=adapters)
    return app.resolve(read_body_as_json(event), context)


def read_body_as_json(event: dict[str, Any]) -> dict[str, Any]:
    """The event with its Content-Type set to JSON: every body this API takes is JSON, whatever the
    client labelled it (urllib and `curl -d` say form-urlencoded), as docs/api.md promises; the
    validation would otherwise parse a form, or refuse a type it does not know."""

    def relabelled(headers: dict[str, Any] | None, value: Any) -> dict[str, Any] | None:
        if headers is None:
            return None
        kept = {name: v for name, v in headers.items() if name.lower() != "content-type"}
        return {**kept, "Content-Type": value}

    return {
        **event,
        "headers": relabelled(event.get("headers"), JSON_CONTENT_TYPE),
        "multiValueHeaders": relabelled(event.get("multiValueHeaders"), [JSON_CONTENT_TYPE]),
    }
