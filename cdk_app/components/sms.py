"""SMS delivery status: SNS logs failed text messages to CloudWatch Logs, one alarm emails the owner.

A text message SNS accepted can still fail at the carrier minutes later (unverified number in
the SMS sandbox, spend limit, opted-out or unreachable phone); Publish has already returned.
SNS reports those only through delivery status logging, an account-and-region-wide setting
(SetSMSAttributes: DeliveryStatusIAMRole, DeliveryStatusSuccessSamplingRate) that no
CloudFormation resource covers, so an AwsCustomResource sets it. SNS writes each failure to
the log group `sns/<region>/<account>/DirectPublishToPhoneNumber/Failure`; a metric filter
counts them and one alarm on that count emails the owner through the alerts topic.
docs/sms.md has the sources and the cost.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, ArnFormat, CfnResource, Duration, RemovalPolicy, Stack, Token, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct

from cdk_app.components.alerts import Alerts
from cdk_app.constants import (
    METRICS_NAMESPACE,
    SMS_DELIVERY_FAILURES_METRIC,
    SMS_SUCCESS_SAMPLING_PERCENT,
)

# SNS's failure logs name the phone number: keep them two weeks, long enough to read an alarm.
FAILURE_LOG_RETENTION = logs.RetentionDays.TWO_WEEKS

# The stack-level singleton Lambdas CDK creates for AwsCustomResource and LogRetention.
AWS_CUSTOM_RESOURCE_PROVIDER_ID = "AWS679f53fac002430cb0da5b7982bd2287"
LOG_RETENTION_PROVIDER_ID = "LogRetentionaae0aa3c5b4d4f87b02d85b201efdd8a"

ACCOUNT_SETTING_REASON = (
    "SNS SetSMSAttributes is an account-level action with no resource ARN (the Service "
    "Authorization Reference lists no resource type for it), so it can only be granted on '*'; "
    "the custom resource's role may do nothing else but pass the one delivery-status role to SNS."
)
PROVIDER_REASON = (
    "CDK's own singleton provider Lambda for custom resources (AwsCustomResource, LogRetention): "
    "it runs only during deployments, with AWS's basic execution role for its own logs (and, for "
    "LogRetention, to create the SNS failure log group); LogRetention's retention actions are "
    "granted on '*' by CDK itself, which offers no way to narrow them."
)
DELIVERY_ROLE_REASON = (
    "SNS writes SMS delivery logs into log groups it names itself, "
    "sns/<region>/<account>/DirectPublishToPhoneNumber and .../Failure, with streams it creates; "
    "the grant is that one name prefix in this account and region, nothing else."
)


def sms_failure_log_group_name(stack: Stack) -> str:
    """Where SNS writes failed SMS deliveries (SNS Developer Guide, "Viewing CloudWatch Logs")."""
    return f"sns/{stack.region}/{stack.account}/DirectPublishToPhoneNumber/Failure"


class SmsDeliveryStatus(Construct):
    """Turns on SNS's SMS delivery status logging (failures only) and alarms on any failure."""

    def __init__(self, scope: Construct, construct_id: str, *, alerts: Alerts) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.log_group_name = sms_failure_log_group_name(stack)

        # The role SNS assumes to write the logs: only its own DirectPublishToPhoneNumber groups.
        self.role = iam.Role(
            self,
            "LogsRole",
            description="Smart Door: SNS writes SMS delivery status logs",
            assumed_by=iam.ServicePrincipal("sns.amazonaws.com"),
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteSmsDeliveryLogs",
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[
                    stack.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name=f"sns/{stack.region}/{stack.account}/DirectPublishToPhoneNumber*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            )
        )
        self._acknowledge_log_group_prefix(stack)

        # The account setting. Failures only: successes would log every recipient's number.
        attributes = {
            "DeliveryStatusIAMRole": self.role.role_arn,
            "DeliveryStatusSuccessSamplingRate": str(SMS_SUCCESS_SAMPLING_PERCENT),
        }
        set_attributes = cr.AwsSdkCall(
            service="SNS",
            action="setSMSAttributes",
            parameters={"attributes": attributes},
            physical_resource_id=cr.PhysicalResourceId.of("SmartDoorSmsDeliveryStatusLogging"),
        )
        self.account_setting = cr.AwsCustomResource(
            self,
            "AccountSetting",
            resource_type="Custom::SmsDeliveryStatusLogging",
            on_create=set_attributes,
            on_update=set_attributes,
            # Best effort: stop pointing SNS at the role this stack is about to delete.
            on_delete=cr.AwsSdkCall(
                service="SNS",
                action="setSMSAttributes",
                parameters={"attributes": {"DeliveryStatusIAMRole": ""}},
                ignore_error_codes_matching=".*",
            ),
            install_latest_aws_sdk=False,
            # One SDK call per deployment; the smallest size Lambda allows is plenty.
            memory_size=128,
            # Its own log group, so its few lines expire (CDK's managed group keeps them 2 years).
            log_group=logs.LogGroup(
                self,
                "AccountSettingLogs",
                retention=FAILURE_LOG_RETENTION,
                removal_policy=RemovalPolicy.DESTROY,
            ),
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [
                    iam.PolicyStatement(
                        sid="SetSmsDeliveryStatusLogging", actions=["sns:SetSMSAttributes"], resources=["*"]
                    ),
                    iam.PolicyStatement(
                        sid="PassTheDeliveryLogsRoleToSns",
                        actions=["iam:PassRole"],
                        resources=[self.role.role_arn],
                        conditions={"StringEquals": {"iam:PassedToService": "sns.amazonaws.com"}},
                    ),
                ]
            ),
        )
        self.account_setting.node.add_dependency(self.role)
        policy = self.account_setting.node.find_child("CustomResourcePolicy")
        Validations.of(policy).acknowledge(
            Acknowledgment(id="AwsSolutions::AwsSolutions-IAM5[Resource::*]", reason=ACCOUNT_SETTING_REASON)
        )

        # SNS creates the failure log group on the first failure, with no expiry; create it now
        # (or adopt it if an earlier setup left one) so the metric filter has a group and the
        # numbers in it expire.
        self.retention = logs.LogRetention(
            self,
            "FailureLogRetention",
            log_group_name=self.log_group_name,
            retention=FAILURE_LOG_RETENTION,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.metric_filter = logs.MetricFilter(
            self,
            "Failures",
            log_group=logs.LogGroup.from_log_group_name(self, "FailureLogs", self.log_group_name),
            filter_pattern=logs.FilterPattern.string_value("$.status", "=", "FAILURE"),
            metric_namespace=METRICS_NAMESPACE,
            metric_name=SMS_DELIVERY_FAILURES_METRIC,
            metric_value="1",
        )
        self.metric_filter.node.add_dependency(self.retention)
        self.alarm = alerts.when_sms_delivery_fails(
            "SmsDeliveryFailed",
            self.metric_filter.metric(period=Duration.minutes(5), statistic=cloudwatch.Stats.SUM),
            log_group_name=self.log_group_name,
        )
        self._acknowledge_providers(stack)

    def _acknowledge_log_group_prefix(self, stack: Stack) -> None:
        # cdk-nag names the resource as synthesized: pseudo parameters where the CLI left the
        # environment open, literal values where it knows the target account or region.
        partition, account, region = (
            f"<AWS::{pseudo}>" if Token.is_unresolved(value) else value
            for pseudo, value in (
                ("Partition", stack.partition),
                ("AccountId", stack.account),
                ("Region", stack.region),
            )
        )
        resource = (
            f"arn:{partition}:logs:{region}:{account}:log-group:"
            f"sns/{region}/{account}/DirectPublishToPhoneNumber*"
        )
        Validations.of(self.role).acknowledge(
            Acknowledgment(
                id=f"AwsSolutions::AwsSolutions-IAM5[Resource::{resource}]", reason=DELIVERY_ROLE_REASON
            )
        )

    def _acknowledge_providers(self, stack: Stack) -> None:
        basic_execution_role = (
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaBasicExecutionRole]"
        )
        findings = {
            AWS_CUSTOM_RESOURCE_PROVIDER_ID: (basic_execution_role,),
            LOG_RETENTION_PROVIDER_ID: (basic_execution_role, "AwsSolutions-IAM5[Resource::*]"),
        }
        # CDK offers no MemorySize for LogRetention's singleton (cfn-lint-serverless ES1005): it
        # runs once per deployment, on Lambda's default 128 MB.
        log_retention = stack.node.find_child(LOG_RETENTION_PROVIDER_ID).node.default_child
        assert isinstance(log_retention, CfnResource)
        log_retention.add_metadata("cfn-lint", {"config": {"ignore_checks": ["ES1005"]}})
        for provider_id, provider_findings in findings.items():
            provider = stack.node.find_child(provider_id)
            for finding in provider_findings:
                Validations.of(provider).acknowledge(
                    Acknowledgment(id=f"AwsSolutions::{finding}", reason=PROVIDER_REASON)
                )
