"""The template's resources, created on moto: what the local stack and the test worlds share.

`Deployer(model, refs)` creates, inside an active `mock_aws`, exactly what the template
describes: the tables (keys, indexes, TTL), buckets (EventBridge notifications where the template
turns them on), secrets, topics and subscriptions, buses, queues and streams, each state machine
with its rendered definition and type, and each rule with its pattern and targets. It also
renders each function's environment (`environment`) and names the resources the way the
functions' environments name them (`names`). Nothing here knows a table key or a variable by
heart except `NAMED_BY_VARIABLE`, the short names the local stack and the worlds look things up by.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from smartdoor_local.emulation.model import (
    DeploymentModel,
    Function,
    Intrinsics,
    Rule,
    StateMachine,
    UnresolvedIntrinsic,
)
from smartdoor_local.emulation.resources import LocalRefs, stem

# Short names (`names[...]`) -> the function environment variable that, in the template, names
# that resource (so the template says which table is which).
NAMED_BY_VARIABLE = {
    "visits": "VISITS_TABLE",
    "approvals": "APPROVALS_TABLE",
    "visitors": "VISITORS_TABLE",
    "passcodes": "PASSCODES_TABLE",
    "photos": "PHOTOS_BUCKET",
    "bus": "EVENT_BUS_NAME",
    "face_search_stream": "FACE_SEARCH_STREAM_NAME",
    "collection": "COLLECTION_ID",
    "video_stream_arn": "VIDEO_STREAM_ARN",
    "alerts_topic": "ALERTS_TOPIC_ARN",
    "otp_secret": "OTP_SECRET_ARN",
    "lock_states": "LOCK_STATES_TABLE",
}
LOCAL_ROLE = "smartdoor-local"
# CloudFormation's dynamic reference to a secret: {{resolve:secretsmanager:id:SecretString:key:stage:version}}
_SECRET_REFERENCE = re.compile(
    r"\{\{resolve:secretsmanager:(?P<id>[^:}]+(?::[^:}]+:[^:}]+:[^:}]+:[^:}]+:[^:}]+:[^:}]+)?)"
    r"(?::SecretString(?::(?P<key>[^:}]*))?(?::(?P<stage>[^:}]*))?(?::(?P<version>[^:}]*))?)?\}\}"
)


def _random_secret() -> str:
    return secrets.token_urlsafe(48)


@dataclass
class Deployer:
    model: DeploymentModel
    refs: LocalRefs

    @property
    def intrinsics(self) -> Intrinsics:
        return Intrinsics(self.refs.refs)

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(service, region_name=self.refs.region)  # type: ignore[call-overload]

    # ------------------------------------------------------------------ names and environments

    def names(self) -> dict[str, str]:
        """`NAMED_BY_VARIABLE`'s keys -> each resource as the function variable naming it resolves."""
        intrinsics = self.intrinsics
        found: dict[str, str] = {}
        for function in self.model.functions():
            for key, variable in NAMED_BY_VARIABLE.items():
                value = function.environment.get(variable)
                if value is not None and key not in found:
                    try:
                        found[key] = intrinsics.text(value)
                    except UnresolvedIntrinsic:
                        continue  # a value moto makes (the secret's ARN): known once deployed
        buses = self.model.of_type("AWS::Events::EventBus")
        found["bus_arn"] = next(self.refs.refs[f"{logical_id}.Arn"] for logical_id in buses)
        return found

    def environment(self, function: Function, overrides: Mapping[str, str] = {}) -> dict[str, str]:
        """The function's template environment, rendered; `overrides` replace the variables the
        template sets (a variable the template does not set is not added)."""
        intrinsics = self.intrinsics
        return {
            variable: overrides[variable] if variable in overrides else intrinsics.text(value)
            for variable, value in function.environment.items()
        }

    def role(self) -> str:
        """One role for every state machine and rule target (moto does not enforce IAM)."""
        return str(
            self.client("iam").create_role(
                RoleName=LOCAL_ROLE,
                AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
            )["Role"]["Arn"]
        )

    # ------------------------------------------------------------------ resources

    def create_tables(self) -> None:
        dynamodb = self.client("dynamodb")
        for table in self.model.tables():
            table.create(dynamodb, self.refs.refs[table.logical_id])

    def create_storage(self, secret_value: Callable[[], str] = _random_secret) -> None:
        """Buckets (and their EventBridge notifications) and secrets (value: `secret_value()`)."""
        s3 = self.client("s3")
        for logical_id, properties in self.model.of_type("AWS::S3::Bucket").items():
            s3.create_bucket(Bucket=self.refs.refs[logical_id])
            notifications = properties.get("NotificationConfiguration") or {}
            if (notifications.get("EventBridgeConfiguration") or {}).get("EventBridgeEnabled"):
                s3.put_bucket_notification_configuration(
                    Bucket=self.refs.refs[logical_id],
                    NotificationConfiguration={"EventBridgeConfiguration": {}},
                )
        secretsmanager = self.client("secretsmanager")
        for logical_id in self.model.of_type("AWS::SecretsManager::Secret"):
            arn = secretsmanager.create_secret(
                Name=f"SmartDoor-{stem(logical_id)}", SecretString=secret_value()
            )["ARN"]
            self.refs.add(logical_id, arn, Arn=arn)

    def create_messaging(self) -> None:
        """Topics and subscriptions, buses, queues (their URL is their Ref) and streams."""
        intrinsics = self.intrinsics
        sns, events, sqs, kinesis = (self.client(s) for s in ("sns", "events", "sqs", "kinesis"))
        for logical_id in self.model.of_type("AWS::SNS::Topic"):
            sns.create_topic(Name=self.refs.refs[f"{logical_id}.TopicName"])
        for properties in self.model.of_type("AWS::SNS::Subscription").values():
            sns.subscribe(
                TopicArn=intrinsics.text(properties["TopicArn"]),
                Protocol=properties["Protocol"],
                Endpoint=intrinsics.text(properties["Endpoint"]),
            )
        for logical_id in self.model.of_type("AWS::Events::EventBus"):
            events.create_event_bus(Name=self.refs.refs[logical_id])
        for logical_id in self.model.of_type("AWS::SQS::Queue"):
            url = sqs.create_queue(QueueName=self.refs.refs[f"{logical_id}.QueueName"])["QueueUrl"]
            self.refs.add(logical_id, url)
        for logical_id, properties in self.model.of_type("AWS::Kinesis::Stream").items():
            kinesis.create_stream(
                StreamName=self.refs.refs[logical_id], ShardCount=int(properties.get("ShardCount", 1))
            )

    def create_state_machine(self, machine: StateMachine, role_arn: str) -> str:
        """The state machine with its rendered definition and type; its ARN."""
        return str(
            self.client("stepfunctions").create_state_machine(
                name=self.refs.refs[f"{machine.logical_id}.Name"],
                definition=machine.rendered(self.intrinsics),
                roleArn=role_arn,
                type=machine.type,
            )["stateMachineArn"]
        )

    def create_connections(self) -> None:
        """EventBridge connections (HTTP Tasks' credentials), their secret values resolved from moto's
        Secrets Manager as CloudFormation resolves a dynamic reference; the ARN is moto's."""
        events = self.client("events")
        for logical_id, properties in self.model.of_type("AWS::Events::Connection").items():
            auth = self.resolve_secrets(self.intrinsics.resolve(properties.get("AuthParameters") or {}))
            name = str(properties.get("Name") or self.refs.refs.get(logical_id) or stem(logical_id))
            arn = events.create_connection(
                Name=name, AuthorizationType=properties["AuthorizationType"], AuthParameters=auth
            )["ConnectionArn"]
            secret = events.describe_connection(Name=name)["SecretArn"]
            self.refs.add(logical_id, name, Arn=arn, SecretArn=secret)

    def resolve_secrets(self, value: Any) -> Any:
        """`value` with every `{{resolve:secretsmanager:...}}` replaced by the secret's value."""
        if isinstance(value, dict):
            return {key: self.resolve_secrets(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.resolve_secrets(item) for item in value]
        if not isinstance(value, str):
            return value
        return _SECRET_REFERENCE.sub(self._secret_value, value)

    def _secret_value(self, match: re.Match[str]) -> str:
        extra = {"VersionStage": match.group("stage")} if match.group("stage") else {}
        if match.group("version"):
            extra = {"VersionId": match.group("version")}
        text = str(
            self.client("secretsmanager").get_secret_value(SecretId=match.group("id"), **extra)[
                "SecretString"
            ]
        )
        key = match.group("key")
        return str(json.loads(text)[key]) if key else text

    def state_machine(self, workflow: str) -> StateMachine:
        """The template's state machine for workflows/<workflow>.asl.json."""
        (found,) = (m for m in self.model.state_machines() if (m.workflow or m.logical_id) == workflow)
        return found

    def put_rule(self, rule: Rule, role_arn: str) -> None:
        """The rule with its pattern (rendered) and targets, on its bus."""
        intrinsics = self.intrinsics
        events = self.client("events")
        bus = {"EventBusName": self.refs.refs[rule.bus]} if rule.bus else {}
        name = stem(rule.logical_id)
        events.put_rule(Name=name, EventPattern=json.dumps(intrinsics.resolve(rule.pattern)), **bus)
        targets = [
            {
                "Id": target.id,
                "Arn": intrinsics.text({"Fn::GetAtt": [target.logical_id, "Arn"]}),
                **({"RoleArn": role_arn} if target.uses_role else {}),
            }
            for target in rule.targets
        ]
        events.put_targets(Rule=name, Targets=targets, **bus)

    def rules_targeting(self, logical_id: str) -> list[Rule]:
        """The rules that start (or invoke) the resource `logical_id`."""
        return [r for r in self.model.rules() if any(t.logical_id == logical_id for t in r.targets)]
