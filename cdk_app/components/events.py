"""Events: the `smartdoor` bus and the rules that start a workflow for each face event."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from cdk_app.components.alerts import Alerts
from cdk_app.components.queues import dead_letter_queue
from cdk_app.constants import EVENT_BUS_NAME, EVENT_SOURCE

# EventBridge retries a failed StartExecution with backoff; a visitor is at the door now, so an
# event that could not start its workflow within the hour goes to the dead-letter queue.
TARGET_RETRY_ATTEMPTS = 8
TARGET_MAX_EVENT_AGE = Duration.hours(1)


class Events(Construct):
    """The custom bus every Smart Door event travels on (public contract: README, "Events")."""

    def __init__(self, scope: Construct, construct_id: str, *, alerts: Alerts) -> None:
        super().__init__(scope, construct_id)
        self._alerts = alerts
        self.bus = events.EventBus(self, "Bus", event_bus_name=EVENT_BUS_NAME)
        self.rules: dict[str, events.Rule] = {}
        self.dead_letter_queues: dict[str, sqs.Queue] = {}

    def route(
        self, detail_type: str, state_machine: sfn.IStateMachine, *, detail: Mapping[str, Any] | None = None
    ) -> events.Rule:
        """Start `state_machine` for every `smartdoor` event of `detail_type` (and `detail`'s
        pattern, if given; the whole event is the execution input). Deliveries that still fail
        after retries wait in an SQS queue whose first message raises an alarm."""
        dead_letters = dead_letter_queue(self, f"{detail_type}DeadLetters")
        rule = events.Rule(
            self,
            f"{detail_type}Rule",
            event_bus=self.bus,
            description=f"Smart Door: start a workflow for each {detail_type} event",
            event_pattern=events.EventPattern(
                source=[EVENT_SOURCE], detail_type=[detail_type], detail=dict(detail) if detail else None
            ),
            targets=[
                targets.SfnStateMachine(
                    state_machine,
                    dead_letter_queue=dead_letters,
                    retry_attempts=TARGET_RETRY_ATTEMPTS,
                    max_event_age=TARGET_MAX_EVENT_AGE,
                )
            ],
        )
        self._alerts.when_queue_has_messages(
            f"{detail_type}NotDelivered", dead_letters, what=f"Starting the {detail_type} workflow"
        )
        self.rules[detail_type] = rule
        self.dead_letter_queues[detail_type] = dead_letters
        return rule
