"""Workflow task Lambdas (docs/internals.md, "Task Lambdas"), each with least-privilege grants.

Every function gets the environment its settings model reads and permission for exactly the
calls its adapters make, on exactly the resources it touches (tests/infra check both).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Unpack

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from cdk_app.components.face_collection import FaceCollection
from cdk_app.components.functions import FunctionOptions, FunctionPackaging, SmartDoorFunction
from cdk_app.components.ingestion import Ingestion
from cdk_app.components.storage import Storage
from cdk_app.config import SmartDoorConfig
from cdk_app.constants import (
    ASK_OWNER,
    CHECK_COLLECTION,
    CREATE_APPROVAL,
    ENROL_FACE,
    EXTRACT_FRAME,
    ISSUE_PASSCODE,
    SAVE_VISITOR,
    SNAPSHOTS_PREFIX,
    VISIT_PHOTOS_PREFIX,
)
from smartdoor.domain.push import PUSH_KEY_PREFIX
from smartdoor.domain.sms_budget import SMS_BUDGET_KEY_PREFIX


class TaskFunctions(Construct):
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
        alerts_topic: sns.ITopic,
        alerts_key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        self._packaging = packaging
        photos = storage.photos_bucket

        self.extract_frame = self._task(
            "ExtractFrame",
            name=EXTRACT_FRAME,
            description="Smart Door task: fetch a visit's frame (KVS or snapshot), store frame and face crop",
            environment={
                "PHOTOS_BUCKET": photos.bucket_name,
                **({"VIDEO_STREAM_ARN": arn} if (arn := ingestion.video_stream_arn) else {}),
            },
            memory_size=1024,  # decoding and re-encoding a 1280 px JPEG with Pillow
            timeout_seconds=45,
            extra_layers=[packaging.pillow],
        )
        if ingestion.video_stream_arn is not None:  # faceSource=snapshots: uploaded frames only
            self.extract_frame.allow(
                sid="GetImagesFromTheDoorCamera",
                actions=["kinesisvideo:GetDataEndpoint", "kinesisvideo:GetImages"],
                resources=[ingestion.video_stream_arn],
            )
        self.extract_frame.allow_objects(
            sid="ReadSnapshots", actions=["s3:GetObject"], bucket=photos, prefix=SNAPSHOTS_PREFIX
        )
        self.extract_frame.allow_objects(
            sid="WriteVisitPhotos", actions=["s3:PutObject"], bucket=photos, prefix=VISIT_PHOTOS_PREFIX
        )

        self.check_collection = self._task(
            "CheckCollection",
            name=CHECK_COLLECTION,
            description="Smart Door task: search the face collection with the visit's photo",
            environment={
                "COLLECTION_ID": faces.collection_id,
                "FACE_MATCH_THRESHOLD": str(config.face_match_threshold),
                "PHOTOS_BUCKET": photos.bucket_name,
            },
        )
        self.check_collection.allow(
            sid="SearchTheCollection",
            actions=["rekognition:SearchFacesByImage"],
            resources=[faces.collection_arn],
        )
        # Rekognition reads an S3Object with the caller's permissions.
        self.check_collection.allow_objects(
            sid="ReadVisitPhotos", actions=["s3:GetObject"], bucket=photos, prefix=VISIT_PHOTOS_PREFIX
        )

        self.create_approval = self._task(
            "CreateApproval",
            name=CREATE_APPROVAL,
            description="Smart Door task: create the owner's approval request for an unknown visitor",
            environment={
                "APPROVALS_TABLE": storage.approvals_table.table_name,
                "PHOTOS_BUCKET": photos.bucket_name,
                "APPROVAL_TIMEOUT_SECONDS": str(config.approval_timeout_seconds),
            },
        )
        storage.approvals_table.grant(self.create_approval.role, "dynamodb:PutItem", "dynamodb:GetItem")

        ask_owner_environment = {
            "APPROVALS_TABLE": storage.approvals_table.table_name,
            "PHOTOS_BUCKET": photos.bucket_name,
            "ALERTS_TOPIC_ARN": alerts_topic.topic_arn,
            "OWNER_PHONE": config.owner_phone,
            # The key of the MAC in the approval link (the same per-deployment key as the OTPs).
            "OTP_SECRET_ARN": storage.otp_secret.secret_arn,
        }
        if config.site_url:
            ask_owner_environment["SITE_URL"] = config.site_url
        if config.web_push:
            ask_owner_environment |= push_environment(storage)
            # The VAPID JWT's `sub`: how a push service reaches whoever runs this deployment.
            ask_owner_environment["VAPID_SUBJECT"] = f"mailto:{config.owner_email}"
        sms_origin = sms_environment(config, storage)
        self.ask_owner = self._task(
            "AskOwner",
            name=ASK_OWNER,
            description="Smart Door task: text and email the owner an approval link, keep the task token",
            environment={**ask_owner_environment, **sms_origin},
            sends_sms=True,
            extra_layers=[packaging.webpush] if config.web_push else [],
        )
        storage.approvals_table.grant(self.ask_owner.role, "dynamodb:GetItem", "dynamodb:UpdateItem")
        allow_sms_budget(self.ask_owner, storage)
        # Presigned links to the photos are only as good as the signer's own read permission.
        self.ask_owner.allow_objects(
            sid="LinkVisitPhotos", actions=["s3:GetObject"], bucket=photos, prefix=VISIT_PHOTOS_PREFIX
        )
        self.ask_owner.allow_email_to_owner(alerts_topic, alerts_key)
        storage.otp_secret.grant_read(self.ask_owner.role)
        if config.web_push:
            # Read the owner's devices; forget one its push service no longer knows (404/410).
            allow_push_subscriptions(self.ask_owner, storage, "dynamodb:Query", "dynamodb:DeleteItem")

        self.enrol_face = self._task(
            "EnrolFace",
            name=ENROL_FACE,
            description="Smart Door task: index the approved visitor's face in the collection",
            environment={
                "COLLECTION_ID": faces.collection_id,
                "PHOTOS_BUCKET": photos.bucket_name,
            },
        )
        self.enrol_face.allow(
            sid="IndexTheVisitorsFace", actions=["rekognition:IndexFaces"], resources=[faces.collection_arn]
        )
        self.enrol_face.allow_objects(
            sid="ReadVisitPhotos", actions=["s3:GetObject"], bucket=photos, prefix=VISIT_PHOTOS_PREFIX
        )

        self.save_visitor = self._task(
            "SaveVisitor",
            name=SAVE_VISITOR,
            description="Smart Door task: save the approved visitor (name and phone from the approval)",
            environment={
                "APPROVALS_TABLE": storage.approvals_table.table_name,
                "VISITORS_TABLE": storage.visitors_table.table_name,
            },
        )
        storage.approvals_table.grant(self.save_visitor.role, "dynamodb:GetItem")
        storage.visitors_table.grant(self.save_visitor.role, "dynamodb:GetItem", "dynamodb:PutItem")

        self.issue_passcode = self._task(
            "IssuePasscode",
            name=ISSUE_PASSCODE,
            description="Smart Door task: issue a one-time passcode and text it to the visitor",
            environment={
                "PASSCODES_TABLE": storage.passcodes_table.table_name,
                "VISITORS_TABLE": storage.visitors_table.table_name,
                "OTP_SECRET_ARN": storage.otp_secret.secret_arn,
                "ALERTS_TOPIC_ARN": alerts_topic.topic_arn,
                "OTP_TTL_SECONDS": str(config.otp_ttl_seconds),
                "OTP_MAX_FAILURES": str(config.otp_max_failures),
                "OTP_FAILURE_WINDOW_SECONDS": str(config.otp_failure_window_seconds),
                "OTP_LOCKOUT_SECONDS": str(config.otp_lockout_seconds),
                # The pages' address, for the SMS's one-tap link to the keypad.
                **({"SITE_URL": config.site_url} if config.site_url else {}),
                **sms_origin,
            },
            sends_sms=True,
        )
        storage.otp_secret.grant_read(self.issue_passcode.role)
        allow_sms_budget(self.issue_passcode, storage)
        # A new code replaces the visitor's previous one in one transaction (put, put, delete).
        storage.passcodes_table.grant(
            self.issue_passcode.role,
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:DeleteItem",
            "dynamodb:ConditionCheckItem",
        )
        storage.visitors_table.grant(self.issue_passcode.role, "dynamodb:GetItem")

    def _task(
        self,
        construct_id: str,
        *,
        name: str,
        description: str,
        environment: Mapping[str, str],
        **options: Unpack[FunctionOptions],
    ) -> SmartDoorFunction:
        """A task function with the shared packaging. No DOOR_ID: a task reads the door from its
        input (the visit's event), and its settings refuse variables they do not declare."""
        return SmartDoorFunction(
            self,
            construct_id,
            name=name,
            description=description,
            packaging=self._packaging,
            environment=dict(environment),
            **options,
        )

    @property
    def by_name(self) -> dict[str, SmartDoorFunction]:
        """Every task function by its folder name (`extract_frame`, ...)."""
        functions = (
            self.extract_frame,
            self.check_collection,
            self.create_approval,
            self.ask_owner,
            self.enrol_face,
            self.save_visitor,
            self.issue_passcode,
        )
        return {function.name: function for function in functions}


def sms_environment(config: SmartDoorConfig, storage: Storage) -> dict[str, str]:
    """What every function that sends an SMS needs: the configured origin to put on it and the
    hourly budgets it counts each text against (smartdoor.settings.SmsSettings)."""
    environment = {
        "SMS_BUDGET_TABLE": storage.passcodes_table.table_name,
        "SMS_PER_VISITOR_PER_HOUR": str(config.sms_per_visitor_per_hour),
        "SMS_PER_DOOR_PER_HOUR": str(config.sms_per_door_per_hour),
    }
    if config.sms_sender_id:
        environment["SMS_SENDER_ID"] = config.sms_sender_id
    if config.origination_number:
        environment["SMS_ORIGINATION_NUMBER"] = config.origination_number
    return environment


def push_environment(storage: Storage) -> dict[str, str]:
    """Where the owner's push subscriptions live: the Passcodes table's PUSH# items."""
    return {"PUSH_SUBSCRIPTIONS_TABLE": storage.passcodes_table.table_name}


def allow_push_subscriptions(function: SmartDoorFunction, storage: Storage, *actions: str) -> None:
    """`actions` on the Passcodes table's `PUSH#...` items only (smartdoor.adapters.push_store),
    not on its codes, failure records or SMS counters."""
    function.role.add_to_policy(
        iam.PolicyStatement(
            sid="OwnersPushSubscriptions",
            actions=list(actions),
            resources=[storage.passcodes_table.table_arn],
            conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{PUSH_KEY_PREFIX}*"]}},
        )
    )


def allow_sms_budget(function: SmartDoorFunction, storage: Storage) -> None:
    """Count texts (smartdoor.adapters.sms_budget_store): UpdateItem on the Passcodes table's
    `SMS#...` counters only, not on its codes or failure records."""
    function.role.add_to_policy(
        iam.PolicyStatement(
            sid="CountTexts",
            actions=["dynamodb:UpdateItem"],
            resources=[storage.passcodes_table.table_arn],
            conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{SMS_BUDGET_KEY_PREFIX}*"]}},
        )
    )
