"""Events: the custom `smartdoor` bus."""

from __future__ import annotations

import pytest

from tests.infra.synth import Synthesized

pytestmark = pytest.mark.infra


def test_the_custom_bus_is_named_smartdoor(synthesized: Synthesized) -> None:
    synthesized.template.resource_count_is("AWS::Events::EventBus", 1)
    assert synthesized.properties(synthesized.stack.events.bus)["Name"] == "smartdoor"
