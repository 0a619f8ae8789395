"""Alerts and observability: the owner's alerts topic and every alarm that notifies it."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

# KMS allows 90-2560 days between automatic rotations (EnableKeyRotation RotationPeriodInDays).
ALERTS_KEY_ROTATION_DAYS = 2560


class Alerts(Construct):
    """An encrypted, TLS-only SNS topic with the owner's email subscription, and alarm helpers."""

    def __init__(self, scope: Construct, construct_id: str, *, owner_email: str) -> None:
        super().__init__(scope, construct_id)
        # A customer-managed key: an AWS-managed SNS key cannot be opened to CloudWatch, and
        # alarms publish to the topic as cloudwatch.amazonaws.com.
        self.key = kms.Key(
            self,
            "TopicKey",
            description="Smart Door: alerts topic",
            enable_key_rotation=True,
            # The longest period KMS allows: the key only wraps alert messages while SNS holds
            # them for delivery, and each rotation adds $1/month (docs/performance.md).
            rotation_period=Duration.days(ALERTS_KEY_ROTATION_DAYS),
            removal_policy=RemovalPolicy.RETAIN,
        )
        key = self.key
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name="Smart Door",
            master_key=key,
            enforce_ssl=True,
        )
        self.topic.add_subscription(subscriptions.EmailSubscription(owner_email))
        # CloudWatch publishes alarm notifications itself, so the topic's key must let it in.
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToUseTheAlertsTopic",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
            )
        )
        self._action = cloudwatch_actions.SnsAction(self.topic)

    def _alarm(
        self,
        construct_id: str,
        *,
        metric: cloudwatch.IMetric,
        threshold: float,
        description: str,
        evaluation_periods: int = 1,
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            metric=metric,
            threshold=threshold,
            evaluation_periods=evaluation_periods,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(self._action)
        alarm.add_ok_action(self._action)
        return alarm

    def when_queue_has_messages(self, construct_id: str, queue: sqs.IQueue, *, what: str) -> cloudwatch.Alarm:
        """A dead-letter queue with anything in it means something was not delivered."""
        return self._alarm(
            construct_id,
            metric=queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(1), statistic=cloudwatch.Stats.MAXIMUM
            ),
            threshold=1,
            description=f"{what}: a delivery failed and waits in dead-letter queue {queue.queue_name}.",
        )

    def when_function_errors(self, construct_id: str, function: lambda_.IFunction) -> cloudwatch.Alarm:
        return self._alarm(
            construct_id,
            metric=function.metric_errors(period=Duration.minutes(1), statistic=cloudwatch.Stats.SUM),
            threshold=1,
            description=f"Lambda function {function.function_name} reported errors.",
        )

    def when_iterator_age_exceeds(
        self, construct_id: str, function: lambda_.IFunction, *, seconds: int
    ) -> cloudwatch.Alarm:
        """The stream consumer is falling behind: faces at the door are being seen late."""
        return self._alarm(
            construct_id,
            metric=function.metric(
                "IteratorAge", period=Duration.minutes(1), statistic=cloudwatch.Stats.MAXIMUM
            ),
            threshold=seconds * 1000,
            evaluation_periods=3,
            description=f"{function.function_name} is more than {seconds} s behind the face-search stream.",
        )

    def when_executions_fail(self, construct_id: str, state_machine: sfn.StateMachine) -> cloudwatch.Alarm:
        """A visit's workflow ended in failure or timed out: one expression over both metrics.
        ExecutionsAborted is not read: nothing in the system stops an execution, so an abort is a
        person's StopExecution, and each metric an alarm reads is billed."""
        period = Duration.minutes(5)
        return self._sum_alarm(
            construct_id,
            {
                "failed": state_machine.metric_failed(period=period, statistic=cloudwatch.Stats.SUM),
                "timedOut": state_machine.metric_timed_out(period=period, statistic=cloudwatch.Stats.SUM),
            },
            period=period,
            label="Executions failed or timed out",
            threshold=1,
            description=f"A {state_machine.state_machine_name} execution failed or timed out.",
        )

    def _sum_alarm(
        self,
        construct_id: str,
        metrics: Mapping[str, cloudwatch.IMetric],
        *,
        period: Duration,
        label: str,
        threshold: float,
        description: str,
    ) -> cloudwatch.Alarm:
        """One alarm on the sum of several metrics (billed per metric it reads). FILL(m, 0): a
        metric with no datapoint in a period would otherwise make the whole sum missing, and a
        missing sum is not breaching."""
        expression = cloudwatch.MathExpression(
            expression=" + ".join(f"FILL({name}, 0)" for name in metrics),
            using_metrics=dict(metrics),
            period=period,
            label=label,
        )
        return self._alarm(construct_id, metric=expression, threshold=threshold, description=description)

    def when_sms_delivery_fails(
        self, construct_id: str, failures: cloudwatch.IMetric, *, log_group_name: str
    ) -> cloudwatch.Alarm:
        """A text message SNS accepted did not reach the phone (carrier or sandbox): one alarm for
        every SMS the system sends, so an approval link or a code never fails unseen."""
        return self._alarm(
            construct_id,
            metric=failures,
            threshold=1,
            description=(
                "An SMS (approval link or passcode) was not delivered. SNS logs the reason "
                f"(providerResponse) in CloudWatch Logs group {log_group_name}; see docs/sms.md."
            ),
        )
