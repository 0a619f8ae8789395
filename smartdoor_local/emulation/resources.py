"""What each template resource is on the local stack: its local name and ARN, or why it is skipped.

The template names few resources (CloudFormation does); locally each gets a stable name from its
logical id (`StorageVisitsAA6E203C` -> table `SmartDoor-StorageVisits`), so `Intrinsics` can
render every Ref and Fn::GetAtt before anything is created. Only values moto makes up (a
secret's ARN, a queue's URL) are added after creation (`LocalRefs.add`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from smartdoor_local.emulation import template
from smartdoor_local.emulation.model import DeploymentModel, Function

STACK_PREFIX = "SmartDoor"
FACES_TABLE = "SmartDoor-LocalFaces"
_HASH_SUFFIX = re.compile(r"[0-9A-F]{8}$")

# Resource types the local stack builds from the template (and what stands in for them).
CREATED_TYPES: Mapping[str, str] = {
    "AWS::DynamoDB::Table": "a moto table with the template's keys, indexes and TTL attribute",
    "AWS::S3::Bucket": "a moto bucket (EventBridge notifications on where the template turns them on)",
    "AWS::SQS::Queue": "a moto queue",
    "AWS::SNS::Topic": "a moto topic; deliveries land in the Outbox",
    "AWS::SNS::Subscription": "a moto subscription",
    "AWS::SecretsManager::Secret": "a moto secret with a random value",
    "AWS::Events::EventBus": "a moto bus (EventDelivery completes its deliveries)",
    "AWS::Events::Rule": "a moto rule and its targets (workflows only)",
    "AWS::Kinesis::Stream": "a moto stream",
    "AWS::Lambda::EventSourceMapping": "StreamMapping polls the stream into the function",
    "AWS::Lambda::Function": "LambdaRuntime runs the real handler (project functions only)",
    "AWS::StepFunctions::StateMachine": "a moto state machine with the rendered definition (workflows only)",
    "AWS::KinesisVideo::Stream": "no KVS locally: the camera page's frames (LocalCameraFeed) by its ARN",
    "AWS::Rekognition::Collection": f"the local face engine's table {FACES_TABLE} (dlib embeddings)",
    "AWS::Events::Connection": "a moto connection, its API key resolved from moto's secrets",
    "AWS::IoT::TopicRule": "TopicRuleBridge: a subscription on the local broker invoking its function",
}
# Resource types the local stack leaves out, and why.
SKIPPED_TYPES: Mapping[str, str] = {
    "AWS::IAM::Role": "moto does not enforce IAM: one local role serves every state machine and rule",
    "AWS::IAM::Policy": "moto does not enforce IAM",
    "AWS::KMS::Key": "no encryption at rest locally",
    "AWS::Logs::LogGroup": "logs go to the local process's stderr",
    "AWS::Logs::MetricFilter": "no CloudWatch locally",
    "AWS::CloudWatch::Alarm": "no CloudWatch locally",
    "AWS::IoT::Thing": "the local MQTT broker lets any client connect: no things",
    "AWS::IoT::Policy": "the local MQTT broker is anonymous on 127.0.0.1: no policies",
    "AWS::IoT::*": "the local MQTT broker has no registry, certificates or attachments",
    "AWS::Lambda::Permission": "moto does not enforce resource policies",
    "AWS::Lambda::LayerVersion": "the handlers run in this process with its own packages",
    "AWS::Lambda::EventInvokeConfig": "EventDelivery invokes once, in order",
    "AWS::SQS::QueuePolicy": "moto does not enforce resource policies",
    "AWS::S3::BucketPolicy": "moto does not enforce resource policies",
    "AWS::SNS::TopicPolicy": "moto does not enforce resource policies",
    "AWS::ApiGateway::*": "the local server routes HTTP to the API function (http_server)",
    "AWS::CloudFront::*": "the local server serves web/ itself",
    "Custom::*": "CDK's helper custom resources (account settings, log retention, bucket deployment)",
}
# Project functions the local stack does not run.
SKIPPED_FUNCTIONS: Mapping[str, str] = {
    "stream_processor": "faceSource=streamProcessor only; the local stack samples images (faceSource=images)",
}


NOT_A_PROJECT_FUNCTION = "CDK's own helper function (custom resource provider), not in functions/"


def local_deployment(
    context: Mapping[str, Any],
    region: str,
    account: str,
    *,
    video_stream_arn: str | None = None,
    variant: template.Variant | None = None,
) -> tuple[DeploymentModel, LocalRefs]:
    """The template for `context` (and `variant`; cached) and what its logical ids stand for locally."""
    model = DeploymentModel.from_template(template.synthesized(context, variant))
    return model, LocalRefs(region, account, video_stream_arn=video_stream_arn).build(model)


def type_rule(resource_type: str, rules: Mapping[str, str]) -> str | None:
    """The reason `rules` gives for a type, by its exact name or a `Service::*` family."""
    if resource_type in rules:
        return rules[resource_type]
    family = resource_type.split("::")[0] if resource_type.startswith("Custom::") else None
    if family:
        return rules.get(f"{family}::*")
    return rules.get("::".join(resource_type.split("::")[:2]) + "::*")


def function_skip_reason(function: Function) -> str | None:
    if function.folder is None:
        return NOT_A_PROJECT_FUNCTION
    return SKIPPED_FUNCTIONS.get(function.folder)


def stem(logical_id: str) -> str:
    """`StorageVisitsAA6E203C` -> `StorageVisits` (CDK's hash suffix off)."""
    return _HASH_SUFFIX.sub("", logical_id)


@dataclass
class LocalRefs:
    """logical id (and `LogicalId.Attribute`) -> what it stands for on the local stack."""

    region: str
    account: str
    video_stream_arn: str | None = None  # replay: the trace's camera, not the template's
    refs: dict[str, str] = field(default_factory=dict)

    def add(self, logical_id: str, ref: str, **attributes: str) -> None:
        self.refs[logical_id] = ref
        for attribute, value in attributes.items():
            self.refs[f"{logical_id}.{attribute}"] = value

    def build(self, model: DeploymentModel) -> LocalRefs:
        self.refs |= {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": STACK_PREFIX,
        }
        for logical_id, resource in model.resources.items():
            name_of = _NAMERS.get(resource["Type"])
            if name_of is not None:
                name_of(self, logical_id, resource.get("Properties", {}), model)
        return self

    def _arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account}:{resource}"

    def _table(self, logical_id: str, _: dict[str, Any], __: DeploymentModel) -> None:
        name = f"{STACK_PREFIX}-{stem(logical_id)}"
        self.add(logical_id, name, Arn=self._arn("dynamodb", f"table/{name}"))

    def _bucket(self, logical_id: str, _: dict[str, Any], __: DeploymentModel) -> None:
        name = f"{STACK_PREFIX}-{stem(logical_id)}-local".lower()
        self.add(logical_id, name, Arn=f"arn:aws:s3:::{name}")

    def _video_stream(self, logical_id: str, properties: dict[str, Any], _: DeploymentModel) -> None:
        name = str(properties.get("Name") or stem(logical_id))
        arn = self.video_stream_arn or self._arn("kinesisvideo", f"stream/{name}/0")
        self.add(logical_id, name, Arn=arn)

    def _collection(self, logical_id: str, properties: dict[str, Any], _: DeploymentModel) -> None:
        collection = str(properties["CollectionId"])
        self.add(logical_id, collection, Arn=self._arn("rekognition", f"collection/{collection}"))

    def _function(self, logical_id: str, _: dict[str, Any], model: DeploymentModel) -> None:
        function = next(f for f in model.functions() if f.logical_id == logical_id)
        name = function.folder or stem(logical_id)
        self.add(logical_id, name, Arn=self._arn("lambda", f"function:{name}"))

    def _state_machine(self, logical_id: str, _: dict[str, Any], model: DeploymentModel) -> None:
        machine = next(m for m in model.state_machines() if m.logical_id == logical_id)
        name = f"{STACK_PREFIX}-{machine.workflow or stem(logical_id)}"
        arn = self._arn("states", f"stateMachine:{name}")
        self.add(logical_id, arn, Arn=arn, Name=name)


def _connection(refs: LocalRefs, logical_id: str, _: dict[str, Any], __: DeploymentModel) -> None:
    """An EventBridge connection's name and ARN (the lock's webhook). The local stack creates it on
    moto (Deployer.create_connections) and takes moto's ARN then; the workflow worlds do not."""
    name = f"{STACK_PREFIX}-{stem(logical_id)}"
    secret = refs._arn("secretsmanager", f"secret:events!connection/{name}/local")
    refs.add(logical_id, name, Arn=refs._arn("events", f"connection/{name}/local"), SecretArn=secret)


def _named(service: str, kind: str, name_attribute: str = "Name") -> Any:
    """A namer for resources named `SmartDoor-<stem>` unless the template gives a Name (the bus);
    a topic's Ref is its ARN, the others' their name (a queue's Ref, its URL, is added once moto
    made it)."""

    def name_it(refs: LocalRefs, logical_id: str, properties: dict[str, Any], _: DeploymentModel) -> None:
        name = str(properties.get("Name") or f"{STACK_PREFIX}-{stem(logical_id)}")
        arn = refs._arn(service, f"{kind}{name}")
        refs.add(logical_id, arn if service == "sns" else name, Arn=arn, **{name_attribute: name})

    return name_it


_NAMERS: dict[str, Any] = {
    "AWS::DynamoDB::Table": LocalRefs._table,
    "AWS::S3::Bucket": LocalRefs._bucket,
    "AWS::SNS::Topic": _named("sns", "", "TopicName"),
    "AWS::SQS::Queue": _named("sqs", "", "QueueName"),
    "AWS::Events::EventBus": _named("events", "event-bus/"),
    "AWS::Kinesis::Stream": _named("kinesis", "stream/"),
    "AWS::KinesisVideo::Stream": LocalRefs._video_stream,
    "AWS::Rekognition::Collection": LocalRefs._collection,
    "AWS::Lambda::Function": LocalRefs._function,
    "AWS::StepFunctions::StateMachine": LocalRefs._state_machine,
    "AWS::Events::Connection": _connection,
}
