"""The local stack: Smart Door's AWS resources on moto, in this process, with the real handlers.

    with LocalStack(LocalConfig(), site_url="http://127.0.0.1:8080") as stack:
        stack.aws_endpoint      # http://127.0.0.1:<port>: moto, for other processes (the CLI)
        stack.put_record(...)   # a face-search record onto the stream -> stream_match -> ...
        stack.outbox.messages() # every SMS, email and push
        stack.push_service      # a Web Push service on 127.0.0.1 (new_subscription(), deliveries)
        stack.executions()      # every workflow execution and the states it went through

What it builds is read from the CDK stack's synthesized template (smartdoor_local.emulation:
synthesized in-process with `LocalConfig.context()`, cached on disk per hash of the sources):
its tables (keys, indexes, TTL), buckets, queues, topic and subscription, the OTP secret, the
bus and every rule with its targets, the face-search stream and its mapping into the match
function, every project function with its template environment, and every state machine with
its definition and type. Nothing is described twice: what differs locally is named once, with
why, in smartdoor_local.emulation.overrides (ENVIRONMENT_OVERRIDES, ADAPTER_OVERRIDES), and what
is not built in smartdoor_local.emulation.resources (SKIPPED_TYPES, SKIPPED_FUNCTIONS). On top,
the local stack keeps its face collection (dlib embeddings) in one more table, `SmartDoor-LocalFaces`
(overrides.LOCAL_FACES).

How AWS is stood in for:

- moto runs in this process (`mock_aws`, Step Functions execution on) and is also served over
  HTTP on 127.0.0.1 (`aws_endpoint`), so other processes see the same resources.
- Lambda: `LambdaRuntime` calls the real handlers in-process. Only what moto cannot emulate is
  replaced: the face engine (`LocalFaceEngine`, for check_collection and enrol_face), video
  frames (there is no KVS locally: camera frames are stored snapshots), and photo links
  (`LocalPhotoLinks` instead of S3 presigned URLs, served by the local server).
- EventBridge rules start executions (`EventDelivery`); the Kinesis event source mapping is
  `StreamMapping`; SNS deliveries land in the `Outbox`. Web Push: ask_owner's real sender posts
  to each subscription's endpoint; `LocalPushService` (127.0.0.1) is the push service of the
  subscriptions it creates, checks the VAPID JWT, decrypts and puts each push in the outbox.
- The lock (`LocalConfig.lock`): "iot" starts the MQTT broker (`broker`), forwards iot-data's
  Publish to it and runs the template's topic rules on it (`topic_rules`); "webhook" creates the
  EventBridge connection and the owner's secret, and Step Functions' HTTP Task (`http_tasks`)
  posts to the local receiver (`lock_webhook`) or `lock_webhook_url`.

Everything lives in memory: stopping the stack forgets visitors, faces and photos.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, fields
from functools import cache
from typing import Any

from smartdoor.observability import logger
from smartdoor_local import ensure_repository_importable
from smartdoor_local.door_camera import LocalCameraFeed
from smartdoor_local.emulation.deploy import Deployer
from smartdoor_local.emulation.model import DeploymentModel, Function
from smartdoor_local.emulation.overrides import (
    LOCAL_FACES,
    LOCAL_WEBHOOK_PATH,
    LOCAL_WEBHOOK_SECRET,
    LOCAL_WEBHOOK_URL,
    MATCH_RULE_VARIABLES,
    local_overrides,
    lock_context,
)
from smartdoor_local.emulation.resources import (
    FACES_TABLE,
    LocalRefs,
    function_skip_reason,
    local_deployment,
)
from smartdoor_local.emulation.template import Variant
from smartdoor_local.environment import patched_environ
from smartdoor_local.event_rules import EventDelivery
from smartdoor_local.face_engine import DynamoFaceStore, LocalFaceEngine, load_models
from smartdoor_local.http_tasks import HttpInvoke
from smartdoor_local.iot import MqttPublish, TopicRuleBridge, topic_rules
from smartdoor_local.lambda_runtime import LambdaRuntime, LocalFunction, function_name_of
from smartdoor_local.lock_webhook import LockWebhookReceiver
from smartdoor_local.mqtt_broker import LocalBroker, start_broker
from smartdoor_local.outbox import Outbox
from smartdoor_local.photo_links import LocalPhotoLinks
from smartdoor_local.push_service import LOCAL_PUSH_HOSTS, LocalPushService
from smartdoor_local.s3_post_policy import enforce_post_policy
from smartdoor_local.serving import (
    LimitedRequestHandler,
    RunningServer,
    loopback_only,
    refuse_browsers,
    serve_in_thread,
)
from smartdoor_local.stream_mapping import StreamMapping
from smartdoor_local.workflows import execution_history, states_entered

REGION = "us-east-1"
# The fake credentials the stack's process uses (and signs snapshot upload forms with).
LOCAL_ACCESS_KEY_ID = "local"
LOCAL_SECRET_ACCESS_KEY = "local"  # noqa: S105 - moto's, not a secret
ACCOUNT = "123456789012"
MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
API_FUNCTION_NAME = "api"
MATCH_FUNCTION_NAME = "stream_match"
LOCK_WEBHOOK_KEY_VARIABLE = "SMARTDOOR_LOCK_WEBHOOK_KEY"


@cache
def cdk_defaults() -> dict[str, Any]:
    """Every defaulted key of the deployment configuration (cdk_app/config.py): field name -> default.
    The one defaults table; the local stack reads it rather than repeating it."""
    ensure_repository_importable()
    from cdk_app.config import SmartDoorConfig

    return {
        name: info.default for name, info in SmartDoorConfig.model_fields.items() if not info.is_required()
    }


def _cdk(name: str) -> Any:
    return field(default_factory=lambda: cdk_defaults()[name])


# The match rules (stream_match's): replay overrides them instead of synthesizing per value.
_MATCH_RULE_FIELDS = (
    "face_match_threshold",
    "min_frames_for_decision",
    "min_face_confidence",
    "min_face_size_ratio",
    "min_face_sharpness",
    "min_face_brightness",
)


@dataclass(frozen=True)
class LocalConfig:
    """The local stack's settings: the CDK context keys (README, Configuration) it may change,
    with CDK's defaults, but the owner's contacts (a deployment must give them) and the visit gap.
    Every other key is left to CDK (its default, in the template)."""

    door_id: str = _cdk("door_id")
    owner_phone: str = "+15550100000"
    owner_email: str = "owner@example.com"
    face_match_threshold: float = _cdk("face_match_threshold")
    min_frames_for_decision: int = _cdk("min_frames_for_decision")
    # 120 s on AWS; short here so that "walk away and come back" takes seconds, not minutes.
    visit_gap_seconds: float = 5.0
    min_face_confidence: float = _cdk("min_face_confidence")
    min_face_size_ratio: float = _cdk("min_face_size_ratio")
    min_face_sharpness: float = _cdk("min_face_sharpness")
    min_face_brightness: float = _cdk("min_face_brightness")
    # CDK's smsPerDoorPerHour: owner and visitor texts one door may send in an hour (the
    # orchestration benchmark sends dozens in minutes and raises it).
    sms_per_door_per_hour: int = _cdk("sms_per_door_per_hour")
    # The door's KVS stream: records without a doorId must come from it (replay: the trace's).
    video_stream_arn: str | None = None
    # "images" (the camera page streams frames) or "snapshots" (the door agent's uploads only:
    # `smartdoor local --face-source snapshots`); CDK's faceSource context.
    face_source: str = "images"
    # The door's lock: "iot" (the door agent's relay, over the local MQTT broker), "webhook" (the
    # local webhook receiver, /local/lock-webhook) or "none" (CDK's default: no lock);
    # `smartdoor local --lock` (default none, as CDK; iot with the door agent).
    # smartdoor_local.emulation.overrides.LOCK_CONTEXT.
    lock: str = "none"
    lock_command_seconds: int = _cdk("lock_command_seconds")
    # The webhook lock's URL (`--lock-webhook-url`, e.g. a Home Assistant on the LAN): None is the
    # local receiver, /local/lock-webhook. Its key header's value: SMARTDOOR_LOCK_WEBHOOK_KEY if
    # set (what that lock expects), else a random one.
    lock_webhook_url: str | None = None

    def context(self, *, match_rules: bool = True) -> dict[str, Any]:
        """The CDK context keys (cdk_app/config.py's aliases) the local stack synthesizes with:
        these fields but the visit gap (an environment override). Without `match_rules` (replay)
        the match rules stay CDK's defaults and are overridden instead."""
        from cdk_app.config import SmartDoorConfig

        skipped = {"visit_gap_seconds", *(() if match_rules else _MATCH_RULE_FIELDS)}
        known = SmartDoorConfig.model_fields
        context: dict[str, Any] = {
            str(known[name].alias): getattr(self, name)
            for name in (f.name for f in fields(self))
            if name in known and name not in skipped
        }
        return context | lock_context(self.lock)

    def match_rules(self) -> dict[str, str]:
        """The match rules as stream_match reads them (replay's overrides)."""
        return {
            variable: str(getattr(self, name))
            for variable, name in zip(MATCH_RULE_VARIABLES, _MATCH_RULE_FIELDS, strict=True)
        }


# ---------------------------------------------------------------------------- moto over HTTP


class MotoServer:
    """moto's HTTP front end on 127.0.0.1, serving this process's backends to other processes.

    Served like the local server (`smartdoor_local.serving`: limits, loopback Host only), it
    also refuses requests from web pages, and checks browser-upload forms as S3 does
    (`smartdoor_local.s3_post_policy`) before moto stores them.
    """

    def __init__(self, port: int = 0, credentials: Mapping[str, str] | None = None) -> None:
        self._port = port
        # access key -> secret key: the keys upload forms may be signed with
        self._credentials = dict(credentials or {LOCAL_ACCESS_KEY_ID: LOCAL_SECRET_ACCESS_KEY})
        self._running: RunningServer | None = None

    @property
    def url(self) -> str:
        if self._running is None:
            raise RuntimeError("the moto server is not running")
        return f"http://127.0.0.1:{self._running.port}"

    def start(self) -> MotoServer:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
        moto = DomainDispatcherApplication(create_backend_app)
        app = refuse_browsers(enforce_post_policy(moto, self._credentials))
        self._running = serve_in_thread(
            lambda port: loopback_only(app, port),
            name="smartdoor-moto-server",
            host="127.0.0.1",  # loopback only: never another interface
            port=self._port,
            handler=_moto_request_handler(),
        )
        return self

    def stop(self) -> None:
        running, self._running = self._running, None
        if running is not None:
            running.stop()


def _moto_request_handler() -> type[LimitedRequestHandler]:
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class MotoHandler(LimitedRequestHandler, MotoRequestHandler):
        """The local server's limits, with moto's own header handling (S3 metadata names)."""

        def make_environ(self) -> Any:
            environ = super().make_environ()
            # moto reads bodies itself: the whole-request deadline covers the line and headers.
            self.request_read()
            return environ

    return MotoHandler


# ---------------------------------------------------------------------------- environment


@contextmanager
def offline_aws_environment() -> Iterator[None]:
    """Fake credentials and the local region for this process while the stack runs; quiet
    Powertools (no X-Ray). A real AWS profile is never used."""
    changes = {
        "AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_ACCESS_KEY,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "POWERTOOLS_TRACE_DISABLED": "1",
    }
    removed = (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_ENDPOINT_URL",
    )
    with patched_environ(changes, removed):
        yield


def reset_process_caches() -> None:
    """Forget every client, settings and adapter the Lambda code cached (a fresh moto account)."""
    from smartdoor.adapters.aws import reset_clients

    reset_clients()


# ---------------------------------------------------------------------------- the stack


@dataclass
class LocalStack:
    config: LocalConfig = field(default_factory=LocalConfig)
    site_url: str = "http://127.0.0.1:8080"
    # False: only the match function (smartdoor replay): no state machines, no rules.
    with_workflows: bool = True
    # None: no HTTP front end for moto (nothing listens).
    moto_port: int | None = 0
    # Start the Kinesis poller thread (False: call `mapping.pump()` yourself).
    poll_stream: bool = True
    # A change to the CDK app made in-process before synthesis (tests: smartdoor_local.emulation.template).
    variant: Variant | None = None

    runtime: LambdaRuntime = field(default_factory=LambdaRuntime)
    outbox: Outbox = field(default_factory=Outbox)
    push_service: LocalPushService = field(init=False)
    names: dict[str, str] = field(default_factory=dict)
    model: DeploymentModel = field(init=False)
    refs: LocalRefs = field(init=False)
    deployer: Deployer = field(init=False)
    state_machines: dict[str, str] = field(default_factory=dict)
    bus: EventDelivery = field(init=False)
    engine: LocalFaceEngine = field(init=False)
    photo_links: LocalPhotoLinks = field(init=False)
    mapping: StreamMapping | None = field(init=False)
    function_arns: dict[str, str] = field(default_factory=dict)
    camera_feed: LocalCameraFeed = field(init=False)
    # Failed asynchronous invocations (EventBridge -> Lambda): (function, error type).
    async_failures: list[tuple[str, str]] = field(default_factory=list)
    match_failures: list[dict[str, Any]] = field(default_factory=list)
    # The lock: the MQTT broker (lock "iot"), the topic rules on it, the HTTP Tasks' requests and
    # the local webhook receiver (lock "webhook").
    broker: LocalBroker | None = None
    topic_rules: TopicRuleBridge | None = None
    http_tasks: HttpInvoke = field(init=False)
    lock_webhook: LockWebhookReceiver = field(default_factory=lambda: _lock_webhook_receiver())
    _moto: MotoServer | None = None
    _exit: ExitStack | None = None

    def __post_init__(self) -> None:
        self.model, self.refs = local_deployment(
            self.config.context(match_rules=self.with_workflows),
            REGION,
            ACCOUNT,
            video_stream_arn=self.config.video_stream_arn,
            variant=self.variant,
        )
        self.deployer = Deployer(self.model, self.refs)
        self.names = self._names()
        self.bus = EventDelivery(self.names["bus"], invoke_function=self._invoke_target)
        self.photo_links = LocalPhotoLinks(self.site_url, self.names["photos"])
        # faceSource=snapshots has no camera stream: the door agent's uploads are the frames.
        camera = self.names.get("video_stream_arn")
        self.camera_feed = LocalCameraFeed({camera: self.config.door_id} if camera else {})
        receiver = self.config.lock_webhook_url or f"{self.site_url.rstrip('/')}{LOCAL_WEBHOOK_PATH}"
        self.http_tasks = HttpInvoke({LOCAL_WEBHOOK_URL: receiver})

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> LocalStack:
        if self._exit is not None:
            raise RuntimeError("the local stack is already running")
        from moto import mock_aws

        exit_stack = ExitStack()
        try:
            exit_stack.enter_context(offline_aws_environment())
            exit_stack.enter_context(mock_aws(config=MOTO_CONFIG))  # type: ignore[call-overload]
            reset_process_caches()
            exit_stack.callback(reset_process_caches)
            exit_stack.enter_context(self.runtime.installed())
            exit_stack.enter_context(self.outbox.installed())
            self.push_service = LocalPushService(self.outbox).start()
            exit_stack.callback(self.push_service.stop)
            exit_stack.enter_context(self.bus.installed())
            exit_stack.callback(self.bus.drain)
            if self.moto_port is not None:
                self._moto = MotoServer(port=self.moto_port).start()
                exit_stack.callback(self._moto.stop)
            self._start_lock_services(exit_stack)
            self._deploy()
            self._start_topic_rules(exit_stack)
            if self.with_workflows:
                exit_stack.callback(self._stop_running_executions)
            if self.mapping is not None:
                if self.poll_stream:
                    self.mapping.start()
                exit_stack.callback(self.mapping.stop)
        except BaseException:
            exit_stack.close()
            raise
        self._exit = exit_stack
        return self

    def _start_lock_services(self, exit_stack: ExitStack) -> None:
        """The broker and iot-data's Publish onto it (lock "iot"); the HTTP Task (lock "webhook")."""
        if self.config.lock == "iot":
            self.broker = start_broker()
            exit_stack.callback(self.broker.stop)
            exit_stack.enter_context(MqttPublish(self.broker.host, self.broker.port).installed())
        if self.with_workflows:
            exit_stack.enter_context(self.http_tasks.installed())

    def _start_topic_rules(self, exit_stack: ExitStack) -> None:
        rules = topic_rules(self.model.resources, self.deployer.intrinsics)
        if not rules or not self.with_workflows:
            return
        if self.broker is None:
            raise RuntimeError("the template has IoT topic rules but the local stack runs no broker")
        self.topic_rules = TopicRuleBridge(rules, self._invoke_target).start(
            self.broker.host, self.broker.port
        )
        exit_stack.callback(self.topic_rules.stop)

    def stop(self) -> None:
        exit_stack, self._exit = self._exit, None
        if exit_stack is not None:
            exit_stack.close()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def aws_endpoint(self) -> str | None:
        return self._moto.url if self._moto is not None else None

    # ------------------------------------------------------------------ clients (in-process moto)

    @staticmethod
    def client(service: str) -> Any:
        import boto3

        return boto3.client(service, region_name=REGION)  # type: ignore[call-overload]

    # ------------------------------------------------------------------ deploying

    def _names(self) -> dict[str, str]:
        """`names` from the template: each resource as the function variable naming it resolves."""
        return {"faces": FACES_TABLE} | self.deployer.names()

    def _deploy(self) -> None:

        self._create_tables()
        self.deployer.create_storage()
        self._create_lock_webhook_secret()
        self.deployer.create_messaging()
        self.deployer.create_connections()
        self.names = self._names()
        from smartdoor.adapters.photo_store import S3PhotoStore

        self.engine = LocalFaceEngine(
            DynamoFaceStore(self.names["faces"]), photos=S3PhotoStore(self.names["photos"])
        )
        if self.with_workflows:
            load_models()  # now, not on the first frame
        self._register_functions()
        role = self.deployer.role()
        self.function_arns = self.runtime.create_functions(self.client("lambda"), role)
        self.mapping = self._stream_mapping()
        if self.with_workflows:
            self._create_workflows(role)

    def _create_lock_webhook_secret(self) -> None:
        """The secret the owner creates on AWS for the webhook's header (lock "webhook")."""
        if self.config.lock == "webhook":
            self.client("secretsmanager").create_secret(
                Name=LOCAL_WEBHOOK_SECRET, SecretString=self.lock_webhook.key
            )

    def _create_tables(self) -> None:
        self.deployer.create_tables()
        LOCAL_FACES.create(self.client("dynamodb"), FACES_TABLE)

    def _stream_mapping(self) -> StreamMapping | None:
        mappings = self.model.stream_mappings()  # the face-search stream -> stream_match
        if not mappings:  # faceSource=snapshots: process_snapshot invokes stream_match itself
            self.names["match_failures"] = ""
            return None
        (mapping,) = mappings
        on_failure = self.refs.refs[mapping.on_failure] if mapping.on_failure else None
        self.names["match_failures"] = on_failure or ""
        return StreamMapping(
            runtime=self.runtime,
            function_name=self.refs.refs[mapping.function],
            kinesis=self.client("kinesis"),
            stream_name=self.refs.refs[mapping.stream],
            region=REGION,
            batch_size=mapping.batch_size,
            retry_attempts=mapping.retry_attempts,
            on_failure=self._match_failed if on_failure else None,
        )

    def _local_functions(self) -> list[Function]:
        """The project functions this stack runs (skipped ones: resources.function_skip_reason)."""
        wanted = [f for f in self.model.functions() if function_skip_reason(f) is None]
        if not self.with_workflows:
            wanted = [f for f in wanted if f.folder == MATCH_FUNCTION_NAME]
        return wanted

    def _register_functions(self) -> None:
        adapters = self._adapter_overrides()
        for function in self._local_functions():
            self.runtime.register(
                LocalFunction(
                    name=self.refs.refs[function.logical_id],
                    handler=function.handler,
                    environment=self.local_environment(function),
                    overrides=adapters.get(str(function.folder), {}),
                )
            )

    def local_environment(self, function: Function) -> dict[str, str]:
        """The function's template environment, rendered, with the local overrides applied."""
        overrides = self._environment_overrides()
        return self.deployer.environment(function, overrides) | {
            variable: overrides[variable] for variable in self._added_variables(function)
        }

    def _added_variables(self, function: Function) -> list[str]:
        """Replay's match rules where the template leaves one to its default."""
        if self.with_workflows or function.folder != MATCH_FUNCTION_NAME:
            return []
        return [variable for variable in MATCH_RULE_VARIABLES if variable not in function.environment]

    def _environment_overrides(self) -> dict[str, str]:
        """ENVIRONMENT_OVERRIDES' values (applied to any function whose template sets the variable)."""
        overrides = local_overrides(self.site_url, self.config.visit_gap_seconds)
        if not self.with_workflows:
            overrides |= self.config.match_rules()
        return overrides

    def _adapter_overrides(self) -> dict[str, dict[str, Any]]:
        """ADAPTER_OVERRIDES' adapters, by function folder."""
        return {
            "extract_frame": {"frames": self.camera_feed},
            "check_collection": {"engine": self.engine},
            "enrol_face": {"engine": self.engine},
            "ask_owner": {"photo_links": self.photo_links, "push_http_hosts": LOCAL_PUSH_HOSTS},
            "sample_door": {"camera": self.camera_feed, "engine": self.engine},
            "process_snapshot": {"engine": self.engine},
            API_FUNCTION_NAME: {
                "photo_links": self.photo_links,
                "push_http_hosts": LOCAL_PUSH_HOSTS,
                **self._device_overrides(),
            },
        }

    def _device_overrides(self) -> dict[str, Any]:
        """Snapshot upload forms that point at the local moto server (a device can reach it)."""
        if self._moto is None:
            return {}
        import boto3
        from botocore.config import Config

        from smartdoor.adapters.snapshot_store import S3SnapshotUploads

        presigner = boto3.client(
            "s3",
            region_name=REGION,
            endpoint_url=self._moto.url,
            # The keys the moto server checks forms against (mock_aws's own fake keys vary).
            aws_access_key_id=LOCAL_ACCESS_KEY_ID,
            aws_secret_access_key=LOCAL_SECRET_ACCESS_KEY,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )
        return {"snapshot_forms": S3SnapshotUploads(self.names["photos"], presigning_client=presigner)}

    def _create_workflows(self, role_arn: str) -> None:
        for machine in self.model.state_machines():
            arn = self.deployer.create_state_machine(machine, role_arn)
            self.state_machines[machine.workflow or machine.logical_id] = arn
        for rule in self.model.rules():
            self.deployer.put_rule(rule, role_arn)

    # ------------------------------------------------------------------ running

    def put_record(self, record: Mapping[str, Any], partition_key: str | None = None) -> str:
        """Put one face-search record on the stream (what a doorbell session does). With
        faceSource=snapshots there is no stream: the record goes to the match function as
        process_snapshot hands it there (smartdoor.adapters.match_invoker)."""
        if "face_search_stream" not in self.names:
            from smartdoor.adapters.match_invoker import LambdaMatchWriter
            from smartdoor.domain.face_search_records import OutgoingRecord

            writer = LambdaMatchWriter(
                self.function_arns["stream_match"], lambda_client=self.client("lambda")
            )
            key = partition_key or str(record.get("doorId") or self.config.door_id)
            return writer.write([OutgoingRecord(partition_key=key, data=record)])[0]
        response = self.client("kinesis").put_record(
            StreamName=self.names["face_search_stream"],
            Data=json.dumps(record).encode("utf-8"),
            PartitionKey=partition_key or str(record.get("doorId") or self.config.door_id),
        )
        return str(response["SequenceNumber"])

    def _invoke_target(self, function_arn: str, event: dict[str, Any]) -> None:
        """An asynchronous invocation by an EventBridge rule."""
        result, failed = self.runtime.invoke(function_arn, event)
        if failed:
            name = function_name_of(function_arn)
            self.async_failures.append((name, str(result.get("errorType"))))
            raise RuntimeError(f"{name} failed with {result.get('errorType')}")

    def _match_failed(self, records: list[dict[str, Any]], reason: str) -> None:
        self.match_failures.extend(records)
        self.client("sqs").send_message(
            QueueUrl=self.names["match_failures"],
            MessageBody=json.dumps({"reason": reason, "records": records}),
        )

    def _stop_running_executions(self) -> None:
        """Running executions (an approval waiting for the owner) hold threads: end them."""
        sfn = self.client("stepfunctions")
        for arn in self.state_machines.values():
            running = sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]
            for execution in running:
                try:
                    sfn.stop_execution(executionArn=execution["executionArn"], error="LocalStackStopped")
                except Exception as error:  # it ended meanwhile; shutting down goes on regardless
                    logger.info("Execution not stopped", extra={"error": type(error).__name__})

    # ------------------------------------------------------------------ observing

    def executions(self) -> list[dict[str, Any]]:
        """Every execution, oldest first, with the states it entered (as the console lists them)."""
        sfn = self.client("stepfunctions")
        found = []
        for workflow, arn in self.state_machines.items():
            for execution in sfn.list_executions(stateMachineArn=arn)["executions"]:
                found.append(self._describe(sfn, workflow, execution))
        found.sort(key=lambda execution: execution["startedAt"])
        return found

    def stopped_executions(self, known: set[str]) -> list[dict[str, Any]]:
        """Executions that have stopped and whose ARN is not in `known` (the console's watcher:
        only those are read in full)."""
        sfn = self.client("stepfunctions")
        found = []
        for workflow, arn in self.state_machines.items():
            for execution in sfn.list_executions(stateMachineArn=arn)["executions"]:
                if execution["status"] != "RUNNING" and execution["executionArn"] not in known:
                    found.append(self._describe(sfn, workflow, execution))
        found.sort(key=lambda execution: execution["startedAt"])
        return found

    @staticmethod
    def _describe(sfn: Any, workflow: str, execution: dict[str, Any]) -> dict[str, Any]:
        history = execution_history(sfn, execution["executionArn"])
        description = sfn.describe_execution(executionArn=execution["executionArn"])
        detail: dict[str, Any] = {}
        try:
            detail = json.loads(description.get("input") or "{}").get("detail") or {}
        except ValueError:
            detail = {}
        failure = next(
            (e["executionFailedEventDetails"] for e in history if "executionFailedEventDetails" in e), None
        )
        stopped = execution.get("stopDate")
        summary = {
            "executionArn": execution["executionArn"],
            "name": execution["name"],
            "workflow": workflow,
            "status": execution["status"],
            "startedAt": execution["startDate"].isoformat(),
            "stoppedAt": stopped.isoformat() if stopped else None,
            "visitId": detail.get("visitId"),
            "doorId": detail.get("doorId"),
            "path": states_entered(history),
        }
        if failure:
            summary["error"] = failure.get("error")
        return summary

    def lock_info(self) -> dict[str, Any]:
        """The lock (GET /local/lock, the outbox page): how it is told, each command's state
        (least recently changed first) and, for the webhook lock, the calls its receiver got."""
        commands: list[dict[str, Any]] = []
        table = self.names.get("lock_states")
        if table:
            paginator = self.client("dynamodb").get_paginator("scan")
            for page in paginator.paginate(TableName=table):
                commands.extend(_lock_command(item) for item in page["Items"])
        commands.sort(key=lambda command: str(command["updatedAt"] or ""))
        return {
            "lock": self.config.lock,
            "lockCommandSeconds": self.config.lock_command_seconds,
            **({"mqtt": self.broker.to_json()} if self.broker is not None else {}),
            "commands": commands,
            "webhookCalls": self.lock_webhook.calls() if self.config.lock == "webhook" else [],
        }

    def stack_info(self) -> dict[str, Any]:
        """What a client needs to work against this stack (GET /local/stack)."""
        return {
            "awsEndpoint": self.aws_endpoint,
            "region": REGION,
            "siteUrl": self.site_url,
            "doorId": self.config.door_id,
            "faceMatchThreshold": self.config.face_match_threshold,
            "lock": self.config.lock,
            "lockCommandSeconds": self.config.lock_command_seconds,
            **({"mqtt": self.broker.to_json()} if self.broker is not None else {}),
            "names": {
                "visitorsTable": self.names["visitors"],
                "passcodesTable": self.names["passcodes"],
                "visitsTable": self.names["visits"],
                "approvalsTable": self.names["approvals"],
                "facesTable": self.names["faces"],
                "photosBucket": self.names["photos"],
                "collectionId": self.names["collection"],
                "faceSearchStream": self.names.get("face_search_stream", ""),
                "eventBus": self.names["bus"],
            },
        }


def _lock_webhook_receiver() -> LockWebhookReceiver:
    """The local webhook lock, with CDK's default header and the key a real lock may expect."""
    import os

    key = os.environ.get(LOCK_WEBHOOK_KEY_VARIABLE, "").strip()
    header = str(cdk_defaults()["lock_webhook_header"])
    return LockWebhookReceiver(header=header, key=key) if key else LockWebhookReceiver(header=header)


def _lock_command(item: Mapping[str, Any]) -> dict[str, Any]:
    """A lock-states item as the outbox page shows it."""

    def text(name: str) -> str | None:
        value = item.get(name) or {}
        return str(value["S"]) if "S" in value else None

    return {
        "commandId": text("commandId"),
        "doorId": text("doorId"),
        "visitId": text("visitId"),
        "via": text("via"),
        "state": text("state"),
        "updatedAt": text("updatedAt"),
    }
