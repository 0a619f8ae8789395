"""The definitions the workflow tests run are the ones the stack deploys.

Synthesize the app, take each state machine's definition (DefinitionString, or the S3 asset
that DefinitionBody.from_file stages, found through the assets manifest) and its
DefinitionSubstitutions, give every CloudFormation token a stand-in value, apply the
substitutions as Step Functions does, and compare with `render_definition` on the ASL file
with the same values.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from smartdoor_local.workflows import placeholders, render_definition, workflow_path

pytestmark = pytest.mark.infra

# The doorbell session (Express, cdk_app/components/doorbell.py) is run by tests/workflows too.
WORKFLOWS = ("unknown_visitor", "known_visitor", "doorbell_session")
_SUBSTITUTION = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def stand_in(value: Any) -> str:
    """A literal for a CloudFormation value: itself if a string, else a stable name for the token."""
    if isinstance(value, str):
        return value
    return "token-" + hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:12]


def definition_text(definition_string: Any) -> str:
    if isinstance(definition_string, str):
        return definition_string
    if isinstance(definition_string, dict) and "Fn::Join" in definition_string:
        separator, parts = definition_string["Fn::Join"]
        return str(separator).join(stand_in(part) for part in parts)
    raise AssertionError(f"unexpected DefinitionString: {definition_string!r}")


@dataclass(frozen=True)
class Deployed:
    """A synthesized AWS::StepFunctions::StateMachine and the assets staged beside the template."""

    resource: dict[str, Any]
    assets: dict[str, Path]  # S3 object key -> staged file

    def definition(self) -> str:
        properties = self.resource["Properties"]
        if "DefinitionString" in properties:
            return definition_text(properties["DefinitionString"])
        return self.assets[properties["DefinitionS3Location"]["Key"]].read_text(encoding="utf-8")

    def substitutions(self) -> dict[str, str]:
        given = self.resource["Properties"].get("DefinitionSubstitutions", {})
        return {name: stand_in(value) for name, value in given.items()}

    def as_deployed(self) -> str:
        """The definition with the substitutions applied (unknown names left as they are)."""
        values = self.substitutions()
        return _SUBSTITUTION.sub(lambda match: values.get(match.group(1), match.group(0)), self.definition())


def staged_assets(outdir: Path, artifact_id: str) -> dict[str, Path]:
    manifest = json.loads((outdir / f"{artifact_id}.assets.json").read_text())
    staged = {}
    for asset in manifest.get("files", {}).values():
        for destination in asset["destinations"].values():
            staged[destination["objectKey"]] = outdir / asset["source"]["path"]
    return staged


@pytest.fixture(scope="module")
def state_machines(tmp_path_factory: pytest.TempPathFactory) -> list[Deployed]:
    from tests.infra.synth import synthesize

    synthesized = synthesize(Path(tmp_path_factory.mktemp("cdk-out-workflows")))
    assets = staged_assets(synthesized.outdir, synthesized.stack.artifact_id)
    resources = synthesized.resources.values()
    return [Deployed(r, assets) for r in resources if r["Type"] == "AWS::StepFunctions::StateMachine"]


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
    from cdk_app.components.workflows import FUNCTION_PLACEHOLDERS as STACK_FUNCTIONS
    from tests.workflows.conftest import FUNCTION_PLACEHOLDERS as TEST_FUNCTIONS

    assert dict(STACK_FUNCTIONS) == TEST_FUNCTIONS
    assert len(state_machines) == len(WORKFLOWS)
