"""Events: the `smartdoor` bus and the rules that start a workflow for each face event."""

from __future__ import annotations

from aws_cdk import aws_events as events
from constructs import Construct

from cdk_app.constants import EVENT_BUS_NAME


class Events(Construct):
    """The custom bus every Smart Door event travels on (public contract: README, "Events")."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.bus = events.EventBus(self, "Bus", event_bus_name=EVENT_BUS_NAME)
