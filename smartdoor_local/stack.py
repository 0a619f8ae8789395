"""The local stack: Smart Door's AWS resources on moto, in this process, with the real handlers.

    with LocalStack(LocalConfig(), site_url="http://127.0.0.1:8080") as stack:
        stack.aws_endpoint      # http://127.0.0.1:<port>: moto, for other processes (the CLI)
        stack.put_record(...)   # a face-search record onto the stream -> stream_match -> ...
        stack.outbox.messages() # every SMS and email
        stack.executions()      # every workflow execution and the states it went through

What it builds is what the CDK stack builds (cdk_app/): the Visits, Approvals, Visitors and
Passcodes tables, the photos bucket, the OTP secret, the alerts topic with the owner's email
subscription, the `smartdoor` bus with one rule per face event starting its state machine, the
face-search Kinesis stream with the match function behind it, the seven task functions and the
API function, and both state machines rendered from workflows/*.asl.json. On top, the local
stack keeps its face collection (dlib embeddings) in one more table, `SmartDoor-LocalFaces`.

How AWS is stood in for:

- moto runs in this process (`mock_aws`, Step Functions execution on) and is also served over
  HTTP on 127.0.0.1 (`aws_endpoint`), so other processes see the same resources.
- Lambda: `LambdaRuntime` calls the real handlers in-process. Only what moto cannot emulate is
  replaced: the face engine (`LocalFaceEngine`, for check_collection and enrol_face), video
  frames (there is no KVS locally: camera frames are stored snapshots), and photo links
  (`LocalPhotoLinks` instead of S3 presigned URLs, served by the local server).
- EventBridge rules start executions (`EventDelivery`); the Kinesis event source mapping is
  `StreamMapping`; SNS deliveries land in the `Outbox`.

Everything lives in memory: stopping the stack forgets visitors, faces and photos.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from smartdoor.observability import logger
from smartdoor_local.door_camera import LocalCameraFeed
from smartdoor_local.environment import patched_environ
from smartdoor_local.event_rules import EventDelivery
from smartdoor_local.face_engine import DynamoFaceStore, LocalFaceEngine, load_models
from smartdoor_local.lambda_runtime import LambdaRuntime, LocalFunction, function_name_of
from smartdoor_local.outbox import Outbox
from smartdoor_local.photo_links import LocalPhotoLinks
from smartdoor_local.s3_post_policy import enforce_post_policy
from smartdoor_local.serving import (
    LimitedRequestHandler,
    RunningServer,
    loopback_only,
    refuse_browsers,
    serve_in_thread,
)
from smartdoor_local.stream_mapping import StreamMapping
from smartdoor_local.workflows import (
    execution_history,
    render_definition,
    states_entered,
    workflow_path,
)

REGION = "us-east-1"
# The fake credentials the stack's process uses (and signs snapshot upload forms with).
LOCAL_ACCESS_KEY_ID = "local"
LOCAL_SECRET_ACCESS_KEY = "local"  # noqa: S105 - moto's, not a secret
ACCOUNT = "123456789012"
MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
API_FUNCTION_NAME = "smartdoor-api"
MATCH_FUNCTION_NAME = "stream_match"
# The doorbell session's functions and the edge-device snapshot function (cdk_app/components/doorbell.py).
DOORBELL_FUNCTIONS = ("open_session", "sample_door", "stream_processor", "process_snapshot")
TASK_FUNCTIONS = (
    "extract_frame",
    "check_collection",
    "create_approval",
    "ask_owner",
    "enrol_face",
    "save_visitor",
    "issue_passcode",
)
# `${<Name>FunctionArn}` in workflows/*.asl.json -> the task function it names (as cdk_app's).
FUNCTION_PLACEHOLDERS = {
    "ExtractFrameFunctionArn": "extract_frame",
    "CheckCollectionFunctionArn": "check_collection",
    "CreateApprovalFunctionArn": "create_approval",
    "AskOwnerFunctionArn": "ask_owner",
    "EnrolFaceFunctionArn": "enrol_face",
    "SaveVisitorFunctionArn": "save_visitor",
    "IssuePasscodeFunctionArn": "issue_passcode",
    "OpenSessionFunctionArn": "open_session",
    "SampleDoorFunctionArn": "sample_door",
    "StreamProcessorFunctionArn": "stream_processor",
}
# State machine -> the detail types its rules start it for (the CDK stack's rules).
WORKFLOWS = {
    "unknown_visitor": ("UnknownFaceDetected",),
    "known_visitor": ("KnownFaceDetected",),
    "doorbell_session": ("DoorbellPressed", "MotionDetected"),
}
EXPRESS_WORKFLOWS = frozenset({"doorbell_session"})
SNAPSHOTS_PREFIX = "snapshots/"
TABLE_KEYS: Mapping[str, tuple[str, ...]] = {
    "visits": ("pk", "sk"),
    "approvals": ("approvalId",),
    "visitors": ("visitorId",),
    "passcodes": ("pk", "sk"),
    "faces": ("faceId",),
}


@dataclass(frozen=True)
class LocalConfig:
    """The local stack's settings: the CDK context keys (README, Configuration), local defaults."""

    door_id: str = "front-door"
    owner_phone: str = "+15550100000"
    owner_email: str = "owner@example.com"
    face_match_threshold: float = 90.0
    min_frames_for_decision: int = 2
    # 120 s on AWS; short here so that "walk away and come back" takes seconds, not minutes.
    visit_gap_seconds: float = 5.0
    approval_timeout_seconds: int = 600
    otp_ttl_seconds: int = 300
    sms_per_visitor_per_hour: int = 3
    sms_per_door_per_hour: int = 20
    min_face_confidence: float = 90.0
    min_face_size_ratio: float = 0.05
    min_face_sharpness: float = 20.0
    min_face_brightness: float = 20.0
    # The door's KVS stream: records without a doorId must come from it (replay: the trace's).
    video_stream_arn: str | None = None
    # Doorbell sessions (docs/doorbell.md): the CDK defaults. Locally the "KVS stream" is the
    # frames the camera page sent (smartdoor_local.door_camera).
    sampling_interval_seconds: int = 1
    session_seconds: int = 30
    max_frames_per_session: int = 15
    max_frames_per_day: int = 1000
    max_empty_samples: int = 5

    def names(self) -> dict[str, str]:
        """Resource names (the CDK stack lets CloudFormation name most of them)."""
        return {
            "visits": "SmartDoor-Visits",
            "approvals": "SmartDoor-Approvals",
            "visitors": "SmartDoor-Visitors",
            "passcodes": "SmartDoor-Passcodes",
            "faces": "SmartDoor-LocalFaces",
            "photos": "smartdoor-photos-local",
            "bus": "smartdoor",
            "face_search_stream": "SmartDoor-FaceSearch",
            "collection": f"SmartDoor-{self.door_id}",
            "video_stream_arn": self.video_stream_arn
            or f"arn:aws:kinesisvideo:{REGION}:{ACCOUNT}:stream/{self.door_id}/0",
        }

    def match_environment(self) -> dict[str, str]:
        """stream_match's rule settings (cdk_app/stack.py `_match_environment`)."""
        return {
            "DOOR_ID": self.door_id,
            "FACE_MATCH_THRESHOLD": str(self.face_match_threshold),
            "MIN_FRAMES_FOR_DECISION": str(self.min_frames_for_decision),
            "VISIT_GAP_SECONDS": str(self.visit_gap_seconds),
            "MIN_FACE_CONFIDENCE": str(self.min_face_confidence),
            "MIN_FACE_SIZE_RATIO": str(self.min_face_size_ratio),
            "MIN_FACE_SHARPNESS": str(self.min_face_sharpness),
            "MIN_FACE_BRIGHTNESS": str(self.min_face_brightness),
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
    Powertools (no metrics on stdout, no X-Ray). A real AWS profile is never used."""
    changes = {
        "AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_ACCESS_KEY,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "POWERTOOLS_TRACE_DISABLED": "1",
        "POWERTOOLS_METRICS_DISABLED": "1",
        "POWERTOOLS_METRICS_NAMESPACE": "SmartDoor",
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
    """Forget clients, settings and adapters cached by the Lambda code (a fresh moto account)."""
    from smartdoor.adapters.aws import reset_clients
    from smartdoor.settings import reset_settings_cache

    reset_clients()
    reset_settings_cache()
    import api.handler
    import ask_owner.handler
    import issue_passcode.handler

    api.handler.reset_adapters()
    ask_owner.handler.reset_adapters()
    issue_passcode.handler.reset_adapters()


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

    runtime: LambdaRuntime = field(default_factory=LambdaRuntime)
    outbox: Outbox = field(default_factory=Outbox)
    names: dict[str, str] = field(default_factory=dict)
    state_machines: dict[str, str] = field(default_factory=dict)
    bus: EventDelivery = field(init=False)
    engine: LocalFaceEngine = field(init=False)
    photo_links: LocalPhotoLinks = field(init=False)
    mapping: StreamMapping = field(init=False)
    function_arns: dict[str, str] = field(default_factory=dict)
    camera_feed: LocalCameraFeed = field(init=False)
    # Failed asynchronous invocations (EventBridge -> Lambda): (function, error type).
    async_failures: list[tuple[str, str]] = field(default_factory=list)
    match_failures: list[dict[str, Any]] = field(default_factory=list)
    _moto: MotoServer | None = None
    _exit: ExitStack | None = None

    def __post_init__(self) -> None:
        self.names = self.config.names()
        self.bus = EventDelivery(self.names["bus"], invoke_function=self._invoke_target)
        self.photo_links = LocalPhotoLinks(self.site_url, self.names["photos"])
        self.camera_feed = LocalCameraFeed({self.names["video_stream_arn"]: self.config.door_id})

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
            exit_stack.enter_context(self.bus.installed())
            exit_stack.callback(self.bus.drain)
            if self.moto_port is not None:
                self._moto = MotoServer(port=self.moto_port).start()
                exit_stack.callback(self._moto.stop)
            self._deploy()
            if self.with_workflows:
                exit_stack.callback(self._stop_running_executions)
            if self.poll_stream:
                self.mapping.start()
            exit_stack.callback(self.mapping.stop)
        except BaseException:
            exit_stack.close()
            raise
        self._exit = exit_stack
        return self

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

    def _deploy(self) -> None:
        import boto3

        self._create_tables()
        self._create_storage()
        self._create_messaging()
        self._create_stream()
        from smartdoor.adapters.photo_store import S3PhotoStore

        self.engine = LocalFaceEngine(
            DynamoFaceStore(self.names["faces"]), photos=S3PhotoStore(self.names["photos"])
        )
        if self.with_workflows:
            load_models()  # now, not on the first frame
        self._register_functions()
        role = boto3.client("iam", region_name=REGION).create_role(
            RoleName="smartdoor-local",
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        )["Role"]["Arn"]
        arns = self.runtime.create_functions(self.client("lambda"), role)
        self.function_arns = arns
        self.mapping = StreamMapping(
            runtime=self.runtime,
            function_name=MATCH_FUNCTION_NAME,
            kinesis=self.client("kinesis"),
            stream_name=self.names["face_search_stream"],
            region=REGION,
            on_failure=self._match_failed,
        )
        if self.with_workflows:
            self._create_workflows(arns, role)

    def _create_tables(self) -> None:
        dynamodb = self.client("dynamodb")
        for table, key in TABLE_KEYS.items():
            kinds = ("HASH", "RANGE")
            dynamodb.create_table(
                TableName=self.names[table],
                KeySchema=[{"AttributeName": name, "KeyType": kinds[i]} for i, name in enumerate(key)],
                AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name in key],
                BillingMode="PAY_PER_REQUEST",
            )

    def _create_storage(self) -> None:
        self.client("s3").create_bucket(Bucket=self.names["photos"])
        self.names["otp_secret"] = self.client("secretsmanager").create_secret(
            Name="SmartDoor-OtpKey", SecretString=secrets.token_urlsafe(48)
        )["ARN"]

    def _create_messaging(self) -> None:
        sns = self.client("sns")
        topic = sns.create_topic(Name="SmartDoor-Alerts")["TopicArn"]
        sns.subscribe(TopicArn=topic, Protocol="email", Endpoint=self.config.owner_email)
        self.names["alerts_topic"] = topic
        events = self.client("events")
        self.names["bus_arn"] = events.create_event_bus(Name=self.names["bus"])["EventBusArn"]
        sqs = self.client("sqs")
        self.names["match_failures"] = sqs.create_queue(QueueName="SmartDoor-MatchFailures")["QueueUrl"]
        # Edge-device snapshots: the photos bucket tells EventBridge (the default bus) of new objects.
        self.client("s3").put_bucket_notification_configuration(
            Bucket=self.names["photos"], NotificationConfiguration={"EventBridgeConfiguration": {}}
        )

    def _create_stream(self) -> None:
        self.client("kinesis").create_stream(StreamName=self.names["face_search_stream"], ShardCount=1)

    def _register_functions(self) -> None:
        names, config = self.names, self.config
        door = {"DOOR_ID": config.door_id}
        texting = {
            "SMS_BUDGET_TABLE": names["passcodes"],
            "SMS_PER_VISITOR_PER_HOUR": str(config.sms_per_visitor_per_hour),
            "SMS_PER_DOOR_PER_HOUR": str(config.sms_per_door_per_hour),
        }
        environments: dict[str, dict[str, str]] = {
            MATCH_FUNCTION_NAME: {
                "VISITS_TABLE": names["visits"],
                "EVENT_BUS_NAME": names["bus"],
                "VIDEO_STREAM_ARN": names["video_stream_arn"],
                **config.match_environment(),
            },
            "extract_frame": {
                **door,
                "PHOTOS_BUCKET": names["photos"],
                "VIDEO_STREAM_ARN": names["video_stream_arn"],
            },
            "check_collection": {
                **door,
                "COLLECTION_ID": names["collection"],
                "FACE_MATCH_THRESHOLD": str(config.face_match_threshold),
                "PHOTOS_BUCKET": names["photos"],
            },
            "create_approval": {
                **door,
                "APPROVALS_TABLE": names["approvals"],
                "PHOTOS_BUCKET": names["photos"],
                "APPROVAL_TIMEOUT_SECONDS": str(config.approval_timeout_seconds),
            },
            "ask_owner": {
                **door,
                "APPROVALS_TABLE": names["approvals"],
                "PHOTOS_BUCKET": names["photos"],
                "ALERTS_TOPIC_ARN": names["alerts_topic"],
                "OWNER_PHONE": config.owner_phone,
                "OTP_SECRET_ARN": names["otp_secret"],
                "SITE_URL": self.site_url,
                **texting,
            },
            "enrol_face": {**door, "COLLECTION_ID": names["collection"], "PHOTOS_BUCKET": names["photos"]},
            "save_visitor": {
                **door,
                "APPROVALS_TABLE": names["approvals"],
                "VISITORS_TABLE": names["visitors"],
            },
            "issue_passcode": {
                **door,
                "PASSCODES_TABLE": names["passcodes"],
                "VISITORS_TABLE": names["visitors"],
                "OTP_SECRET_ARN": names["otp_secret"],
                "ALERTS_TOPIC_ARN": names["alerts_topic"],
                "OTP_TTL_SECONDS": str(config.otp_ttl_seconds),
                "SITE_URL": self.site_url,
                **texting,
            },
            API_FUNCTION_NAME: {
                **door,
                "APPROVALS_TABLE": names["approvals"],
                "VISITORS_TABLE": names["visitors"],
                "PASSCODES_TABLE": names["passcodes"],
                "PHOTOS_BUCKET": names["photos"],
                "EVENT_BUS_NAME": names["bus"],
                "ALERTS_TOPIC_ARN": names["alerts_topic"],
                "OTP_SECRET_ARN": names["otp_secret"],
                "SITE_ORIGIN": self.site_url.rstrip("/"),
                "OTP_TTL_SECONDS": str(config.otp_ttl_seconds),
            },
        }
        face_search = {
            "FACE_SEARCH_STREAM_NAME": names["face_search_stream"],
            "COLLECTION_ID": names["collection"],
            "FACE_MATCH_THRESHOLD": str(config.face_match_threshold),
        }
        sessions = {"DOOR_ID": config.door_id, "VISITS_TABLE": names["visits"]}
        environments |= {
            "open_session": {
                **sessions,
                "FACE_SOURCE": "images",
                "SESSION_SECONDS": str(config.session_seconds),
                "SAMPLING_INTERVAL_SECONDS": str(config.sampling_interval_seconds),
            },
            "sample_door": {
                **sessions,
                **face_search,
                "ALERTS_TOPIC_ARN": names["alerts_topic"],
                "VIDEO_STREAM_ARN": names["video_stream_arn"],
                "SAMPLING_INTERVAL_SECONDS": str(config.sampling_interval_seconds),
                "MAX_FRAMES_PER_SESSION": str(config.max_frames_per_session),
                "MAX_FRAMES_PER_DAY": str(config.max_frames_per_day),
                "MAX_EMPTY_SAMPLES": str(config.max_empty_samples),
            },
            # Only for faceSource=streamProcessor, which the local stack does not use.
            "stream_processor": {**door},
            "process_snapshot": {
                **sessions,
                **face_search,
                "PHOTOS_BUCKET": names["photos"],
                "ALERTS_TOPIC_ARN": names["alerts_topic"],
                "MAX_FRAMES_PER_DAY": str(config.max_frames_per_day),
            },
        }
        overrides: dict[str, dict[str, Any]] = {
            "extract_frame": {"frames": self.camera_feed},
            "check_collection": {"engine": self.engine},
            "enrol_face": {"engine": self.engine},
            "ask_owner": {"photo_links": self.photo_links},
            "sample_door": {"camera": self.camera_feed, "engine": self.engine},
            "process_snapshot": {"engine": self.engine},
            API_FUNCTION_NAME: {"photo_links": self.photo_links, **self._device_overrides()},
        }
        handlers = {API_FUNCTION_NAME: "api.handler.handler"}
        functions = (
            (MATCH_FUNCTION_NAME, *TASK_FUNCTIONS, *DOORBELL_FUNCTIONS, API_FUNCTION_NAME)
            if self.with_workflows
            else (MATCH_FUNCTION_NAME,)
        )
        for name in functions:
            service = "api" if name == API_FUNCTION_NAME else name
            self.runtime.register(
                LocalFunction(
                    name=name,
                    handler=handlers.get(name, f"{name}.handler.handler"),
                    environment={"POWERTOOLS_SERVICE_NAME": service, **environments[name]},
                    overrides=overrides.get(name, {}),
                )
            )

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

    def _create_workflows(self, arns: Mapping[str, str], role_arn: str) -> None:
        substitutions = {
            "VisitsTableName": self.names["visits"],
            "VisitorsTableName": self.names["visitors"],
            "ApprovalsTableName": self.names["approvals"],
            "AlertsTopicArn": self.names["alerts_topic"],
            "EventBusName": self.names["bus"],
            **{placeholder: arns[name] for placeholder, name in FUNCTION_PLACEHOLDERS.items()},
        }
        sfn = self.client("stepfunctions")
        events = self.client("events")
        for workflow, detail_types in WORKFLOWS.items():
            arn = sfn.create_state_machine(
                name=f"SmartDoor-{workflow}",
                definition=render_definition(workflow_path(workflow), substitutions),
                roleArn=role_arn,
                type="EXPRESS" if workflow in EXPRESS_WORKFLOWS else "STANDARD",
            )["stateMachineArn"]
            self.state_machines[workflow] = arn
            for detail_type in detail_types:
                rule = f"{detail_type}Rule"
                events.put_rule(
                    Name=rule,
                    EventBusName=self.names["bus"],
                    EventPattern=json.dumps({"source": ["smartdoor"], "detail-type": [detail_type]}),
                )
                events.put_targets(
                    Rule=rule,
                    EventBusName=self.names["bus"],
                    Targets=[{"Id": workflow, "Arn": arn, "RoleArn": role_arn}],
                )
        # An edge device's upload (S3 -> EventBridge, default bus) -> process_snapshot.
        pattern = {
            "source": ["aws.s3"],
            "detail-type": ["Object Created"],
            "detail": {
                "bucket": {"name": [self.names["photos"]]},
                "object": {"key": [{"prefix": SNAPSHOTS_PREFIX}]},
            },
        }
        events.put_rule(Name="SnapshotUploaded", EventPattern=json.dumps(pattern))
        events.put_targets(
            Rule="SnapshotUploaded", Targets=[{"Id": "process_snapshot", "Arn": arns["process_snapshot"]}]
        )

    # ------------------------------------------------------------------ running

    def put_record(self, record: Mapping[str, Any], partition_key: str | None = None) -> str:
        """Put one face-search record on the stream (what a doorbell session does)."""
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

    def stack_info(self) -> dict[str, Any]:
        """What a client needs to work against this stack (GET /local/stack)."""
        return {
            "awsEndpoint": self.aws_endpoint,
            "region": REGION,
            "siteUrl": self.site_url,
            "doorId": self.config.door_id,
            "faceMatchThreshold": self.config.face_match_threshold,
            "names": {
                "visitorsTable": self.names["visitors"],
                "passcodesTable": self.names["passcodes"],
                "visitsTable": self.names["visits"],
                "approvalsTable": self.names["approvals"],
                "facesTable": self.names["faces"],
                "photosBucket": self.names["photos"],
                "collectionId": self.names["collection"],
                "faceSearchStream": self.names["face_search_stream"],
                "eventBus": self.names["bus"],
            },
        }
