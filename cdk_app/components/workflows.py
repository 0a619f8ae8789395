"""Workflows: the unknown- and known-visitor state machines, loaded from workflows/*.asl.json.

The ASL files name resources with `${Placeholder}`s (docs/internals.md, "Workflows"). This
construct passes exactly the placeholders a file uses as DefinitionSubstitutions, and derives
the state machine's role from the file: it may invoke only the functions the file names,
make only the DynamoDB calls its service integrations make on the tables they name, and
publish only to the topic and bus it names.

`workflow_substitutions` is the one place that maps placeholder names to resources; workflow
tests render the files with the same names (smartdoor_local.workflows.render_definition).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import Acknowledgment, RemovalPolicy, Stack, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from cdk_app.constants import (
    ASK_OWNER,
    CHECK_COLLECTION,
    CREATE_APPROVAL,
    ENROL_FACE,
    EXTRACT_FRAME,
    ISSUE_PASSCODE,
    SAVE_VISITOR,
    WORKFLOWS_DIR,
)

PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")

# `${<Name>FunctionArn}` -> the task function (folder name) it stands for.
FUNCTION_PLACEHOLDERS: Mapping[str, str] = {
    "ExtractFrameFunctionArn": EXTRACT_FRAME,
    "CheckCollectionFunctionArn": CHECK_COLLECTION,
    "CreateApprovalFunctionArn": CREATE_APPROVAL,
    "AskOwnerFunctionArn": ASK_OWNER,
    "EnrolFaceFunctionArn": ENROL_FACE,
    "SaveVisitorFunctionArn": SAVE_VISITOR,
    "IssuePasscodeFunctionArn": ISSUE_PASSCODE,
}
TABLE_PLACEHOLDERS = ("VisitsTableName", "VisitorsTableName", "ApprovalsTableName")
TOPIC_PLACEHOLDER = "AlertsTopicArn"
BUS_PLACEHOLDER = "EventBusName"
DYNAMODB_TASK = re.compile(r"^arn:[a-z-]+:states:::dynamodb:([A-Za-z]+)$")

# As the functions' logs (cdk_app/components/functions.py).
STATE_MACHINE_LOG_RETENTION = logs.RetentionDays.TWO_WEEKS


class UnknownPlaceholder(ValueError):
    """An ASL file names a `${Placeholder}` this construct has no resource for."""


def workflow_file(name: str) -> Path:
    return WORKFLOWS_DIR / f"{name}.asl.json"


def placeholders_in(path: Path) -> set[str]:
    return set(PLACEHOLDER.findall(path.read_text(encoding="utf-8")))


def _task_states(node: Any) -> Iterator[dict[str, Any]]:
    """Every Task state, including those inside Parallel branches and Map iterators."""
    if isinstance(node, dict):
        if node.get("Type") == "Task":
            yield node
        for value in node.values():
            yield from _task_states(value)
    elif isinstance(node, list):
        for value in node:
            yield from _task_states(value)


def dynamodb_calls(path: Path, tables: tuple[str, ...] = TABLE_PLACEHOLDERS) -> dict[str, set[str]]:
    """The DynamoDB actions each table placeholder (one of `tables`) is used with by the file's
    service integrations, e.g. {"VisitsTableName": {"dynamodb:PutItem", "dynamodb:UpdateItem"}}."""
    calls: dict[str, set[str]] = {}
    for state in _task_states(json.loads(path.read_text(encoding="utf-8"))):
        integration = DYNAMODB_TASK.match(str(state.get("Resource", "")))
        if not integration:
            continue
        arguments = state.get("Parameters") or state.get("Arguments") or {}
        table = PLACEHOLDER.fullmatch(str(arguments.get("TableName", "")))
        if not table or table.group(1) not in tables:
            raise UnknownPlaceholder(
                f"{path.name}: a dynamodb:{integration.group(1)} task must name its table as one of "
                f"{', '.join('${' + name + '}' for name in tables)}"
            )
        action = integration.group(1)
        calls.setdefault(table.group(1), set()).add(f"dynamodb:{action[0].upper()}{action[1:]}")
    return calls


@dataclass(frozen=True)
class WorkflowResources:
    """Everything a workflow may name."""

    visits_table: dynamodb.ITable
    visitors_table: dynamodb.ITable
    approvals_table: dynamodb.ITable
    alerts_topic: sns.ITopic
    alerts_key: kms.IKey
    bus: events.IEventBus
    functions: Mapping[str, lambda_.IFunction]  # by folder name

    def tables(self) -> dict[str, dynamodb.ITable]:
        return {
            "VisitsTableName": self.visits_table,
            "VisitorsTableName": self.visitors_table,
            "ApprovalsTableName": self.approvals_table,
        }

    def function_for(self, placeholder: str) -> lambda_.IFunction:
        return self.functions[FUNCTION_PLACEHOLDERS[placeholder]]


def workflow_substitutions(resources: WorkflowResources) -> dict[str, str]:
    """Every substitution a workflow file may use: placeholder name -> resource name or ARN."""
    substitutions = {name: table.table_name for name, table in resources.tables().items()}
    substitutions[TOPIC_PLACEHOLDER] = resources.alerts_topic.topic_arn
    substitutions[BUS_PLACEHOLDER] = resources.bus.event_bus_name
    for placeholder in FUNCTION_PLACEHOLDERS:
        substitutions[placeholder] = resources.function_for(placeholder).function_arn
    return substitutions


def used_placeholders(path: Path, available: Mapping[str, str]) -> set[str]:
    """The placeholders the file uses; every one must be among `available`."""
    used = placeholders_in(path)
    unknown = used - set(available)
    if unknown:
        raise UnknownPlaceholder(f"{path.name} uses {', '.join(sorted(unknown))}; known: {sorted(available)}")
    return used


@dataclass(frozen=True)
class LoggedStateMachine:
    log_group: logs.LogGroup
    state_machine: sfn.StateMachine
    substitutions: dict[str, str]  # the placeholders the definition uses, with their values


def logged_state_machine(
    scope: Construct,
    *,
    name: str,
    available: Mapping[str, str],
    state_machine_type: sfn.StateMachineType,
    include_execution_data: bool,
    log_group_id: str,
    state_machine_id: str,
) -> LoggedStateMachine:
    """A traced state machine from workflows/<name>.asl.json, logging every event (level ALL) to
    its own log group; whether the logs carry execution data is the caller's decision. The
    definition is given the placeholders it uses from `available` (each must be there)."""
    path = workflow_file(name)
    used = used_placeholders(path, available)
    substitutions = {placeholder: available[placeholder] for placeholder in sorted(used)}
    log_group = logs.LogGroup(
        scope,
        log_group_id,
        # The vendedlogs prefix keeps CloudWatch's log resource policy small.
        log_group_name=f"/aws/vendedlogs/states/{Stack.of(scope).stack_name}-{name}",
        retention=STATE_MACHINE_LOG_RETENTION,
        removal_policy=RemovalPolicy.DESTROY,
    )
    state_machine = sfn.StateMachine(
        scope,
        state_machine_id,
        definition_body=sfn.DefinitionBody.from_file(str(path)),
        definition_substitutions=substitutions,
        state_machine_type=state_machine_type,
        tracing_enabled=True,
        logs=sfn.LogOptions(
            destination=log_group,
            level=sfn.LogLevel.ALL,
            include_execution_data=include_execution_data,
        ),
    )
    return LoggedStateMachine(log_group, state_machine, substitutions)


def acknowledge_state_machine_role(role: iam.IRole) -> None:
    """The wildcard statements Step Functions adds for tracing and log delivery (cdk-nag IAM5)."""
    Validations.of(role).acknowledge(
        Acknowledgment(
            id="AwsSolutions::AwsSolutions-IAM5[Resource::*]",
            reason=(
                "Step Functions' X-Ray tracing (xray:PutTraceSegments and friends) and its log "
                "delivery (logs:CreateLogDelivery and friends) support no resource-level permissions."
            ),
        )
    )


class Workflow(Construct):
    """One Standard state machine from an ASL file, logged (ALL) and traced, with a role
    derived from the placeholders the file uses."""

    def __init__(
        self, scope: Construct, construct_id: str, *, name: str, resources: WorkflowResources
    ) -> None:
        super().__init__(scope, construct_id)
        self.name = name
        built = logged_state_machine(
            self,
            name=name,
            available=workflow_substitutions(resources),
            state_machine_type=sfn.StateMachineType.STANDARD,
            # Execution data holds approval ids (bearer capabilities) and task tokens: the
            # logs record the flow, the execution history (access-controlled) the data.
            include_execution_data=False,
            log_group_id="Logs",
            state_machine_id="StateMachine",
        )
        self.log_group = built.log_group
        self.state_machine = built.state_machine
        self.substitutions = built.substitutions
        self._grant(set(built.substitutions), dynamodb_calls(workflow_file(name)), resources)

    def _grant(self, used: set[str], table_calls: dict[str, set[str]], resources: WorkflowResources) -> None:
        role = self.state_machine.role
        functions = sorted(p for p in used if p in FUNCTION_PLACEHOLDERS)
        if functions:
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="InvokeTaskFunctions",
                    actions=["lambda:InvokeFunction"],
                    resources=[resources.function_for(p).function_arn for p in functions],
                )
            )
        # Exactly the DynamoDB calls the file's service integrations make, table by table.
        for placeholder, table in resources.tables().items():
            if placeholder in table_calls:
                role.add_to_principal_policy(
                    iam.PolicyStatement(
                        sid=f"{placeholder.removesuffix('TableName')}Table",
                        actions=sorted(table_calls[placeholder]),
                        resources=[table.table_arn],
                    )
                )
        if TOPIC_PLACEHOLDER in used:
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="NotifyTheOwner",
                    actions=["sns:Publish"],
                    resources=[resources.alerts_topic.topic_arn],
                )
            )
            resources.alerts_key.grant(role, "kms:GenerateDataKey", "kms:Decrypt")
        if BUS_PLACEHOLDER in used:
            resources.bus.grant_put_events_to(role)
        acknowledge_state_machine_role(role)
