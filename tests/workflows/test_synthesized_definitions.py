"""The definitions the workflow tests run are the ones the stack deploys.

Synthesize the app, take each state machine's definition (DefinitionString, or the S3 asset
that DefinitionBody.from_file stages, found through the assets manifest) and its
DefinitionSubstitutions, give every CloudFormation token a stand-in value, apply the
substitutions as Step Functions does, and compare with `render_definition` on the ASL file
with the same values.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smartdoor_local.workflows import placeholders, render_definition, workflow_path
from tests.infra.synth import Deployed

pytestmark = pytest.mark.infra

# The doorbell session (Express, cdk_app/components/doorbell.py) is run by tests/workflows too.
WORKFLOWS = ("unknown_visitor", "known_visitor", "doorbell_session")


@pytest.fixture(scope="module")
def state_machines(tmp_path_factory: pytest.TempPathFactory) -> list[Deployed]:
    from tests.infra.synth import deployed_state_machines, synthesize

    return deployed_state_machines(synthesize(Path(tmp_path_factory.mktemp("cdk-out-workflows"))))


@pytest.mark.parametrize("workflow", WORKFLOWS)
def test_rendering_the_file_equals_the_synthesized_definition(
    workflow: str, state_machines: list[Deployed]
) -> None:
    template = workflow_path(workflow).read_text(encoding="utf-8")
    matches = [
        deployed
        for deployed in state_machines
        if not placeholders(template) - set(deployed.substitutions())
        and json.loads(deployed.as_deployed())
        == json.loads(render_definition(template, deployed.substitutions()))
    ]
    assert len(matches) == 1, f"{workflow}: {len(matches)} synthesized state machines match the rendered file"
    (deployed,) = matches
    assert "${" not in deployed.as_deployed(), "a placeholder has no substitution in the stack"
    assert set(deployed.substitutions()) == placeholders(template), (
        "the stack substitutes names the file never uses"
    )


def test_the_workflow_tests_substitute_the_same_names_as_the_stack(state_machines: list[Deployed]) -> None:
    # The workflow world renders each definition from the template the local stack reads.
    from cdk_app.components.workflows import FUNCTION_PLACEHOLDERS as STACK_FUNCTIONS
    from tests.workflows.conftest import world_deployer

    world = {m.workflow: set(m.substitutions) for m in world_deployer().model.state_machines()}
    assert set(world) == set(WORKFLOWS)
    for workflow, names in world.items():
        assert names == placeholders(workflow_path(workflow).read_text(encoding="utf-8")), workflow
    assert set(STACK_FUNCTIONS) <= set.union(*world.values())
    assert len(state_machines) == len(WORKFLOWS)
