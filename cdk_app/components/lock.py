"""The door's lock (docs/door.md): how a right code becomes an open door, and how we know it did.

The unlock API records each command `pending` in the lock-states table and puts DoorUnlocked on
the bus; a rule for the door starts the lock's workflow (Standard: exactly-once executions with
a history the owner can read when the door stayed shut; at ~6 transitions per opening the price
is a few cents a year, and the IoT path's wait of lockCommandSeconds is billed nothing).

- `lockIot`: one IoT thing `smartdoor-<doorId>` with a policy naming only its own client id and
  topics; `lock_command` publishes the command (iot:Publish on exactly the commands topic); a
  topic rule sends the device's state reports to `lock_state`, which records them; the workflow
  (workflows/open_lock_iot.asl.json) waits until the command expires and, without a report,
  marks it `no-answer`, emails the owner and fails.
- `lockWebhookUrl`: an EventBridge connection (API key header, its value a dynamic reference to
  the owner's Secrets Manager secret, never in the template) and an HTTP Task
  (workflows/open_lock_webhook.asl.json) whose 2xx marks the command `unlocked`; retries
  exhausted: the body waits in a dead-letter queue (alarmed), the owner is emailed, `no-answer`.

A failed execution (the door did not open) raises an alarm to the owner as well.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnOutput, Fn, RemovalPolicy, SecretValue, Stack, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from cdk_app.components.alerts import Alerts
from cdk_app.components.events import Events
from cdk_app.components.functions import LOG_RETENTION, FunctionPackaging, SmartDoorFunction
from cdk_app.components.queues import dead_letter_queue
from cdk_app.components.workflows import (
    acknowledge_state_machine_role,
    dynamodb_calls,
    logged_state_machine,
    workflow_file,
)
from cdk_app.config import SmartDoorConfig
from cdk_app.constants import (
    DOOR_UNLOCKED,
    LOCK_COMMAND,
    LOCK_STATE,
    LOCK_UNLOCK_SECONDS,
    OPEN_LOCK_IOT_WORKFLOW,
    OPEN_LOCK_WEBHOOK_WORKFLOW,
)

IOT_SQL_VERSION = "2016-03-23"


def thing_name(door_id: str) -> str:
    return f"smartdoor-{door_id}"


def commands_topic(door_id: str) -> str:
    return f"smartdoor/{door_id}/commands"


def state_topic(door_id: str) -> str:
    return f"smartdoor/{door_id}/state"


def iot_arn(kind: str, name: str) -> str:
    """arn:<partition>:iot:<region>:<account>:<kind>/<name> (kind: client, topic, topicfilter)."""
    return Fn.sub(f"arn:${{AWS::Partition}}:iot:${{AWS::Region}}:${{AWS::AccountId}}:{kind}/{name}")


def iot_allow(action: str, kind: str, name: str) -> dict[str, str]:
    """An IoT policy statement allowing `action` on one resource (see iot_arn)."""
    return {"Effect": "Allow", "Action": action, "Resource": iot_arn(kind, name)}


class Lock(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: SmartDoorConfig,
        packaging: FunctionPackaging,
        lock_states: dynamodb.ITable,
        events_: Events,
        alerts: Alerts,
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self._packaging = packaging
        self._alerts = alerts
        self.lock_states = lock_states
        self.door_id = config.door_id
        self.command_function: SmartDoorFunction | None = None
        self.state_function: SmartDoorFunction | None = None
        self.dead_letters: sqs.Queue | None = None
        self.connection: events.Connection | None = None
        if config.lock == "iot":
            self._iot_device()
            self.state_machine = self._iot_workflow()
        else:
            self.state_machine = self._webhook_workflow()
        events_.route(DOOR_UNLOCKED, self.state_machine, detail={"doorId": [self.door_id]})
        alerts.when_executions_fail("DoorDidNotOpen", self.state_machine)

    # ------------------------------------------------------------------------ IoT

    def _iot_device(self) -> None:
        door = self.door_id
        self.thing = iot.CfnThing(self, "Thing", thing_name=thing_name(door))
        # The device's certificate may do exactly this (docs/door.md, "The MQTT contract").
        self.device_policy = iot.CfnPolicy(
            self,
            "DevicePolicy",
            policy_document={
                "Version": "2012-10-17",
                "Statement": [
                    iot_allow("iot:Connect", "client", thing_name(door)),
                    iot_allow("iot:Subscribe", "topicfilter", commands_topic(door)),
                    iot_allow("iot:Receive", "topic", commands_topic(door)),
                    iot_allow("iot:Publish", "topic", state_topic(door)),
                ],
            },
        )
        self.command_function = SmartDoorFunction(
            self,
            "Command",
            name=LOCK_COMMAND,
            description="Smart Door: publish an unlock command to the door's relay (AWS IoT Core)",
            packaging=self._packaging,
            environment={
                "DOOR_ID": door,
                "UNLOCK_SECONDS": str(LOCK_UNLOCK_SECONDS),
                # The region's ATS data endpoint (botocore's default for iot-data).
                "IOT_DATA_ENDPOINT_URL": Fn.sub("https://data-ats.iot.${AWS::Region}.${AWS::URLSuffix}"),
            },
            timeout_seconds=10,
        )
        self.command_function.allow(
            sid="PublishTheDoorsCommands",
            actions=["iot:Publish"],
            resources=[iot_arn("topic", commands_topic(door))],
        )
        self.state_function = SmartDoorFunction(
            self,
            "State",
            name=LOCK_STATE,
            description="Smart Door: record the lock state the door's device reported",
            packaging=self._packaging,
            environment={"DOOR_ID": door, "LOCK_STATES_TABLE": self.lock_states.table_name},
            timeout_seconds=10,
        )
        self.lock_states.grant(self.state_function.role, "dynamodb:UpdateItem")
        self._alerts.when_function_errors("LockCommandErrors", self.command_function.function)
        self._alerts.when_function_errors("LockStateErrors", self.state_function.function)
        self._state_rule()

    def _state_rule(self) -> None:
        assert self.state_function is not None
        function = self.state_function.function
        errors = logs.LogGroup(
            self, "RuleErrors", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY
        )
        error_role = iam.Role(
            self,
            "RuleErrorsRole",
            description="Smart Door: the lock-state rule writes its delivery errors",
            assumed_by=iam.ServicePrincipal("iot.amazonaws.com"),
        )
        errors.grant(error_role, "logs:CreateLogStream", "logs:PutLogEvents")
        self.state_rule = iot.CfnTopicRule(
            self,
            "StateRule",
            topic_rule_payload=iot.CfnTopicRule.TopicRulePayloadProperty(
                description=f"Smart Door: {state_topic(self.door_id)} reports to lock_state",
                # The door id is a validated slug (config.DOOR_ID): nothing to inject.
                sql=f"SELECT * FROM '{state_topic(self.door_id)}'",  # noqa: S608
                aws_iot_sql_version=IOT_SQL_VERSION,
                rule_disabled=False,
                actions=[
                    iot.CfnTopicRule.ActionProperty(
                        lambda_=iot.CfnTopicRule.LambdaActionProperty(function_arn=function.function_arn)
                    )
                ],
                error_action=iot.CfnTopicRule.ActionProperty(
                    cloudwatch_logs=iot.CfnTopicRule.CloudwatchLogsActionProperty(
                        log_group_name=errors.log_group_name, role_arn=error_role.role_arn
                    )
                ),
            ),
        )
        function.add_permission(
            "InvokedByTheStateRule",
            principal=iam.ServicePrincipal("iot.amazonaws.com"),
            source_arn=self.state_rule.attr_arn,
            source_account=Stack.of(self).account,
        )

    def _iot_workflow(self) -> sfn.StateMachine:
        assert self.command_function is not None
        available = {
            "LockStatesTableName": self.lock_states.table_name,
            "LockCommandFunctionArn": self.command_function.function.function_arn,
            "AlertsTopicArn": self._alerts.topic.topic_arn,
        }
        state_machine = self._state_machine(OPEN_LOCK_IOT_WORKFLOW, available)
        state_machine.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="TellTheLock",
                actions=["lambda:InvokeFunction"],
                resources=[self.command_function.function.function_arn],
            )
        )
        return state_machine

    # ------------------------------------------------------------------------ webhook

    def _webhook_workflow(self) -> sfn.StateMachine:
        config = self._config
        assert config.lock_webhook_url is not None and config.lock_webhook_secret_name is not None
        self.connection = events.Connection(
            self,
            "WebhookConnection",
            description="Smart Door: the lock's webhook (API key header from the owner's secret)",
            authorization=events.Authorization.api_key(
                config.lock_webhook_header,
                # A dynamic reference: CloudFormation resolves it; the template holds only the name.
                SecretValue.secrets_manager(config.lock_webhook_secret_name),
            ),
        )
        self.dead_letters = dead_letter_queue(self, "WebhookDeadLetters")
        self._alerts.when_queue_has_messages(
            "WebhookNotDelivered", self.dead_letters, what="The lock's webhook (unlock command)"
        )
        available = {
            "LockStatesTableName": self.lock_states.table_name,
            "AlertsTopicArn": self._alerts.topic.topic_arn,
            "LockWebhookUrl": config.lock_webhook_url,
            "LockConnectionArn": self.connection.connection_arn,
            "LockDeadLettersQueueUrl": self.dead_letters.queue_url,
        }
        state_machine = self._state_machine(OPEN_LOCK_WEBHOOK_WORKFLOW, available)
        role = state_machine.role
        # What an HTTP Task needs (Step Functions, "Call HTTPS APIs": IAM permissions).
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="CallTheLocksWebhook",
                actions=["states:InvokeHTTPEndpoint"],
                resources=["*"],
                conditions={
                    "StringEquals": {
                        "states:HTTPEndpoint": config.lock_webhook_url,
                        "states:HTTPMethod": "POST",
                    }
                },
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="UseTheWebhookConnection",
                actions=["events:RetrieveConnectionCredentials"],
                resources=[self.connection.connection_arn],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadTheConnectionsSecret",
                actions=["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                resources=[self.connection.connection_secret_arn],
            )
        )
        self.dead_letters.grant_send_messages(role)
        Validations.of(role).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-IAM5[Resource::*]",
                reason=(
                    "states:InvokeHTTPEndpoint has no resource narrower than the state machine, whose "
                    "ARN would make its own role circular; the statement is limited by condition to "
                    "the lock's one webhook URL and POST. The other '*' are Step Functions' tracing "
                    "and log delivery, which support no resource-level permissions."
                ),
            )
        )
        return state_machine

    # ------------------------------------------------------------------------ both

    def _state_machine(self, name: str, available: dict[str, str]) -> sfn.StateMachine:
        built = logged_state_machine(
            self,
            name=name,
            available=available,
            state_machine_type=sfn.StateMachineType.STANDARD,
            # The input names the visitor (visitorId): the logs record the flow, the execution
            # history (access-controlled, 90 days) the data, as for the visitor workflows.
            include_execution_data=False,
            log_group_id="Logs",
            state_machine_id="OpenLock",
        )
        self.log_group = built.log_group
        state_machine = built.state_machine
        role = state_machine.role
        for _table, actions in dynamodb_calls(workflow_file(name), tables=("LockStatesTableName",)).items():
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="LockStates", actions=sorted(actions), resources=[self.lock_states.table_arn]
                )
            )
        if "AlertsTopicArn" in built.substitutions:
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="NotifyTheOwner", actions=["sns:Publish"], resources=[self._alerts.topic.topic_arn]
                )
            )
            self._alerts.key.grant(role, "kms:GenerateDataKey", "kms:Decrypt")
        acknowledge_state_machine_role(role)
        return state_machine

    def add_outputs(self) -> None:
        """What `smartdoor-door init --aws` and a person setting up the lock read."""
        door = self.door_id
        outputs = {
            "LockStatesTableName": (self.lock_states.table_name, "DynamoDB: each unlock command's state"),
            "OpenLockStateMachineArn": (self.state_machine.state_machine_arn, "Workflow that opens the lock"),
        }
        if self._config.lock == "iot":
            outputs |= {
                "LockThingName": (thing_name(door), "IoT thing (and MQTT client id) of the door agent"),
                "LockPolicyName": (self.device_policy.ref, "IoT policy to attach to the thing's certificate"),
                "LockCommandsTopic": (commands_topic(door), "MQTT topic the agent subscribes to"),
                "LockStateTopic": (state_topic(door), "MQTT topic the agent reports the lock's state on"),
                "LockIotEndpointHint": (
                    "aws iot describe-endpoint --endpoint-type iot:Data-ATS",
                    "The MQTT host of this account (the agent's mqtt.host, port 8883)",
                ),
            }
        for key, (value, description) in outputs.items():
            CfnOutput(Stack.of(self), key, value=value, description=description)
