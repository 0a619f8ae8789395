"""The definitions the workflow tests run are the ones the stack deploys.

Synthesize the app, take each state machine's DefinitionString and DefinitionSubstitutions,
give every CloudFormation token a stand-in value, apply the substitutions as CloudFormation
would, and compare with `render_definition` on the ASL file with the same values.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from smartdoor_local.workflows import placeholders, render_definition, workflow_path

pytestmark = pytest.mark.infra

WORKFLOWS = ("unknown_visitor", "known_visitor")
_CFN_SUBSTITUTION = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


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


def as_cloudformation_deploys(resource: dict[str, Any]) -> tuple[str, dict[str, str]]:
    properties = resource["Properties"]
    assert "DefinitionString" in properties, "the construct must pass the ASL as DefinitionString"
    substitutions = {
        name: stand_in(value) for name, value in properties.get("DefinitionSubstitutions", {}).items()
    }
    text = definition_text(properties["DefinitionString"])
    deployed = _CFN_SUBSTITUTION.sub(lambda match: substitutions.get(match.group(1), match.group(0)), text)
    return deployed, substitutions


@pytest.fixture(scope="module")
def state_machines(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    from tests.infra.synth import synthesize

    synthesized = synthesize(Path(tmp_path_factory.mktemp("cdk-out-workflows")))
    found = [r for r in synthesized.resources.values() if r["Type"] == "AWS::StepFunctions::StateMachine"]
    if not found:
        pytest.skip("the stack has no state machines yet (the workflows construct is not wired in)")
    return found


@pytest.mark.parametrize("workflow", WORKFLOWS)
def test_rendering_the_file_equals_the_synthesized_definition(
    workflow: str, state_machines: list[dict[str, Any]]
) -> None:
    template = workflow_path(workflow).read_text(encoding="utf-8")
    matches = []
    for resource in state_machines:
        deployed, substitutions = as_cloudformation_deploys(resource)
        if placeholders(template) - set(substitutions):
            continue
        if json.loads(deployed) == json.loads(render_definition(template, substitutions)):
            matches.append(resource)
    assert len(matches) == 1, f"{workflow}: {len(matches)} synthesized state machines match the rendered file"
    deployed, substitutions = as_cloudformation_deploys(matches[0])
    assert "${" not in deployed, "a placeholder has no substitution in the stack"
    assert set(substitutions) == placeholders(template), "the stack passes substitutions the file never uses"
