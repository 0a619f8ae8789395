"""Helpers for infra tests: synthesize the app in-process and read the template."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import App, CfnElement
from aws_cdk.assertions import Template
from constructs import IConstruct

from cdk_app.app import build_app
from cdk_app.constants import PILLOW_LAYER_BUILD, PILLOW_LAYER_DIR, REPO_ROOT
from cdk_app.stack import SmartDoorStack

OWNER_PHONE = "+15550100000"
OWNER_EMAIL = "owner@example.com"
TEST_CONTEXT = {"ownerPhone": OWNER_PHONE, "ownerEmail": OWNER_EMAIL}


@dataclass(frozen=True)
class Synthesized:
    stack: SmartDoorStack
    outdir: Path
    template_path: Path
    template_json: dict[str, Any]
    template: Template

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return self.template_json["Resources"]

    def logical_id(self, construct: IConstruct) -> str:
        """The template's logical id of a construct (an L2 is resolved to its CloudFormation resource)."""
        element = construct if isinstance(construct, CfnElement) else construct.node.default_child
        assert isinstance(element, CfnElement), f"{construct.node.path} has no CloudFormation resource"
        return str(self.stack.resolve(self.stack.get_logical_id(element)))

    def resource(self, construct: IConstruct) -> dict[str, Any]:
        return self.resources[self.logical_id(construct)]

    def properties(self, construct: IConstruct) -> dict[str, Any]:
        return self.resource(construct).get("Properties", {})

    def validation_report(self) -> dict[str, Any]:
        return json.loads((self.outdir / "validation-report.json").read_text())


def ensure_pillow_layer() -> None:
    """Build extract_frame's Pillow layer if it is not built (the script is a no-op when it is)."""
    if (PILLOW_LAYER_DIR / "python" / "PIL").is_dir():
        return
    subprocess.run(PILLOW_LAYER_BUILD.split(), cwd=REPO_ROOT, check=True, timeout=600)  # noqa: S603


def synthesize(outdir: Path, **context: Any) -> Synthesized:
    ensure_pillow_layer()
    app, stack = build_app(App(outdir=str(outdir), context={**TEST_CONTEXT, **context}))
    app.synth()
    template_path = outdir / f"{stack.artifact_id}.template.json"
    template_json = json.loads(template_path.read_text())
    return Synthesized(
        stack=stack,
        outdir=outdir,
        template_path=template_path,
        template_json=template_json,
        template=Template.from_json(template_json),
    )


def statements_of(synthesized: Synthesized, role: IConstruct) -> list[dict[str, Any]]:
    """Every policy statement attached to a role (inline policies that name it)."""
    role_id = synthesized.logical_id(role)
    statements: list[dict[str, Any]] = []
    for resource in synthesized.resources.values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        if {"Ref": role_id} in resource["Properties"]["Roles"]:
            statements.extend(resource["Properties"]["PolicyDocument"]["Statement"])
    return statements


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def actions_on(statements: list[dict[str, Any]], resource: Any) -> set[str]:
    """The actions the statements allow on one resource (an ARN string or an intrinsic)."""
    allowed: set[str] = set()
    for statement in statements:
        if statement["Effect"] == "Allow" and resource in as_list(statement["Resource"]):
            allowed.update(as_list(statement["Action"]))
    return allowed


def all_actions(statements: list[dict[str, Any]]) -> set[str]:
    return {action for statement in statements for action in as_list(statement["Action"])}


def render(value: Any, names: dict[str, str]) -> str:
    """A string intrinsic as CloudFormation would render it, given what every `Ref` (logical id or
    pseudo parameter) and `Fn::GetAtt` (`LogicalId.Attribute`) stands for; anything else fails."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return names[value["Ref"]]
    if "Fn::GetAtt" in value:
        return names[".".join(value["Fn::GetAtt"])]
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(render(part, names) for part in parts)
    raise AssertionError(f"unexpected intrinsic {value}")
