"""The Smart Door stack: composes one construct per concern; the constructs build."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from cdk_app.components.alerts import Alerts
from cdk_app.components.api import Api
from cdk_app.components.doorbell import Doorbell
from cdk_app.components.events import Events
from cdk_app.components.face_collection import FaceCollection
from cdk_app.components.functions import FunctionPackaging, StreamMatch
from cdk_app.components.ingestion import Ingestion
from cdk_app.components.lock import Lock
from cdk_app.components.sms import SmsDeliveryStatus
from cdk_app.components.storage import Storage
from cdk_app.components.tasks import TaskFunctions
from cdk_app.components.web import Web
from cdk_app.components.workflows import Workflow, WorkflowResources
from cdk_app.config import SmartDoorConfig
from cdk_app.constants import (
    DOOR_PAGE_PATH,
    ITERATOR_AGE_ALARM_SECONDS,
    KNOWN_FACE_DETECTED,
    KNOWN_VISITOR_WORKFLOW,
    OWNER_PAGE_PATH,
    STACK_DESCRIPTION,
    UNKNOWN_FACE_DETECTED,
    UNKNOWN_VISITOR_WORKFLOW,
)


class SmartDoorStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: SmartDoorConfig, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, description=STACK_DESCRIPTION, **kwargs)
        self.config = config

        self.storage = Storage(
            self,
            "Storage",
            photo_retention_days=config.photo_retention_days,
            lock_states=config.lock is not None,
        )
        self.alerts = Alerts(self, "Alerts", owner_email=config.owner_email)
        # Carrier-side SMS failures reach the owner through this one alarm (docs/sms.md).
        self.sms_delivery = (
            SmsDeliveryStatus(self, "SmsDelivery", alerts=self.alerts) if config.sms_delivery_logs else None
        )
        self.events = Events(self, "Events", alerts=self.alerts)
        self.ingestion = Ingestion(
            self,
            "Ingestion",
            door_id=config.door_id,
            video_retention_hours=config.video_retention_hours,
            streams=config.face_source != "snapshots",
        )
        self.faces = FaceCollection(
            self,
            "Faces",
            collection_id=f"{self.stack_name}-{config.door_id}",
            face_source=config.face_source,
            face_match_threshold=config.face_match_threshold,
            video_stream_arn=self.ingestion.video_stream_arn,
            face_search_stream=self.ingestion.face_search_stream,
        )
        packaging = FunctionPackaging(
            self, "Packaging", powertools_layer_version=config.powertools_layer_version
        )
        self._add_stream_match(packaging)
        self.tasks = TaskFunctions(
            self,
            "Tasks",
            config=config,
            packaging=packaging,
            storage=self.storage,
            ingestion=self.ingestion,
            faces=self.faces,
            alerts_topic=self.alerts.topic,
            alerts_key=self.alerts.key,
        )
        self._add_workflows()
        self._add_api_and_site(packaging)
        self.doorbell = Doorbell(
            self,
            "Doorbell",
            config=config,
            packaging=packaging,
            storage=self.storage,
            ingestion=self.ingestion,
            faces=self.faces,
            events_=self.events,
            alerts=self.alerts,
            api=self.api,
            match_function=self.stream_match.function,
        )

        self.lock = self._add_lock(packaging)

        if self.ingestion.video_stream is not None:
            CfnOutput(self, "DoorCameraStreamName", value=self.ingestion.video_stream.ref)
        if self.ingestion.face_search_stream is not None:
            CfnOutput(self, "FaceSearchStreamName", value=self.ingestion.face_search_stream.stream_name)
        CfnOutput(self, "CollectionId", value=self.faces.collection.ref)
        CfnOutput(self, "PhotosBucketName", value=self.storage.photos_bucket.bucket_name)
        CfnOutput(self, "AlertsTopicArn", value=self.alerts.topic.topic_arn)
        self._add_outputs()

    def _add_lock(self, packaging: FunctionPackaging) -> Lock | None:
        """With a configured lock (lockIot or lockWebhookUrl): its workflow, device or webhook."""
        lock_states = self.storage.lock_states_table
        if lock_states is None:
            return None
        lock = Lock(
            self,
            "Lock",
            config=self.config,
            packaging=packaging,
            lock_states=lock_states,
            events_=self.events,
            alerts=self.alerts,
        )
        lock.add_outputs()
        return lock

    def _add_stream_match(self, packaging: FunctionPackaging) -> None:
        self.stream_match = StreamMatch(
            self,
            "StreamMatch",
            packaging=packaging,
            environment=self._match_environment(),
            face_search_stream=self.ingestion.face_search_stream,
        )
        match = self.stream_match.handler
        self.storage.visits_table.grant(
            match.role,
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:ConditionCheckItem",
        )
        self.events.bus.grant_put_events_to(match.role)
        self.alerts.when_function_errors("MatchErrors", match.function)
        if self.stream_match.failures is not None:
            self.alerts.when_iterator_age_exceeds(
                "MatchFallingBehind", match.function, seconds=ITERATOR_AGE_ALARM_SECONDS
            )
            self.alerts.when_queue_has_messages(
                "MatchFailuresWaiting", self.stream_match.failures, what="Face-search records"
            )

    def _match_environment(self) -> dict[str, str]:
        config = self.config
        return {
            "DOOR_ID": config.door_id,
            **({"VIDEO_STREAM_ARN": arn} if (arn := self.ingestion.video_stream_arn) else {}),
            "VISITS_TABLE": self.storage.visits_table.table_name,
            "EVENT_BUS_NAME": self.events.bus.event_bus_name,
            "FACE_MATCH_THRESHOLD": str(config.face_match_threshold),
            "MIN_FRAMES_FOR_DECISION": str(config.min_frames_for_decision),
            "VISIT_GAP_SECONDS": str(config.visit_gap_seconds),
            "MIN_FACE_CONFIDENCE": str(config.min_face_confidence),
            "MIN_FACE_SIZE_RATIO": str(config.min_face_size_ratio),
            "MIN_FACE_SHARPNESS": str(config.min_face_sharpness),
            "MIN_FACE_BRIGHTNESS": str(config.min_face_brightness),
        }

    def _add_workflows(self) -> None:
        resources = WorkflowResources(
            visits_table=self.storage.visits_table,
            visitors_table=self.storage.visitors_table,
            approvals_table=self.storage.approvals_table,
            alerts_topic=self.alerts.topic,
            alerts_key=self.alerts.key,
            bus=self.events.bus,
            functions={name: function.function for name, function in self.tasks.by_name.items()},
        )
        self.unknown_visitor = Workflow(
            self, "UnknownVisitor", name=UNKNOWN_VISITOR_WORKFLOW, resources=resources
        )
        self.known_visitor = Workflow(self, "KnownVisitor", name=KNOWN_VISITOR_WORKFLOW, resources=resources)
        for workflow, detail_type in (
            (self.unknown_visitor, UNKNOWN_FACE_DETECTED),
            (self.known_visitor, KNOWN_FACE_DETECTED),
        ):
            self.events.route(detail_type, workflow.state_machine)
            self.alerts.when_executions_fail(f"{workflow.name}Failed", workflow.state_machine)

    def _add_api_and_site(self, packaging: FunctionPackaging) -> None:
        """The API and the pages. They name each other: the pages' CSP names the API's origin,
        the API's CORS names the pages' origin; so the API comes first and lets the site in
        once it exists."""
        config = self.config
        self.api = Api(
            self,
            "Api",
            config=config,
            packaging=packaging,
            storage=self.storage,
            bus=self.events.bus,
            alerts_topic=self.alerts.topic,
            alerts_key=self.alerts.key,
            unknown_visitor=self.unknown_visitor.state_machine,
        )
        self.web = Web(
            self,
            "Web",
            access_logs_bucket=self.storage.access_logs_bucket,
            api_origin=self.api.origin,
            site_config={"apiUrl": self.api.url, "doorId": config.door_id},
        )
        # Approval links and CORS name -c siteUrl (a custom domain) if given, else CloudFront.
        self.site_url = config.site_url or self.web.url
        if config.site_url:
            parts = urlsplit(config.site_url)
            self.site_origin = f"{parts.scheme}://{parts.netloc}"
        else:
            self.site_origin = self.web.url
            for function in (self.tasks.ask_owner.function, self.tasks.issue_passcode.function):
                function.add_environment("SITE_URL", self.web.url)
        self.api.allow_pages_from(self.site_origin)
        self.alerts.when_function_errors("ApiErrors", self.api.function)

    def _add_outputs(self) -> None:
        """What a person opens and what the `smartdoor` CLI (--aws) reads; no exports."""
        outputs = {
            "ApiUrl": (self.api.url, "Base URL of the HTTP API (config.json's apiUrl)"),
            "SiteUrl": (self.site_url, "Base URL of the owner and door pages"),
            "OwnerPageUrl": (
                f"{self.site_url}{OWNER_PAGE_PATH}?a=<approvalId>",
                "The approval link's pattern (sent by SMS and email)",
            ),
            "DoorPageUrl": (
                f"{self.site_url}{DOOR_PAGE_PATH}?door={self.config.door_id}",
                "The keypad page for the door's tablet",
            ),
            "WebBucketName": (self.web.bucket.bucket_name, "Bucket holding the pages"),
            "DistributionId": (self.web.distribution.distribution_id, "CloudFront distribution of the pages"),
            "VisitsTableName": (self.storage.visits_table.table_name, "DynamoDB: visits and claims"),
            "ApprovalsTableName": (self.storage.approvals_table.table_name, "DynamoDB: approval requests"),
            "VisitorsTableName": (self.storage.visitors_table.table_name, "DynamoDB: known visitors"),
            "PasscodesTableName": (self.storage.passcodes_table.table_name, "DynamoDB: passcodes, lockouts"),
            "EventBusName": (self.events.bus.event_bus_name, "EventBridge bus of Smart Door events"),
            "UnknownVisitorStateMachineArn": (
                self.unknown_visitor.state_machine.state_machine_arn,
                "Workflow for unknown visitors",
            ),
            "KnownVisitorStateMachineArn": (
                self.known_visitor.state_machine.state_machine_arn,
                "Workflow for known visitors",
            ),
        }
        for key, (value, description) in outputs.items():
            CfnOutput(self, key, value=value, description=description)
