"""What the local stack builds, read from the synthesized template.

`DeploymentModel.from_template(synthesized)` parses the resources the local stack emulates;
`Intrinsics` renders CloudFormation's Ref / Fn::GetAtt / Fn::Join / Fn::Sub / Fn::Select /
Fn::Split against what each logical id stands for locally (`Intrinsics.refs`: `"LogicalId"` ->
its Ref value, `"LogicalId.Attribute"` -> its attribute, plus the pseudo parameters).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from smartdoor_local.emulation.template import Synthesized

HANDLER = re.compile(r"(?P<folder>[a-z_][a-z0-9_]*)\.handler\.handler")
_SUB_VARIABLE = re.compile(r"\$\{([^}!]+)\}")


class UnresolvedIntrinsic(KeyError):
    """An intrinsic names a logical id or attribute the local stack has no value for."""


@dataclass(frozen=True)
class Intrinsics:
    refs: Mapping[str, str]

    def resolve(self, value: Any) -> Any:
        """`value` with every intrinsic rendered (recursively, in lists and objects)."""
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            render = _FUNCTIONS.get(key)
            if render is not None:
                return render(self, argument)
        return {key: self.resolve(item) for key, item in value.items()}

    def text(self, value: Any) -> str:
        return str(self.resolve(value))

    def _lookup(self, name: str) -> str:
        try:
            return self.refs[name]
        except KeyError:
            raise UnresolvedIntrinsic(f"no local value for {name!r}") from None

    def _ref(self, argument: str) -> str:
        return self._lookup(argument)

    def _get_att(self, argument: Any) -> str:
        logical_id, attribute = argument.split(".", 1) if isinstance(argument, str) else argument
        return self._lookup(f"{logical_id}.{self.text(attribute)}")

    def _join(self, argument: list[Any]) -> str:
        separator, parts = argument
        return str(separator).join(self.text(part) for part in self.resolve(parts))

    def _sub(self, argument: Any) -> str:
        template, variables = (argument, {}) if isinstance(argument, str) else argument
        given = {name: self.text(item) for name, item in variables.items()}

        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in given:
                return given[name]
            return self._lookup(name)

        return _SUB_VARIABLE.sub(value, template)

    def _select(self, argument: list[Any]) -> Any:
        index, items = argument
        return self.resolve(items)[int(self.resolve(index))]

    def _split(self, argument: list[Any]) -> list[str]:
        separator, source = argument
        return self.text(source).split(separator)


_FUNCTIONS = {
    "Ref": Intrinsics._ref,
    "Fn::GetAtt": Intrinsics._get_att,
    "Fn::Join": Intrinsics._join,
    "Fn::Sub": Intrinsics._sub,
    "Fn::Select": Intrinsics._select,
    "Fn::Split": Intrinsics._split,
}


def ref_of(value: Any) -> str | None:
    """The logical id a `{"Ref": ...}` or `{"Fn::GetAtt": [...]}` names (None for anything else)."""
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        return str(target.split(".")[0] if isinstance(target, str) else target[0])
    return None


# ---------------------------------------------------------------------------- resources


@dataclass(frozen=True)
class Table:
    logical_id: str
    key_schema: list[dict[str, str]]
    attribute_definitions: list[dict[str, str]]
    global_secondary_indexes: list[dict[str, Any]]
    ttl_attribute: str | None

    def create(self, dynamodb: Any, name: str) -> None:
        """This table on moto (on-demand) under `name`, with its TTL attribute turned on."""
        indexes = [
            {**index, "Projection": index.get("Projection", {"ProjectionType": "ALL"})}
            for index in self.global_secondary_indexes
        ]
        dynamodb.create_table(
            TableName=name,
            KeySchema=self.key_schema,
            AttributeDefinitions=self.attribute_definitions,
            BillingMode="PAY_PER_REQUEST",
            **({"GlobalSecondaryIndexes": indexes} if indexes else {}),
        )
        if self.ttl_attribute:
            dynamodb.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"AttributeName": self.ttl_attribute, "Enabled": True}
            )


@dataclass(frozen=True)
class Function:
    logical_id: str
    handler: str
    # The functions/ folder the handler lives in (None: not a project function, e.g. CDK's own).
    folder: str | None
    environment: dict[str, Any]


@dataclass(frozen=True)
class StateMachine:
    logical_id: str
    workflow: str  # workflows/<workflow>.asl.json ("" for a definition written inline)
    type: str
    definition: Any  # the file's text, or the template's DefinitionString (may hold intrinsics)
    substitutions: dict[str, Any]

    def rendered(self, intrinsics: Intrinsics) -> str:
        from smartdoor_local.workflows import render_definition

        text = self.definition if isinstance(self.definition, str) else intrinsics.text(self.definition)
        values = {name: intrinsics.text(value) for name, value in self.substitutions.items()}
        return render_definition(text, values)


@dataclass(frozen=True)
class Target:
    id: str
    logical_id: str  # the state machine or function it starts
    uses_role: bool


@dataclass(frozen=True)
class Rule:
    logical_id: str
    bus: str | None  # the bus's logical id; None: the account's default bus
    pattern: dict[str, Any]
    targets: list[Target]


@dataclass(frozen=True)
class StreamMapping:
    logical_id: str
    function: str
    stream: str
    batch_size: int
    retry_attempts: int
    bisect_on_error: bool
    on_failure: str | None  # the queue's logical id


@dataclass(frozen=True)
class DeploymentModel:
    """The template's resources by kind: logical id -> its properties (parsed where it matters)."""

    resources: dict[str, dict[str, Any]]
    definitions: dict[str, str] = field(default_factory=dict)
    workflows: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_template(cls, synthesized: Synthesized) -> DeploymentModel:
        return cls(synthesized.resources, synthesized.definitions, synthesized.workflows)

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        """logical id -> Properties of every resource of one type."""
        return {
            logical_id: resource.get("Properties", {})
            for logical_id, resource in self.resources.items()
            if resource["Type"] == resource_type
        }

    def tables(self) -> list[Table]:
        return [
            Table(
                logical_id,
                properties["KeySchema"],
                properties["AttributeDefinitions"],
                properties.get("GlobalSecondaryIndexes", []),
                (properties.get("TimeToLiveSpecification") or {}).get("AttributeName"),
            )
            for logical_id, properties in self.of_type("AWS::DynamoDB::Table").items()
        ]

    def functions(self) -> list[Function]:
        found = []
        for logical_id, properties in self.of_type("AWS::Lambda::Function").items():
            handler = str(properties.get("Handler", ""))
            match = (
                HANDLER.fullmatch(handler)
                if str(properties.get("Runtime", "")).startswith("python")
                else None
            )
            environment = (properties.get("Environment") or {}).get("Variables") or {}
            found.append(Function(logical_id, handler, match and match.group("folder"), dict(environment)))
        return found

    def function(self, folder: str) -> Function:
        """The project function whose handler lives in functions/<folder>."""
        (found,) = (function for function in self.functions() if function.folder == folder)
        return found

    def state_machines(self) -> list[StateMachine]:
        return [
            StateMachine(
                logical_id,
                self.workflows.get(logical_id, ""),
                properties.get("StateMachineType", "STANDARD"),
                self.definitions.get(logical_id, properties.get("DefinitionString")),
                properties.get("DefinitionSubstitutions", {}),
            )
            for logical_id, properties in self.of_type("AWS::StepFunctions::StateMachine").items()
        ]

    def rules(self) -> list[Rule]:
        return [
            Rule(
                logical_id,
                ref_of(properties.get("EventBusName")),
                properties["EventPattern"],
                [
                    Target(str(target["Id"]), str(ref_of(target["Arn"])), "RoleArn" in target)
                    for target in properties.get("Targets", [])
                ],
            )
            for logical_id, properties in self.of_type("AWS::Events::Rule").items()
        ]

    def stream_mappings(self) -> list[StreamMapping]:
        return [
            StreamMapping(
                logical_id,
                str(ref_of(properties["FunctionName"])),
                str(ref_of(properties["EventSourceArn"])),
                int(properties.get("BatchSize", 100)),
                int(properties.get("MaximumRetryAttempts", -1)),
                bool(properties.get("BisectBatchOnFunctionError", False)),
                ref_of(
                    ((properties.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
                ),
            )
            for logical_id, properties in self.of_type("AWS::Lambda::EventSourceMapping").items()
        ]
