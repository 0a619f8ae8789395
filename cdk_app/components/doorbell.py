"""Doorbell: face search without streaming video (docs/doorbell.md).

- The doorbell session: an Express state machine from workflows/doorbell_session.asl.json,
  started by every `DoorbellPressed` / `MotionDetected` event on the smartdoor bus (the ring API
  publishes DoorbellPressed; devices and integrations may too). Its task functions:
  open_session (one session per door, extension), sample_door (KVS GetImages -> Rekognition
  SearchFacesByImage -> a face-search record on the Kinesis stream, or only watching with a
  stream processor) and stream_processor (start/stop, faceSource=streamProcessor only).
- Edge-device snapshots: the photos bucket sends its events to EventBridge; a rule on the
  default bus passes `Object Created` under `snapshots/` to process_snapshot.
- The door device routes on the HTTP API, `POST /doors/{doorId}/ring` and
  `POST /doors/{doorId}/snapshots`: an API key with a usage plan (deviceAuth=apiKey, the
  default) or SigV4 (deviceAuth=iam). Owner and visitor routes stay keyless.

Every function gets the environment its settings model reads and exactly the calls its
adapters make (tests/infra/test_doorbell.py checks both).
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnOutput, Duration, Stack, Validations
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from cdk_app.components.alerts import Alerts
from cdk_app.components.api import Api
from cdk_app.components.events import Events
from cdk_app.components.face_collection import FaceCollection
from cdk_app.components.functions import FunctionPackaging, SmartDoorFunction
from cdk_app.components.ingestion import Ingestion
from cdk_app.components.queues import dead_letter_queue
from cdk_app.components.storage import Storage
from cdk_app.components.workflows import (
    acknowledge_state_machine_role,
    dynamodb_calls,
    logged_state_machine,
    workflow_file,
)
from cdk_app.config import SmartDoorConfig
from cdk_app.constants import SNAPSHOTS_PREFIX

DOORBELL_SESSION_WORKFLOW = "doorbell_session"
OPEN_SESSION = "open_session"
SAMPLE_DOOR = "sample_door"
STREAM_PROCESSOR = "stream_processor"
PROCESS_SNAPSHOT = "process_snapshot"
DOORBELL_PRESSED = "DoorbellPressed"
MOTION_DETECTED = "MotionDetected"
SESSION_FUNCTION_PLACEHOLDERS = {
    "OpenSessionFunctionArn": OPEN_SESSION,
    "SampleDoorFunctionArn": SAMPLE_DOOR,
    "StreamProcessorFunctionArn": STREAM_PROCESSOR,
}
# Door devices: a ring or a snapshot every few seconds at most; a day's quota far above a busy door.
DEVICE_RATE_LIMIT = 2
DEVICE_BURST_LIMIT = 5
DEVICE_DAILY_QUOTA = 2000
# An upload that could not be processed within the hour is stale: the visitor has left.
SNAPSHOT_RETRY_ATTEMPTS = 4
SNAPSHOT_MAX_EVENT_AGE = Duration.hours(1)

DEVICE_BODY = apigateway.JsonSchema(
    schema=apigateway.JsonSchemaVersion.DRAFT4,
    title="Door device request (no fields)",
    type=apigateway.JsonSchemaType.OBJECT,
    additional_properties=False,
    max_properties=0,
)
API_KEY_IS_THE_CREDENTIAL = (
    "Door device routes authenticate with the devices' API key (x-api-key) under a usage plan "
    "that throttles them and caps them per day; a device cannot hold a Cognito user. They only "
    "announce a ring or hand out a 60-second upload form for one new key; deviceAuth=iam "
    "switches them to SigV4 (AWS_IAM)."
)


class Doorbell(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: SmartDoorConfig,
        packaging: FunctionPackaging,
        storage: Storage,
        ingestion: Ingestion,
        faces: FaceCollection,
        events_: Events,
        alerts: Alerts,
        api: Api,
        match_function: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self._storage = storage
        self._alerts = alerts
        self.images = config.face_source == "images"
        visits = storage.visits_table
        photos = storage.photos_bucket
        common = {"DOOR_ID": config.door_id, "VISITS_TABLE": visits.table_name}
        face_search = {
            "COLLECTION_ID": faces.collection_id,
            "FACE_MATCH_THRESHOLD": str(config.face_match_threshold),
        }
        if ingestion.face_search_stream is not None:
            face_search["FACE_SEARCH_STREAM_NAME"] = ingestion.face_search_stream.stream_name
        else:  # faceSource=snapshots: records go straight to the match function
            face_search["MATCH_FUNCTION_NAME"] = match_function.function_name

        self.sessions = config.face_source != "snapshots"
        if self.sessions:
            self._sessions(packaging, ingestion, faces, events_, common, face_search)

        # ---------------------------------------------------------------- snapshots
        self.process_snapshot = SmartDoorFunction(
            self,
            "ProcessSnapshot",
            name=PROCESS_SNAPSHOT,
            description="Smart Door: check and search an edge device's snapshot, write a face-search record",
            packaging=packaging,
            environment={
                **common,
                **face_search,
                "PHOTOS_BUCKET": photos.bucket_name,
                "ALERTS_TOPIC_ARN": alerts.topic.topic_arn,
                "MAX_FRAMES_PER_DAY": str(config.max_frames_per_day),
            },
            timeout_seconds=30,
        )
        # The upload log (claim, release, outcome) and the daily budget.
        visits.grant(
            self.process_snapshot.role,
            "dynamodb:PutItem",
            "dynamodb:DeleteItem",
            "dynamodb:UpdateItem",
        )
        # HeadObject, the ranged GET of the first bytes, and Rekognition reading the object.
        self.process_snapshot.allow_objects(
            sid="ReadSnapshots", actions=["s3:GetObject"], bucket=photos, prefix=SNAPSHOTS_PREFIX
        )
        self._search_and_write(self.process_snapshot, faces, ingestion)
        if ingestion.face_search_stream is None:
            # The unqualified function only (grant_invoke would add its versions, ARN:*).
            self.process_snapshot.allow(
                sid="HandRecordsToTheMatchFunction",
                actions=["lambda:InvokeFunction"],
                resources=[match_function.function_arn],
            )
        self.process_snapshot.allow_email_to_owner(alerts.topic, alerts.key)
        self.snapshot_rule, self.snapshot_dead_letters = self._route_uploads(photos)
        alerts.when_function_errors("SnapshotErrors", self.process_snapshot.function)

        # ---------------------------------------------------------------- device routes
        self._device_routes(api, photos)

    # -------------------------------------------------------------------- helpers

    def _sessions(
        self,
        packaging: FunctionPackaging,
        ingestion: Ingestion,
        faces: FaceCollection,
        events_: Events,
        common: dict[str, str],
        face_search: dict[str, str],
    ) -> None:
        """The doorbell session (a ring or motion samples the camera); not with faceSource=snapshots,
        where the door agent's uploads are the frames."""
        config, visits, alerts = self._config, self._storage.visits_table, self._alerts
        # ---------------------------------------------------------------- session functions
        self.open_session = SmartDoorFunction(
            self,
            "OpenSession",
            name=OPEN_SESSION,
            description="Smart Door doorbell: open the door's session, or extend the running one",
            packaging=packaging,
            environment={
                **common,
                "FACE_SOURCE": config.face_source,
                "SESSION_SECONDS": str(config.session_seconds),
                "SAMPLING_INTERVAL_SECONDS": str(config.sampling_interval_seconds),
            },
            timeout_seconds=15,
        )
        visits.grant(self.open_session.role, "dynamodb:GetItem", "dynamodb:PutItem")

        sample_environment = {
            **common,
            "ALERTS_TOPIC_ARN": alerts.topic.topic_arn,
            "SAMPLING_INTERVAL_SECONDS": str(config.sampling_interval_seconds),
            "MAX_FRAMES_PER_SESSION": str(config.max_frames_per_session),
            "MAX_FRAMES_PER_DAY": str(config.max_frames_per_day),
            "MAX_EMPTY_SAMPLES": str(config.max_empty_samples),
        }
        camera = ingestion.video_stream_arn
        if self.images:
            assert camera is not None  # faceSource=images: the camera streams
            sample_environment |= {**face_search, "VIDEO_STREAM_ARN": camera}
        self.sample_door = SmartDoorFunction(
            self,
            "SampleDoor",
            name=SAMPLE_DOOR,
            description="Smart Door doorbell: search the door camera's newest frame, write its record",
            packaging=packaging,
            environment=sample_environment,
            memory_size=512,  # a 1280 px JPEG in and out of base64, quickly
            timeout_seconds=20,
        )
        # The session item (conditional puts), the visit it feeds, the daily budget (updates).
        visits.grant(self.sample_door.role, "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem")
        self.sample_door.allow_email_to_owner(alerts.topic, alerts.key)  # the daily-cap email
        if self.images and camera is not None:
            self.sample_door.allow(
                sid="NewestFramesOfTheDoorCamera",
                actions=[
                    "kinesisvideo:GetDataEndpoint",
                    "kinesisvideo:GetImages",
                    "kinesisvideo:ListFragments",
                ],
                resources=[camera],
            )
            self._search_and_write(self.sample_door, faces, ingestion)

        processor_environment: dict[str, str] = {}
        if faces.stream_processor is not None:
            processor_environment["STREAM_PROCESSOR_NAME"] = faces.stream_processor.ref
        self.stream_processor = SmartDoorFunction(
            self,
            "StreamProcessor",
            name=STREAM_PROCESSOR,
            description="Smart Door doorbell: start/stop the face-search stream processor for a session",
            packaging=packaging,
            environment=processor_environment,
            timeout_seconds=15,
        )
        if faces.stream_processor is not None:
            self.stream_processor.allow(
                sid="RunTheStreamProcessorForASession",
                actions=[
                    "rekognition:StartStreamProcessor",
                    "rekognition:StopStreamProcessor",
                    "rekognition:DescribeStreamProcessor",
                ],
                resources=[faces.stream_processor.attr_arn],
            )

        # ---------------------------------------------------------------- the session workflow
        self.session = self._session_state_machine()
        for detail_type in (DOORBELL_PRESSED, MOTION_DETECTED):
            events_.route(detail_type, self.session)
        alerts.when_executions_fail("DoorbellSessionFailed", self.session)

    @staticmethod
    def _search_and_write(function: SmartDoorFunction, faces: FaceCollection, ingestion: Ingestion) -> None:
        function.allow(
            sid="SearchTheCollection",
            actions=["rekognition:SearchFacesByImage"],
            resources=[faces.collection_arn],
        )
        if ingestion.face_search_stream is None:
            return
        # The stream uses the AWS-managed key (aws/kinesis): no KMS grant is needed to write.
        function.allow(
            sid="WriteFaceSearchRecords",
            actions=["kinesis:PutRecords"],
            resources=[ingestion.face_search_stream.stream_arn],
        )

    def _session_state_machine(self) -> sfn.StateMachine:
        path = workflow_file(DOORBELL_SESSION_WORKFLOW)
        functions = {
            OPEN_SESSION: self.open_session,
            SAMPLE_DOOR: self.sample_door,
            STREAM_PROCESSOR: self.stream_processor,
        }
        available = {
            placeholder: functions[name].function.function_arn
            for placeholder, name in SESSION_FUNCTION_PLACEHOLDERS.items()
        }
        available["VisitsTableName"] = self._storage.visits_table.table_name
        built = logged_state_machine(
            self,
            name=DOORBELL_SESSION_WORKFLOW,
            available=available,
            state_machine_type=sfn.StateMachineType.EXPRESS,
            # Express executions keep no history: the logs are the record. Session data is
            # door and session ids, counts and stop reasons, never a face, phone or code.
            include_execution_data=True,
            log_group_id="SessionLogs",
            state_machine_id="Session",
        )
        self.session_logs = built.log_group
        state_machine = built.state_machine
        role = state_machine.role
        invoked = sorted(p for p in built.substitutions if p in SESSION_FUNCTION_PLACEHOLDERS)
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="InvokeSessionFunctions",
                actions=["lambda:InvokeFunction"],
                resources=[available[p] for p in invoked],
            )
        )
        for placeholder, actions in dynamodb_calls(path).items():
            if placeholder != "VisitsTableName":
                raise ValueError(f"{path.name}: the session may only write the Visits table")
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="CloseFailedSessions",
                    actions=sorted(actions),
                    resources=[self._storage.visits_table.table_arn],
                )
            )
        acknowledge_state_machine_role(role)
        return state_machine

    def _route_uploads(self, photos: s3.IBucket) -> tuple[events.Rule, object]:
        # The bucket's events go to EventBridge (a bucket property: no notification custom resource).
        bucket_resource = photos.node.default_child
        assert isinstance(bucket_resource, s3.CfnBucket)
        bucket_resource.add_property_override(
            "NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled", True
        )
        dead_letters = dead_letter_queue(self, "SnapshotDeadLetters")
        rule = events.Rule(
            self,
            "SnapshotUploaded",
            description="Smart Door: an edge device uploaded a snapshot",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={
                    "bucket": {"name": [photos.bucket_name]},
                    "object": {"key": [{"prefix": SNAPSHOTS_PREFIX}]},
                },
            ),
            targets=[
                targets.LambdaFunction(
                    self.process_snapshot.function,
                    dead_letter_queue=dead_letters,
                    retry_attempts=SNAPSHOT_RETRY_ATTEMPTS,
                    max_event_age=SNAPSHOT_MAX_EVENT_AGE,
                )
            ],
        )
        # The rule invokes the function asynchronously: Lambda's own retries of a failing snapshot
        # end in the same queue (a Lambda destination record) instead of being dropped silently.
        self.process_snapshot.function.configure_async_invoke(
            retry_attempts=2,
            max_event_age=SNAPSHOT_MAX_EVENT_AGE,
            on_failure=destinations.SqsDestination(dead_letters),
        )
        self._alerts.when_queue_has_messages(
            "SnapshotsNotDelivered", dead_letters, what="Processing a snapshot"
        )
        return rule, dead_letters

    def _device_routes(self, api: Api, photos: s3.IBucket) -> None:
        iam_auth = self._config.device_auth == "iam"
        self.ring_resource = api.door.add_resource("ring")
        self.snapshots_resource = api.door.add_resource("snapshots")
        body = api.json_body_model("DeviceBody", DEVICE_BODY)
        self.device_methods = []
        for resource in (self.ring_resource, self.snapshots_resource):
            method = resource.add_method(
                "POST",
                api.integration,
                request_parameters={"method.request.path.doorId": True},
                request_validator=api.validator,
                request_models={"application/json": body},
                api_key_required=not iam_auth,
                authorization_type=apigateway.AuthorizationType.IAM
                if iam_auth
                else apigateway.AuthorizationType.NONE,
            )
            rules = ["AwsSolutions-COG4"] if iam_auth else ["AwsSolutions-APIG4", "AwsSolutions-COG4"]
            reason = (
                "Door device routes are signed with SigV4 (AWS_IAM authorization): devices hold IAM "
                "credentials, not Cognito users."
                if iam_auth
                else API_KEY_IS_THE_CREDENTIAL
            )
            for rule in rules:
                Validations.of(method).acknowledge(Acknowledgment(id=f"AwsSolutions::{rule}", reason=reason))
            self.device_methods.append(method)
        # The upload form is signed with the API function's credentials: S3 accepts the upload
        # only if that role may put the object (and only under snapshots/).
        api.handler.allow_objects(
            sid="UploadFormsForSnapshots", actions=["s3:PutObject"], bucket=photos, prefix=SNAPSHOTS_PREFIX
        )
        self.api_key: apigateway.IApiKey | None = None
        if not iam_auth:
            self.usage_plan = api.rest_api.add_usage_plan(
                "DevicePlan",
                name=f"{Stack.of(self).stack_name}-door-devices",
                description="Smart Door door devices: ring and snapshot uploads",
                throttle=apigateway.ThrottleSettings(
                    rate_limit=DEVICE_RATE_LIMIT, burst_limit=DEVICE_BURST_LIMIT
                ),
                quota=apigateway.QuotaSettings(limit=DEVICE_DAILY_QUOTA, period=apigateway.Period.DAY),
                api_stages=[apigateway.UsagePlanPerApiStage(api=api.rest_api, stage=api.stage)],
            )
            self.api_key = api.rest_api.add_api_key(
                "DeviceKey", description="Smart Door door devices (x-api-key on ring and snapshots)"
            )
            self.usage_plan.add_api_key(self.api_key)
            # At stack scope, so the output is named DeviceApiKeyId as the docs and the device
            # simulator say (inside this construct CDK would add a path and a hash).
            CfnOutput(
                Stack.of(self),
                "DeviceApiKeyId",
                value=self.api_key.key_id,
                description="Devices' x-api-key: aws apigateway get-api-key --include-value --api-key <id>",
            )
