"""Helpers for infra tests: synthesize the app in-process and read the template."""

from __future__ import annotations

import hashlib
import importlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import App, CfnElement
from aws_cdk.assertions import Template
from constructs import IConstruct

from cdk_app.app import build_app
from cdk_app.layers import ensure_layers
from cdk_app.stack import SmartDoorStack
from smartdoor.settings import FunctionSettings

OWNER_PHONE = "+15550100000"
OWNER_EMAIL = "owner@example.com"
TEST_CONTEXT = {"ownerPhone": OWNER_PHONE, "ownerEmail": OWNER_EMAIL}

# What every function role holds besides its grants: X-Ray (Resource '*') and its own log group.
XRAY = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
LOGS = {"logs:CreateLogStream", "logs:PutLogEvents"}

# One imagined deployment (eu-west-1, account 111122223333) for rendering intrinsics.
API_ID = "a1b2c3d4e5"
DISTRIBUTION_ID = "E2EXAMPLE"
DISTRIBUTION_DOMAIN = "d111111abcdef8.cloudfront.net"


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


def synthesize(outdir: Path, **context: Any) -> Synthesized:
    ensure_layers()
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


def deployment_names(synthesized: Synthesized) -> dict[str, str]:
    """What the pseudo parameters and the API's and the site's tokens stand for in the imagined
    deployment (for `render`)."""
    stack = synthesized.stack
    distribution = synthesized.logical_id(stack.web.distribution)
    return {
        "AWS::Partition": "aws",
        "AWS::Region": "eu-west-1",
        "AWS::AccountId": "111122223333",
        "AWS::URLSuffix": "amazonaws.com",
        synthesized.logical_id(stack.api.rest_api): API_ID,
        synthesized.logical_id(stack.api.stage): "v1",
        distribution: DISTRIBUTION_ID,
        f"{distribution}.DomainName": DISTRIBUTION_DOMAIN,
    }


def settings_models(name: str) -> list[type[FunctionSettings]]:
    """The settings model(s) a function's package defines (not the shared bases it builds on)."""
    module = importlib.import_module(f"{name}.handler")
    return [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, FunctionSettings)
        and value.__module__.startswith(f"{name}.")
    ]


def deployed_value(synthesized: Synthesized, value: Any) -> str:
    """An environment value as a plain string, as CloudFormation would put it there at deploy time:
    a `Ref` as a name, the `Arn` of a Kinesis Video stream as a stream ARN; anything else fails."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return f"name-of-{value['Ref']}"
    if "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        if attribute == "Arn" and synthesized.resources[logical_id]["Type"] == "AWS::KinesisVideo::Stream":
            return f"arn:aws:kinesisvideo:us-east-1:111122223333:stream/{logical_id}/1"
    raise AssertionError(f"unexpected intrinsic {value}")


# The state machines as deployed (the workflow tests and make lint's asl-validator read them).
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


def deployed_state_machines(synthesized: Synthesized) -> list[Deployed]:
    """Every AWS::StepFunctions::StateMachine of the template, with the assets staged beside it."""
    assets = staged_assets(synthesized.outdir, synthesized.stack.artifact_id)
    resources = synthesized.resources.values()
    return [Deployed(r, assets) for r in resources if r["Type"] == "AWS::StepFunctions::StateMachine"]
