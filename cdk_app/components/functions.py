"""Functions: how every Smart Door Lambda is packaged, and the stream match consumer.

One asset (the functions/ folder, tests and caches excluded) serves every function; AWS's
public Powertools v3 layer brings aws-lambda-powertools, a layer unpacked from PyPI's wheel
brings msgspec (and another Pillow, for extract_frame), so nothing is bundled and synth needs
no Docker. Each function gets its own log group (with retention) and its own
role that starts with nothing but writing to that log group.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TypedDict

from aws_cdk import Acknowledgment, CfnElement, Duration, Fn, RemovalPolicy, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cdk_app.components.queues import dead_letter_queue
from cdk_app.constants import (
    FUNCTION_ASSET_EXCLUDES,
    FUNCTIONS_DIR,
    MSGSPEC_LAYER_BUILD,
    MSGSPEC_LAYER_DIR,
    PILLOW_LAYER_BUILD,
    PILLOW_LAYER_DIR,
    POWERTOOLS_LAYER_ACCOUNT,
    POWERTOOLS_LAYER_NAME,
    WEBPUSH_LAYER_BUILD,
    WEBPUSH_LAYER_DIR,
)

# Two weeks: long enough to read what went wrong after a holiday; log storage is billed and
# a log names visits and visitors (docs/privacy.md), so nothing is kept longer than that.
LOG_RETENTION = logs.RetentionDays.TWO_WEEKS

XRAY_REASON = (
    "X-Ray tracing (active on every function) needs xray:PutTraceSegments and "
    "xray:PutTelemetryRecords, which support no resource-level permissions."
)


SMS_REASON = (
    "SMS is sent by SNS Publish to a phone number, which has no resource ARN: IAM only accepts "
    "Resource '*' for it. The statement allows sns:Publish alone, in its own policy."
)

RUNTIME_REASON = (
    "Python 3.13 is pinned on purpose: the public Powertools v3 layer is built per Python version "
    "(python313-arm64); runtime and layer move together, deliberately."
)


def powertools_layer_arn(version: int) -> str:
    """AWS's public Powertools for AWS Lambda (Python) v3 layer, in the stack's own region."""
    return Fn.sub(
        f"arn:${{AWS::Partition}}:lambda:${{AWS::Region}}:{POWERTOOLS_LAYER_ACCOUNT}"
        f":layer:{POWERTOOLS_LAYER_NAME}:{version}"
    )


class MissingBuildArtifact(RuntimeError):
    """Something synth packages has not been built yet; the message says how to build it."""


class FunctionPackaging(Construct):
    """The code asset and the layers, created once and shared by the functions."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        powertools_layer_version: int,
        pillow_layer_dir: Path = PILLOW_LAYER_DIR,
        msgspec_layer_dir: Path = MSGSPEC_LAYER_DIR,
        webpush_layer_dir: Path = WEBPUSH_LAYER_DIR,
    ) -> None:
        super().__init__(scope, construct_id)
        self.code = lambda_.Code.from_asset(str(FUNCTIONS_DIR), exclude=FUNCTION_ASSET_EXCLUDES)
        self.powertools = lambda_.LayerVersion.from_layer_version_arn(
            self, "Powertools", powertools_layer_arn(powertools_layer_version)
        )
        self.msgspec = self._built_layer("Msgspec", msgspec_layer_dir, "msgspec", MSGSPEC_LAYER_BUILD)
        self.pillow = self._built_layer("Pillow", pillow_layer_dir, "PIL", PILLOW_LAYER_BUILD)
        self._webpush_layer_dir = webpush_layer_dir
        self._webpush: lambda_.LayerVersion | None = None

    @property
    def webpush(self) -> lambda_.LayerVersion:
        """The Web Push layer, created when a function first asks for it (webPush=false: never)."""
        if self._webpush is None:
            self._webpush = self._built_layer(
                "WebPush", self._webpush_layer_dir, "cryptography", WEBPUSH_LAYER_BUILD
            )
        return self._webpush

    def _built_layer(
        self, construct_id: str, layer_dir: Path, module: str, build: str
    ) -> lambda_.LayerVersion:
        """A layer scripts/build_layer.sh unpacked from PyPI's manylinux wheel (no Docker)."""
        stamp = layer_dir.with_name(layer_dir.name + ".stamp")
        if not (layer_dir / "python" / module).is_dir() or not stamp.is_file():
            raise MissingBuildArtifact(
                f"The {construct_id} Lambda layer is not built ({layer_dir} is missing).\n"
                f"  Build it once with: {build}"
            )
        built = stamp.read_text(encoding="utf-8").strip()  # e.g. "pillow==13.0.0 arm64 python3.13"
        return lambda_.LayerVersion(
            self,
            construct_id,
            code=lambda_.Code.from_asset(str(layer_dir)),
            compatible_runtimes=[lambda_.Runtime.PYTHON_3_13],
            compatible_architectures=[lambda_.Architecture.ARM_64],
            description=f"Smart Door: {built}",
        )


class FunctionOptions(TypedDict, total=False):
    """SmartDoorFunction's optional settings, for factories that pass them through."""

    timeout_seconds: int
    memory_size: int
    extra_layers: Sequence[lambda_.ILayerVersion]
    sends_sms: bool


class SmartDoorFunction(Construct):
    """A Python 3.13 arm64 Lambda running `<name>.handler.handler`: traced, own log group, own role."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        description: str,
        packaging: FunctionPackaging,
        environment: Mapping[str, str],
        timeout_seconds: int = 30,
        memory_size: int = 256,
        extra_layers: Sequence[lambda_.ILayerVersion] = (),
        sends_sms: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        self.name = name
        self.log_group = logs.LogGroup(
            self, "Logs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY
        )
        self.role = iam.Role(
            self,
            "Role",
            description=f"Smart Door {name}",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        )
        # Instead of AWSLambdaBasicExecutionRole (logs:* on every log group): this one only.
        self.log_group.grant(self.role, "logs:CreateLogStream", "logs:PutLogEvents")
        self.function = lambda_.Function(
            self,
            "Function",
            description=description,
            runtime=lambda_.Runtime.PYTHON_3_13,
            architecture=lambda_.Architecture.ARM_64,
            handler=f"{name}.handler.handler",
            code=packaging.code,
            layers=[packaging.powertools, packaging.msgspec, *extra_layers],
            role=self.role,
            log_group=self.log_group,
            tracing=lambda_.Tracing.ACTIVE,
            timeout=Duration.seconds(timeout_seconds),
            memory_size=memory_size,
            environment={**environment, "POWERTOOLS_SERVICE_NAME": name},
        )
        Validations.of(self.role).acknowledge(
            Acknowledgment(id="AwsSolutions::AwsSolutions-IAM5[Resource::*]", reason=XRAY_REASON)
        )
        Validations.of(self.function).acknowledge(
            Acknowledgment(id="AwsSolutions::AwsSolutions-L1", reason=RUNTIME_REASON)
        )
        if sends_sms:
            self._allow_sms()

    def _allow_sms(self) -> None:
        """SMS to a phone number: SNS direct publish, which has no resource ARN to name."""
        policy = iam.Policy(
            self,
            "SmsPolicy",
            statements=[
                iam.PolicyStatement(sid="SendSmsToPhoneNumbers", actions=["sns:Publish"], resources=["*"])
            ],
        )
        self.role.attach_inline_policy(policy)
        Validations.of(policy).acknowledge(
            Acknowledgment(id="AwsSolutions::AwsSolutions-IAM5[Resource::*]", reason=SMS_REASON)
        )

    def allow(self, *, sid: str, actions: list[str], resources: list[str]) -> None:
        """Add one least-privilege statement to this function's role."""
        self.role.add_to_policy(iam.PolicyStatement(sid=sid, actions=actions, resources=resources))

    def allow_email_to_owner(self, topic: sns.ITopic, key: kms.IKey) -> None:
        """Publish to the owner's (KMS-encrypted) alerts topic: the topic alone, and its key."""
        self.allow(sid="EmailTheOwner", actions=["sns:Publish"], resources=[topic.topic_arn])
        key.grant(self.role, "kms:GenerateDataKey", "kms:Decrypt")

    def allow_objects(self, *, sid: str, actions: list[str], bucket: s3.IBucket, prefix: str) -> None:
        """Allow `actions` on the objects under one key prefix of a bucket (`<prefix>*`).

        Object keys carry a visit or door id chosen at run time, so the prefix wildcard is
        the narrowest grant there is; the cdk-nag finding it causes is acknowledged for
        exactly this bucket and prefix.
        """
        self.allow(sid=sid, actions=actions, resources=[bucket.arn_for_objects(f"{prefix}*")])
        stack = Stack.of(self)
        bucket_resource = bucket.node.default_child
        assert isinstance(bucket_resource, CfnElement)
        bucket_id = stack.resolve(stack.get_logical_id(bucket_resource))
        Validations.of(self.role).acknowledge(
            Acknowledgment(
                id=f"AwsSolutions::AwsSolutions-IAM5[Resource::<{bucket_id}.Arn>/{prefix}*]",
                reason=(
                    f"Objects under {prefix} are keyed by ids chosen at run time (visit or door); "
                    f"the grant is limited to {', '.join(actions)} under that one prefix."
                ),
            )
        )


class StreamMatch(Construct):
    """The match Lambda: reads face-search records, groups frames into visits, emits one event per visit.

    Failure handling on the Kinesis event source: the function reports the records it could
    not handle (ReportBatchItemFailures), a failing batch is split to isolate a poison record,
    retries are bounded, and what still fails goes to an SQS queue, never silently dropped.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        packaging: FunctionPackaging,
        environment: Mapping[str, str],
        face_search_stream: kinesis.IStream | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.failures: sqs.IQueue | None = None
        self.handler = SmartDoorFunction(
            self,
            "Handler",
            name="stream_match",
            description="Smart Door: face-search records -> visits -> known/unknown face events",
            packaging=packaging,
            environment=environment,
            timeout_seconds=60,
        )
        self.function = self.handler.function
        if face_search_stream is None:
            # faceSource=snapshots: process_snapshot invokes this function with the records
            # (smartdoor.adapters.match_invoker); no event source, no iterator, no DLQ of its own
            # (the snapshot rule's retries and dead-letter queue cover it).
            return
        self.failures = dead_letter_queue(self, "Failures")
        self.event_source = event_sources.KinesisEventSource(
            face_search_stream,
            starting_position=lambda_.StartingPosition.LATEST,
            batch_size=100,
            max_batching_window=Duration.seconds(1),
            parallelization_factor=1,  # one door, one shard: frames stay in order
            retry_attempts=3,
            bisect_batch_on_error=True,
            report_batch_item_failures=True,
            max_record_age=Duration.hours(1),
            on_failure=event_sources.SqsDlq(self.failures),
        )
        self.function.add_event_source(self.event_source)
