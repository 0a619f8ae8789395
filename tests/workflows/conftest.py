"""Workflow tests: the real ASL files, as the synthesized template renders them, executed by
moto's Step Functions with the real task handlers running in-process.

`door` builds one Smart Door on moto per test from the synthesized CDK template (the same
template reader the local stack uses, smartdoor_local.emulation): its tables, buckets, topic,
secret, bus, queues and stream, every project function served by
`smartdoor_local.lambda_runtime` with exactly its template environment, and the state machines
with their rendered definitions and types (each on first use). An execution starts the way the
template's rules start it: `start` refuses an event no rule of that workflow matches. On top,
two queues to watch what happened (the owner's inbox on the alerts topic, a tap on the bus).
Rekognition and KVS are the fakes from tests/fakes. Every test ends with the global checks: no
passcode and no visitor phone in any execution history or log line, no task token in any message.
"""

from __future__ import annotations

import io
import json
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sns.exceptions import SNSException
from moto.sns.models import SNSBackend, sns_backends

from smartdoor.adapters.approval_store import DynamoApprovalStore
from smartdoor.adapters.aws import reset_clients
from smartdoor.adapters.secrets import SecretsManagerHmacKey
from smartdoor.adapters.task_tokens import StepFunctionsTaskTokens
from smartdoor.domain.approvals import DecisionResult, decide, utc_now
from smartdoor.models import (
    BoundingBox,
    DetailType,
    FaceEventDetail,
    FrameLocation,
    KnownFaceDetail,
)
from smartdoor.observability import logger as powertools_logger
from smartdoor_local.emulation.deploy import Deployer
from smartdoor_local.emulation.model import DeploymentModel
from smartdoor_local.emulation.resources import NOT_A_PROJECT_FUNCTION, function_skip_reason, local_deployment
from smartdoor_local.emulation.template import Variant
from smartdoor_local.http_server import LocalRequest, build_proxy_event
from smartdoor_local.lambda_runtime import LambdaRuntime, LocalFunction
from smartdoor_local.workflows import (
    execution_history,
    states_entered,
    wait_for_event,
    wait_for_execution,
)
from tests.fakes import FakeFaceEngine, FakeVideoFrames

MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
REGION = "us-east-1"
ACCOUNT = DEFAULT_ACCOUNT_ID

DOOR_ID = "front-door"
OWNER_PHONE = "+15550100000"
OWNER_EMAIL = "owner@example.com"
SITE_URL = "https://door.example.com"
VIDEO_STREAM_ARN = f"arn:aws:kinesisvideo:{REGION}:{ACCOUNT}:stream/front-door/1700000000000"
OTP_KEY = "k" * 64
DEFAULT_APPROVAL_TIMEOUT_SECONDS = 300
# The shortest approval timeout the functions accept (create_approval's settings): the timeout test.
SHORT_APPROVAL_TIMEOUT_SECONDS = 10
OWNER_DECISION = "Wait for owner's decision"
CODE_IN_SMS = re.compile(
    r"\b(?:is|code) (\d{6})\b"
)  # "... for front-door is 123456." / "code 123456 for ..."
APPROVAL_LINK = re.compile(re.escape(SITE_URL) + r"/owner/\?a=([A-Za-z0-9_%.-]+)")


def world_context(approval_timeout_seconds: int = DEFAULT_APPROVAL_TIMEOUT_SECONDS) -> dict[str, Any]:
    """The CDK context (cdk_app/config.py keys) the workflow world synthesizes the app with."""
    return {
        "doorId": DOOR_ID,
        "ownerPhone": OWNER_PHONE,
        "ownerEmail": OWNER_EMAIL,
        "siteUrl": SITE_URL,
        "approvalTimeoutSeconds": approval_timeout_seconds,
    }


def world_deployer(
    approval_timeout_seconds: int = DEFAULT_APPROVAL_TIMEOUT_SECONDS, variant: Variant | None = None
) -> Deployer:
    """The template (cached) for the world's context, and the world's names for its resources."""
    model, refs = local_deployment(
        world_context(approval_timeout_seconds),
        REGION,
        ACCOUNT,
        video_stream_arn=VIDEO_STREAM_ARN,
        variant=variant,
    )
    return Deployer(model, refs)


def face_event_detail(visit_id: str | None = None, **changes: Any) -> dict[str, Any]:
    """An UnknownFaceDetected detail as stream_match emits it (a KVS frame)."""
    frame_time = 1_763_700_000.5
    detail = FaceEventDetail(
        visit_id=visit_id or f"visit-{uuid.uuid4().hex[:12]}",
        door_id=DOOR_ID,
        detected_at=datetime.fromtimestamp(frame_time, UTC).isoformat().replace("+00:00", "Z"),
        frame=FrameLocation(
            source="kvs",
            frame_time=frame_time,
            stream_arn=VIDEO_STREAM_ARN,
            fragment_number="91343852333181432392682062607743920146264575226",
            producer_timestamp=1_763_700_000.0,
            server_timestamp=1_763_700_000.2,
            frame_offset_in_seconds=0.5,
        ),
        bounding_box=BoundingBox(Width=0.2, Height=0.3, Left=0.4, Top=0.3),
        confidence=99.8,
    ).to_wire()
    return detail | changes


def known_face_detail(visitor_id: str, visit_id: str | None = None) -> dict[str, Any]:
    base = face_event_detail(visit_id)
    return KnownFaceDetail.parse(
        base | {"faceId": str(uuid.uuid4()), "visitorId": visitor_id, "similarity": 99.1}
    ).to_wire()


def eventbridge_event(detail_type: str, detail: dict[str, Any]) -> dict[str, Any]:
    """The execution input: the event as an EventBridge rule hands it to Step Functions."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": "smartdoor",
        "account": ACCOUNT,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [],
        "detail": detail,
    }


@dataclass(frozen=True)
class Email:
    subject: str
    body: str


@dataclass(frozen=True)
class Sms:
    phone: str
    text: str


@dataclass
class Finished:
    """A stopped execution: its status, the states it entered, its history."""

    arn: str
    status: str
    states: list[str]
    history: list[dict[str, Any]]
    description: dict[str, Any]

    def failures_of(self, state: str) -> list[str]:
        """Error names of the failed attempts of `state` (TaskFailed / LambdaFunctionFailed events)."""
        errors = []
        current = None
        for event in self.history:
            entered = event.get("stateEnteredEventDetails")
            if entered:
                current = entered["name"]
            for key in (
                "taskFailedEventDetails",
                "taskTimedOutEventDetails",
                "lambdaFunctionFailedEventDetails",
            ):
                if key in event and current == state:
                    errors.append(event[key].get("error", ""))
        return errors

    def state_output(self, state: str) -> dict[str, Any]:
        for event in self.history:
            exited = event.get("stateExitedEventDetails")
            if exited and exited["name"] == state:
                output: dict[str, Any] = json.loads(exited["output"])
                return output
        raise AssertionError(f"{state!r} never exited; states: {self.states}")


class SnsOutage:
    """Makes moto's SNS Publish fail (as AWS answers when throttling or broken) for the next N
    publishes that match a condition, then recover."""

    def __init__(self) -> None:
        self._plans: list[tuple[Callable[[dict[str, Any]], bool], list[int], str]] = []
        self.failed: list[dict[str, Any]] = []

    def fail(
        self,
        times: int,
        when: Callable[[dict[str, Any]], bool] = lambda publish: True,
        error: str = "InternalErrorException",
    ) -> None:
        self._plans.append((when, [times], error))

    @contextmanager
    def installed(self) -> Iterator[SnsOutage]:
        original = SNSBackend.publish
        outage = self

        def publish(
            backend: Any, message: str, arn: str | None, phone_number: str | None = None, **kw: Any
        ) -> str:
            request = {"message": message, "arn": arn, "phone_number": phone_number, **kw}
            for when, remaining, error in outage._plans:
                if remaining[0] > 0 and when(request):
                    remaining[0] -= 1
                    outage.failed.append(request)
                    raise SNSException(error, "SNS is having a bad moment (test outage)")
            return original(backend, message, arn, phone_number, **kw)

        SNSBackend.publish = publish  # type: ignore[method-assign]
        try:
            yield self
        finally:
            SNSBackend.publish = original  # type: ignore[method-assign]


def matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """Whether EventBridge would match `event` with `pattern` (moto's matcher, as the local
    stack's rules use it)."""
    from moto.events.models import EventPattern

    return bool(EventPattern.load(json.dumps(pattern)).matches_event(event))


@dataclass
class SmartDoorOnMoto:
    """One Smart Door deployment on moto, with the helpers the workflow tests share."""

    runtime: LambdaRuntime
    engine: FakeFaceEngine
    frames: FakeVideoFrames
    sns_outage: SnsOutage
    deployer: Deployer
    names: dict[str, str] = field(default_factory=dict)
    state_machines: dict[str, str] = field(default_factory=dict)
    # Variables set in every function whose template sets them (a test's or the doorbell world's).
    settings: dict[str, str] = field(default_factory=dict)
    _role_arn: str = ""
    _emails: list[Email] = field(default_factory=list)
    _bus_events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def model(self) -> DeploymentModel:
        return self.deployer.model

    # ------------------------------------------------------------------ clients

    @property
    def sfn(self) -> Any:
        return boto3.client("stepfunctions", region_name=REGION)

    @property
    def dynamodb(self) -> Any:
        return boto3.resource("dynamodb", region_name=REGION)

    @property
    def sqs(self) -> Any:
        return boto3.client("sqs", region_name=REGION)

    # ------------------------------------------------------------------ deploying

    def deploy(self) -> SmartDoorOnMoto:
        """Everything the template describes but the state machines (made on first use)."""
        self.deployer.create_tables()
        self.deployer.create_storage(secret_value=lambda: OTP_KEY)
        self.deployer.create_messaging()
        self.names = self.deployer.names() | self._watch()
        self.register_functions()
        self._role_arn = self.deployer.role()
        self.runtime.create_functions(boto3.client("lambda", region_name=REGION), self._role_arn)
        return self

    def _watch(self) -> dict[str, str]:
        """Two queues to see what happened: the owner's inbox (on the alerts topic) and a tap on
        the bus (every `smartdoor` event). Test instruments, not part of the deployment."""
        names = self.deployer.names()
        inbox = self._queue("owner-inbox")
        boto3.client("sns", region_name=REGION).subscribe(
            TopicArn=names["alerts_topic"], Protocol="sqs", Endpoint=inbox["arn"]
        )
        events = boto3.client("events", region_name=REGION)
        tap = self._queue("bus-tap")
        events.put_rule(
            Name="tap", EventBusName=names["bus"], EventPattern=json.dumps({"source": ["smartdoor"]})
        )
        events.put_targets(Rule="tap", EventBusName=names["bus"], Targets=[{"Id": "tap", "Arn": tap["arn"]}])
        return {"owner_inbox": inbox["url"], "bus_tap": tap["url"]}

    def _queue(self, name: str) -> dict[str, str]:
        url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        return {"url": url, "arn": arn}

    def adapter_overrides(self) -> dict[str, dict[str, Any]]:
        """By function folder: only the adapters moto cannot emulate; everything else is real."""
        return {
            "extract_frame": {"frames": self.frames},
            "check_collection": {"engine": self.engine},
            "enrol_face": {"engine": self.engine},
        }

    def register_functions(self, adapters: dict[str, dict[str, Any]] | None = None) -> None:
        """(Re-)register every project function with its template environment (and `settings`
        where the template sets the variable) and the adapter overrides."""
        adapters = adapters or self.adapter_overrides()
        for function in self.model.functions():
            if function_skip_reason(function) == NOT_A_PROJECT_FUNCTION:
                continue
            self.runtime.register(
                LocalFunction(
                    name=self.deployer.refs.refs[function.logical_id],
                    handler=function.handler,
                    environment=self.deployer.environment(function, self.settings),
                    overrides=adapters.get(str(function.folder), {}),
                )
            )

    # ------------------------------------------------------------------ running

    def state_machine(self, workflow: str) -> str:
        """The state machine's ARN, created from the template on first use (moto's ASL parser is
        slow, and most tests need only one or two)."""
        if workflow not in self.state_machines:
            machine = self.deployer.state_machine(workflow)
            self.state_machines[workflow] = self.deployer.create_state_machine(machine, self._role_arn)
        return self.state_machines[workflow]

    def rule_starts(self, workflow: str, event: dict[str, Any]) -> bool:
        """Whether one of the template's rules that target `workflow` matches `event`."""
        machine = self.deployer.state_machine(workflow)
        intrinsics = self.deployer.intrinsics
        return any(
            matches(intrinsics.resolve(rule.pattern), event)
            for rule in self.deployer.rules_targeting(machine.logical_id)
        )

    def start(self, workflow: str, event: dict[str, Any], name: str | None = None) -> str:
        """What the template's rules do with `event`: start `workflow` if one of its rules matches
        (an event no rule of the workflow matches is a test that could not happen on AWS)."""
        machine = self.deployer.state_machine(workflow)
        rules = self.deployer.rules_targeting(machine.logical_id)
        intrinsics = self.deployer.intrinsics
        if not any(matches(intrinsics.resolve(rule.pattern), event) for rule in rules):
            raise AssertionError(
                f"no rule of the template starts {workflow} for a {event.get('detail-type')!r}"
            )
        response = self.sfn.start_execution(
            stateMachineArn=self.state_machine(workflow),
            name=name or f"{workflow}-{uuid.uuid4().hex[:12]}",
            input=json.dumps(event),
        )
        arn: str = response["executionArn"]
        return arn

    def start_unknown(self, detail: dict[str, Any] | None = None) -> str:
        return self.start(
            "unknown_visitor",
            eventbridge_event(DetailType.UNKNOWN_FACE_DETECTED, detail or face_event_detail()),
        )

    def start_known(self, detail: dict[str, Any]) -> str:
        return self.start("known_visitor", eventbridge_event(DetailType.KNOWN_FACE_DETECTED, detail))

    def finish(self, execution_arn: str, timeout: float = 60) -> Finished:
        description = wait_for_execution(self.sfn, execution_arn, timeout=timeout)
        history = execution_history(self.sfn, execution_arn)
        return Finished(execution_arn, description["status"], states_entered(history), history, description)

    def wait_for_owner(self, execution_arn: str) -> str:
        """Wait until the owner has been asked (the token is stored); the approvalId from their SMS link."""
        wait_for_event(self.sfn, execution_arn, "TaskSubmitted", after_state=OWNER_DECISION)
        links = [match for sms in self.sms_to(OWNER_PHONE) for match in APPROVAL_LINK.findall(sms.text)]
        assert links, "the owner got no SMS with an approval link"
        return links[-1]

    def api(self, method: str, approval_id: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """GET or POST /approvals/{approvalId} through the real API handler, as API Gateway sends it."""
        path = f"/approvals/{approval_id}"
        request = LocalRequest(
            method=method,
            path=path,
            raw_path=path,
            query={},
            headers=[("Content-Type", "application/json")],
            body=json.dumps(body).encode() if body is not None else b"",
            client_ip="203.0.113.7",
            host="api.example.com",
        )
        event = build_proxy_event(
            request, resource="/approvals/{approvalId}", path_parameters={"approvalId": approval_id}
        )
        answer, failed = self.runtime.invoke("api", event)
        assert not failed, answer
        return dict(answer)

    def owner_approval_ids(self) -> set[str]:
        """The approval ids (`<ref>.<mac>`) of every link the owner got, by SMS or by email."""
        messages = [sms.text for sms in self.sms_to(OWNER_PHONE)] + [email.body for email in self.emails()]
        return {match for message in messages for match in APPROVAL_LINK.findall(message)}

    def decide(
        self, approval_id: str, decision: str, name: str | None = None, phone: str | None = None
    ) -> DecisionResult:
        """What the approval API does on POST /approvals/{approvalId}."""
        return decide(
            approval_id,
            decision,
            name,
            phone,
            now=utc_now(),
            approvals=DynamoApprovalStore(self.names["approvals"]),
            task_tokens=StepFunctionsTaskTokens(),
            link_key=SecretsManagerHmacKey(self.names["otp_secret"]),
        )

    # ------------------------------------------------------------------ observing

    def sms(self) -> list[Sms]:
        backend = sns_backends[ACCOUNT][REGION]
        return [Sms(phone, text) for phone, text in backend.sms_messages.values()]

    def sms_to(self, phone: str) -> list[Sms]:
        return [sms for sms in self.sms() if sms.phone == phone]

    def passcodes_sent_to(self, phone: str) -> list[str]:
        return [code for sms in self.sms_to(phone) for code in CODE_IN_SMS.findall(sms.text)]

    def emails(self) -> list[Email]:
        """Everything published to the alerts topic so far (the owner's email subscription)."""
        for body in self._drain(self.names["owner_inbox"]):
            envelope = json.loads(body)
            self._emails.append(Email(envelope.get("Subject") or "", envelope["Message"]))
        return list(self._emails)

    def bus_events(self, detail_type: str | None = None) -> list[dict[str, Any]]:
        for body in self._drain(self.names["bus_tap"]):
            self._bus_events.append(json.loads(body))
        return [e for e in self._bus_events if detail_type is None or e["detail-type"] == detail_type]

    def _drain(self, queue_url: str) -> list[str]:
        bodies = []
        while True:
            messages = self.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not messages:
                return bodies
            for message in messages:
                bodies.append(message["Body"])
                self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    def item(self, table: str, **key: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.dynamodb.Table(self.names[table]).get_item(Key=key).get("Item")
        return found

    def items(self, table: str) -> list[dict[str, Any]]:
        scanned: list[dict[str, Any]] = self.dynamodb.Table(self.names[table]).scan()["Items"]
        return scanned

    def claim(self, visit_id: str, workflow: str) -> dict[str, Any] | None:
        return self.item("visits", pk=f"VISIT#{visit_id}", sk=f"WORKFLOW#{workflow}")

    def all_histories(self) -> dict[str, str]:
        """Every execution of every state machine -> its whole history as JSON text."""
        histories = {}
        for arn in self.state_machines.values():
            for execution in self.sfn.list_executions(stateMachineArn=arn)["executions"]:
                events = execution_history(self.sfn, execution["executionArn"])
                histories[execution["executionArn"]] = json.dumps(events, default=str)
        return histories

    def stop_running_executions(self) -> None:
        for arn in self.state_machines.values():
            for execution in self.sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")[
                "executions"
            ]:
                self.sfn.stop_execution(executionArn=execution["executionArn"], error="TestEnded")


@contextmanager
def captured_logs() -> Iterator[io.StringIO]:
    """Every line the functions log (Powertools JSON), for the 'never in logs' checks."""
    sink = io.StringIO()
    handler = logging.StreamHandler(sink)
    handler.setFormatter(powertools_logger.registered_formatter)
    powertools_logger.addHandler(handler)
    try:
        yield sink
    finally:
        powertools_logger.removeHandler(handler)


@pytest.fixture
def approval_timeout_seconds() -> int:
    """Override in a test module (or parametrize) to change create_approval's APPROVAL_TIMEOUT_SECONDS."""
    return DEFAULT_APPROVAL_TIMEOUT_SECONDS


@pytest.fixture
def door(approval_timeout_seconds: int) -> Iterator[SmartDoorOnMoto]:
    with door_on_moto(world_deployer(approval_timeout_seconds)) as deployment:
        yield deployment


@contextmanager
def door_on_moto(deployer: Deployer) -> Iterator[SmartDoorOnMoto]:
    """The world for `deployer`'s template, deployed on a fresh moto account; the global checks
    when the block ends without an error."""
    reset_clients()
    runtime = LambdaRuntime()
    deployment = SmartDoorOnMoto(
        runtime=runtime,
        engine=FakeFaceEngine(),
        frames=FakeVideoFrames(),
        sns_outage=SnsOutage(),
        deployer=deployer,
    )
    with (
        mock_aws(config=MOTO_CONFIG),  # type: ignore[arg-type]
        runtime.installed(),
        deployment.sns_outage.installed(),
        captured_logs() as logs,
    ):
        deployment.deploy()
        try:
            yield deployment
            assert_nothing_secret_leaked(deployment, logs.getvalue())
        finally:
            deployment.stop_running_executions()
    reset_clients()


def assert_nothing_secret_leaked(door: SmartDoorOnMoto, logs: str) -> None:
    """The global rules: no passcode, no visitor phone and no working approval link (the owner's
    `<ref>.<mac>`, or its MAC alone) in any execution history or log line; no task token in any
    SMS or email."""
    histories = door.all_histories()
    for approval_id in door.owner_approval_ids():
        mac = approval_id.partition(".")[2]
        for secret in (approval_id, mac):
            for arn, history in histories.items():
                assert secret not in history, f"a working approval link is in the history of {arn}"
            assert secret not in logs, "a working approval link was logged"
    visitor_phones = {sms.phone for sms in door.sms() if sms.phone != OWNER_PHONE}
    visitor_phones |= {str(visitor["phone"]) for visitor in door.items("visitors")}
    codes = {code for phone in visitor_phones for code in door.passcodes_sent_to(phone)}
    for code in codes:
        for arn, history in histories.items():
            assert code not in history, f"passcode found in the history of {arn}"
        assert code not in logs, "a passcode was logged"
    for phone in visitor_phones:
        for arn, history in histories.items():
            assert phone not in history, f"a visitor's phone number is in the history of {arn}"
        assert phone not in logs, "a visitor's phone number was logged in clear"
    assert OWNER_PHONE not in logs, "the owner's phone number was logged in clear"

    tokens = set()
    for history in histories.values():
        for event in json.loads(history):
            scheduled = event.get("taskScheduledEventDetails")
            if scheduled and scheduled["resource"].endswith(".waitForTaskToken"):
                tokens.add(json.loads(scheduled["parameters"])["Payload"]["taskToken"])
    messages = [sms.text for sms in door.sms()] + [f"{e.subject}\n{e.body}" for e in door.emails()]
    for token in tokens:
        assert all(token not in message for message in messages), "a task token left the server"
