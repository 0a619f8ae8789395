"""One Smart Door API deployment on moto, for the API handler tests and the browser tests.

`ApiWorld.create()` (inside an active `mock_aws`) makes what the API Lambda needs, as the
synthesized template describes it (smartdoor_local.emulation, the local stack's reader): the
tables the API function's environment names (with the template's keys and TTL), the photos
bucket, the `smartdoor` bus, the alerts topic and the OTP secret; the API's environment is its
template environment with the local names, a test site origin and the world's secret. Plus
listeners a test can read:

- every event on the bus lands in an SQS queue (`bus_events()`);
- every email to the owner (the alerts topic) lands in another (`emails()`);
- a tiny state machine waits on `.waitForTaskToken` the way the unknown-visitor workflow's
  "ask the owner" step does, and hands its token over through a queue, so approvals carry
  real Step Functions task tokens (`waiting_approval()`).

`call(...)` sends one API Gateway proxy event, built by the local server's own event builder,
to the real handler.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import boto3

from api.handler import handler as api_handler
from smartdoor.adapters.approval_store import DynamoApprovalStore
from smartdoor.adapters.passcode_store import DynamoPasscodeStore
from smartdoor.adapters.photo_store import S3PhotoStore
from smartdoor.adapters.secrets import SecretsManagerHmacKey
from smartdoor.adapters.visitor_store import DynamoVisitorStore, Visitor
from smartdoor.domain.approvals import Approval, approval_link_id, create_approval, utc_now
from smartdoor.domain.otp import IssuedPasscode, OtpPolicy, PasscodeService
from smartdoor.models import VisitPhoto
from smartdoor_local.emulation.deploy import Deployer
from smartdoor_local.emulation.overrides import site_overrides
from smartdoor_local.emulation.resources import LocalRefs, local_deployment
from smartdoor_local.http_server import LocalRequest, build_proxy_event, smartdoor_api_routes
from smartdoor_local.stack import ACCOUNT, REGION, LocalConfig
from tests.fakes import FakeLambdaContext, make_jpeg

# The deployment the local stack reads (the template, cached), the API function in it, and the
# resources by the names the functions' environments give them.
_DEPLOYER = Deployer(*local_deployment(LocalConfig().context(), REGION, ACCOUNT))
_API = _DEPLOYER.model.function("api")
_NAMES = _DEPLOYER.names()

DOOR_ID = LocalConfig().door_id
SITE_ORIGIN = "https://door.example.com"
APPROVALS_TABLE = _NAMES["approvals"]
VISITORS_TABLE = _NAMES["visitors"]
PASSCODES_TABLE = _NAMES["passcodes"]
PHOTOS_BUCKET = _NAMES["photos"]
EVENT_BUS = _NAMES["bus"]
ALERTS_TOPIC = _NAMES["alerts_topic"].rsplit(":", 1)[1]
# A Secrets Manager generated string is at least 32 characters; this one is 64.
OTP_SECRET_VALUE = "otp-key-for-tests-" + "x" * 46


@dataclass(frozen=True)
class ApiAnswer:
    status: int
    headers: dict[str, str]
    body: dict[str, Any]

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


class _Clients:
    """One boto3 session per world and one client per service: creating clients dominates setup time."""

    def __init__(self) -> None:
        self.session = boto3.session.Session()
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __call__(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self.session.client(service)  # type: ignore[call-overload]
            return self._clients[service]

    def table(self, name: str) -> Any:
        with self._lock:
            key = f"table:{name}"
            if key not in self._clients:
                self._clients[key] = self.session.resource("dynamodb").Table(name)
            return self._clients[key]


def _create_tables(aws: _Clients) -> None:
    """The template's tables that the API's environment names."""
    wanted = {APPROVALS_TABLE, VISITORS_TABLE, PASSCODES_TABLE}
    refs = _DEPLOYER.refs.refs
    for table in _DEPLOYER.model.tables():
        if refs[table.logical_id] in wanted:
            table.create(aws("dynamodb"), refs[table.logical_id])


def _queue(aws: _Clients, name: str) -> tuple[str, str]:
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def _drain(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


@dataclass
class ApiWorld:
    env: dict[str, str]
    events_queue: str
    emails_queue: str
    tokens_queue: str
    state_machine_arn: str
    otp_secret_arn: str
    aws: _Clients = field(repr=False)

    # ------------------------------------------------------------------ setup

    @classmethod
    def create(cls, *, owner_wait_seconds: int = 600) -> ApiWorld:
        """Every resource the API uses, empty. Call inside `mock_aws`."""
        aws = _Clients()
        _create_tables(aws)
        aws("s3").create_bucket(Bucket=PHOTOS_BUCKET)

        events = aws("events")
        events.create_event_bus(Name=EVENT_BUS)
        events_queue, events_queue_arn = _queue(aws, "bus-events")
        events.put_rule(
            Name="everything", EventBusName=EVENT_BUS, EventPattern=json.dumps({"source": ["smartdoor"]})
        )
        events.put_targets(
            Rule="everything", EventBusName=EVENT_BUS, Targets=[{"Id": "q", "Arn": events_queue_arn}]
        )

        sns = aws("sns")
        topic_arn = sns.create_topic(Name=ALERTS_TOPIC)["TopicArn"]
        emails_queue, emails_queue_arn = _queue(aws, "owner-emails")
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=emails_queue_arn)

        secret_arn = aws("secretsmanager").create_secret(
            Name="smartdoor-otp-key", SecretString=OTP_SECRET_VALUE
        )["ARN"]

        tokens_queue, _ = _queue(aws, "task-tokens")
        role = aws("iam").create_role(RoleName="sfn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        definition = {
            "StartAt": "Wait for the owner",
            "States": {
                "Wait for the owner": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                    "Parameters": {
                        "QueueUrl": tokens_queue,
                        "MessageBody": {"taskToken.$": "$$.Task.Token", "approvalRef.$": "$.approvalRef"},
                    },
                    "TimeoutSeconds": owner_wait_seconds,
                    "Next": "Owner decided",
                },
                "Owner decided": {"Type": "Pass", "End": True},
            },
        }
        machine = aws("stepfunctions").create_state_machine(
            name="ask-owner", definition=json.dumps(definition), roleArn=role
        )["stateMachineArn"]

        secrets = _DEPLOYER.model.of_type("AWS::SecretsManager::Secret")
        world = LocalRefs(REGION, ACCOUNT, refs=dict(_DEPLOYER.refs.refs))
        for logical_id in secrets:
            world.add(logical_id, secret_arn, Arn=secret_arn)  # the world's secret, not a random one
        env = Deployer(_DEPLOYER.model, world).environment(_API, site_overrides(SITE_ORIGIN))
        return cls(
            env=env,
            events_queue=events_queue,
            emails_queue=emails_queue,
            tokens_queue=tokens_queue,
            state_machine_arn=machine,
            otp_secret_arn=secret_arn,
            aws=aws,
        )

    # ------------------------------------------------------------------ adapters, as the API builds them

    @property
    def approvals(self) -> DynamoApprovalStore:
        return DynamoApprovalStore(APPROVALS_TABLE, table=self.aws.table(APPROVALS_TABLE))

    @property
    def visitors(self) -> DynamoVisitorStore:
        return DynamoVisitorStore(VISITORS_TABLE, table=self.aws.table(VISITORS_TABLE))

    @property
    def photos(self) -> S3PhotoStore:
        return S3PhotoStore(PHOTOS_BUCKET, s3_client=self.aws("s3"))

    def passcode_service(self, clock: Callable[[], float] = time.time) -> PasscodeService:
        """The API's passcode rules on a fresh session (boto3 resources are not thread-safe)."""
        session = boto3.session.Session()
        return PasscodeService(
            store=DynamoPasscodeStore(
                PASSCODES_TABLE, table=session.resource("dynamodb").Table(PASSCODES_TABLE)
            ),
            keys=SecretsManagerHmacKey(self.otp_secret_arn, secrets_client=session.client("secretsmanager")),
            clock=clock,
            policy=OtpPolicy(),
        )

    # ------------------------------------------------------------------ data

    def add_visitor(self, visitor_id: str, name: str, phone: str = "+15550100001") -> Visitor:
        visitor = Visitor(
            visitor_id=visitor_id, name=name, phone=phone, created_at="2026-01-01T00:00:00Z", door_id=DOOR_ID
        )
        self.visitors.put(visitor)
        return visitor

    def issue_code(
        self, visitor_id: str, clock: Callable[[], float] = time.time, *, visit_id: str = "visit-1"
    ) -> str:
        """A code for the visitor, issued (as the workflows do) for the visit `visit_id`."""
        return self.issue_passcode(visitor_id, clock, visit_id=visit_id).code

    def issue_passcode(
        self, visitor_id: str, clock: Callable[[], float] = time.time, *, visit_id: str = "visit-1"
    ) -> IssuedPasscode:
        """The code and its one-tap link's key, as the SMS carries them."""
        return self.passcode_service(clock).issue(DOOR_ID, visitor_id, visit_id=visit_id)

    def visit_photo(self, visit_id: str) -> VisitPhoto:
        photo = VisitPhoto.for_visit(PHOTOS_BUCKET, visit_id)
        self.photos.put_jpeg(photo.frame_key, make_jpeg(640, 480))
        self.photos.put_jpeg(photo.face_key, make_jpeg(200, 240))
        return photo

    def pending_approval(
        self, visit_id: str = "visit-1", *, now: datetime | None = None, timeout_seconds: int = 600
    ) -> Approval:
        """A PENDING approval that no workflow waits for yet (no task token)."""
        now = now or utc_now()
        return create_approval(
            visit_id=visit_id,
            door_id=DOOR_ID,
            photo=self.visit_photo(visit_id),
            seen_at=now - timedelta(seconds=20),
            timeout_seconds=timeout_seconds,
            photos_bucket=PHOTOS_BUCKET,
            approvals=self.approvals,
            now=now,
        )

    def waiting_approval(
        self, visit_id: str = "visit-1", *, now: datetime | None = None, timeout_seconds: int = 600
    ) -> tuple[Approval, str]:
        """A PENDING approval whose execution waits on its task token; returns it and the execution ARN."""
        now = now or utc_now()
        approval = self.pending_approval(visit_id, now=now, timeout_seconds=timeout_seconds)
        sfn = self.aws("stepfunctions")
        execution_arn = sfn.start_execution(
            stateMachineArn=self.state_machine_arn,
            name=f"visit-{visit_id}",
            input=json.dumps({"approvalRef": approval.approval_ref}),
        )["executionArn"]
        token = self._task_token_for(approval.approval_ref)
        attached = self.approvals.attach_task_token(approval.approval_ref, token, f"visit-{visit_id}", now)
        return attached, execution_arn

    def _task_token_for(self, approval_ref: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for body in _drain(self.aws("sqs"), self.tokens_queue):
                if body["approvalRef"] == approval_ref:
                    return str(body["taskToken"])
            time.sleep(0.02)
        raise TimeoutError(f"no task token arrived for approval {approval_ref[:6]}")

    @staticmethod
    def owner_id(approval: Approval) -> str:
        """The approval id in the owner's link (`<ref>.<mac>`), as ask_owner makes it with this key."""
        return approval_link_id(approval.approval_ref, OTP_SECRET_VALUE.encode())

    # ------------------------------------------------------------------ what happened

    def bus_events(self) -> list[dict[str, Any]]:
        return _drain(self.aws("sqs"), self.events_queue)

    def emails(self) -> list[dict[str, Any]]:
        """Owner emails: SNS envelopes with Subject and Message."""
        return _drain(self.aws("sqs"), self.emails_queue)

    def history_types(self, execution_arn: str) -> list[str]:
        events = self.aws("stepfunctions").get_execution_history(executionArn=execution_arn)["events"]
        return [event["type"] for event in events]

    def execution_status(self, execution_arn: str) -> str:
        return str(self.aws("stepfunctions").describe_execution(executionArn=execution_arn)["status"])

    def wait_for_status(self, execution_arn: str, wanted: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        status = self.execution_status(execution_arn)
        while status != wanted and time.monotonic() < deadline:
            time.sleep(0.02)
            status = self.execution_status(execution_arn)
        return status

    # ------------------------------------------------------------------ calling the API

    @staticmethod
    def _default_content_type(headers: Mapping[str, str] | None) -> list[tuple[str, str]]:
        """JSON, as the pages send, unless the test labels the body itself."""
        return [("Content-Type", "application/json")] if _no_content_type(headers) else []

    def call(
        self,
        method: str,
        url: str,
        body: bytes | str | Mapping[str, Any] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        client_ip: str = "203.0.113.7",
        **overrides: Any,
    ) -> ApiAnswer:
        """One request through the real handler, as API Gateway would deliver it from `client_ip`."""
        split = urlsplit(url)
        if isinstance(body, Mapping):
            raw = json.dumps(body).encode()
        elif isinstance(body, str):
            raw = body.encode()
        else:
            raw = body or b""
        request = LocalRequest(
            method=method,
            path=split.path,
            raw_path=split.path,
            query={},
            headers=[*self._default_content_type(headers), *(headers or {}).items()],
            body=raw,
            client_ip=client_ip,
            host="api.example.com",
        )
        for route in smartdoor_api_routes(lambda event, context: {}):
            parameters = route.match(split.path)
            if parameters is not None:
                event = build_proxy_event(request, resource=route.resource, path_parameters=parameters)
                break
        else:
            raise ValueError(f"{split.path} is not an API route")
        result = api_handler(event, FakeLambdaContext(), **overrides)
        headers_out = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
        for name, values in (result.get("multiValueHeaders") or {}).items():
            headers_out[name] = ", ".join(values)
        text = result.get("body") or ""
        return ApiAnswer(
            status=result["statusCode"], headers=headers_out, body=json.loads(text) if text else {}
        )


def _no_content_type(headers: Mapping[str, str] | None) -> bool:
    return not any(name.lower() == "content-type" for name in headers or {})


def use_world_environment(world: ApiWorld, monkeypatch: Any) -> None:
    """Point the API handler's settings at `world` (and forget adapters built for an earlier one)."""
    from smartdoor.adapters.aws import reset_clients

    for name, value in world.env.items():
        monkeypatch.setenv(name, value)
    reset_clients()
