"""Every ErrorEquals name in the workflows is one AWS really raises for that Task's integration.

The names live in one table, docs/internals.md "Error names the workflows match". This test
checks the ASL against the table, and the table against its sources: the States Language's
`States.*` names, the Step Functions page on Lambda service exceptions, the exception classes
the functions raise, and botocore's service models (the error codes of the exact API each
optimized integration calls) plus AWS's common errors.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from smartdoor_local.workflows import workflow_path

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = ("unknown_visitor", "known_visitor", "doorbell_session", "open_lock_iot", "open_lock_webhook")
TABLE_HEADING = "### Error names the workflows match (as AWS raises them)"

# https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html
STATES_ERRORS = {
    "States.ALL",
    "States.BranchFailed",
    "States.DataLimitExceeded",
    "States.ExceedToleratedFailureThreshold",
    "States.HeartbeatTimeout",
    "States.Http.Socket",
    "States.IntrinsicFailure",
    "States.ItemReaderFailed",
    "States.NoChoiceMatched",
    "States.ParameterPathFailure",
    "States.Permissions",
    "States.QueryEvaluationError",
    "States.ResultPathMatchFailure",
    "States.ResultWriterFailed",
    "States.Runtime",
    "States.TaskFailed",
    "States.Timeout",
}
# The HTTP Task's errors (call-https-apis.html, "HTTP Task errors"): States.Http.StatusCode.<code>
# for an answer outside 2xx, States.Http.Socket for no connection.
HTTP_STATUS_ERROR = re.compile(r"^States\.Http\.StatusCode\.[1-5][0-9][0-9]$")
# https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html
LAMBDA_SERVICE_ERRORS = {
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.Unknown",
}
# https://docs.aws.amazon.com/awsconsolehelpdocs/latest/gsg/common-errors.html (the 5xx and
# throttling ones a retry could be for).
COMMON_ERRORS = {"InternalFailure", "ServiceUnavailable", "ThrottlingException"}
# Named by a source other than a model: connect-eventbridge.html (a non-zero FailedEntryCount);
# the Step Functions developer guide's "Invoke Synchronous Express Workflows" sample project
# retries DynamoDB.AmazonDynamoDBException (a failure that is not a DynamoDB error response).
DOCUMENTED_EXTRAS = {"EventBridge.FailedEntry", "DynamoDB.AmazonDynamoDBException"}
# Optimized integration -> (error prefix, botocore service, does the name get an Exception suffix)
OPTIMIZED = {
    "dynamodb": ("DynamoDB", "dynamodb", False),
    "sns": ("SNS", "sns", True),
    "events": ("EventBridge", "events", False),
    "sqs": ("SQS", "sqs", False),
}
_RESOURCE = re.compile(r"^arn:aws:states:::(?P<service>[a-z]+):(?P<action>[A-Za-z]+)(\.\w+)?$")


def definition(workflow: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(workflow_path(workflow).read_text(encoding="utf-8"))
    return loaded


def tasks(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in states.items():
        if state["Type"] == "Task":
            yield name, state
        for branch in state.get("Branches", []):
            yield from tasks(branch["States"])
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                yield from tasks(state[key]["States"])


def integration(resource: str) -> tuple[str, str]:
    match = _RESOURCE.match(resource)
    assert match, f"not an optimized integration: {resource}"
    return match["service"], match["action"]


def matched_names(state: dict[str, Any]) -> set[str]:
    return {name for rule in state.get("Retry", []) + state.get("Catch", []) for name in rule["ErrorEquals"]}


def used_by_integration() -> dict[str, set[str]]:
    """service ("lambda", "dynamodb", ...) -> every name its Tasks match, over all workflows."""
    used: dict[str, set[str]] = {}
    for workflow in WORKFLOWS:
        for _, state in tasks(definition(workflow)["States"]):
            service, _ = integration(state["Resource"])
            used.setdefault(service, set()).update(matched_names(state))
    return used


def actions_called() -> dict[str, set[str]]:
    """service -> the API actions its Tasks call (putItem, publish, ...)."""
    called: dict[str, set[str]] = {}
    for workflow in WORKFLOWS:
        for _, state in tasks(definition(workflow)["States"]):
            service, action = integration(state["Resource"])
            called.setdefault(service, set()).add(action)
    return called


def documented_table(text: str | None = None) -> dict[str, set[str]]:
    """The table in docs/internals.md: "any state" / service -> the names it lists."""
    text = text if text is not None else (REPO / "docs" / "internals.md").read_text(encoding="utf-8")
    lines = text.split(TABLE_HEADING, 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    rows = lines[start + 2 : end]
    table: dict[str, set[str]] = {}
    for row in rows:
        first, names, _source = (cell.strip() for cell in row.strip("|").split("|", 2))
        service = re.match(r"`([a-z]+):", first)
        key = service[1] if service else first
        table.setdefault(key, set()).update(re.findall(r"`([^`]+)`", names))
    return table


def function_exception_classes() -> set[str]:
    """Class names in functions/ that derive (through any chain) from a built-in exception."""
    bases: dict[str, set[str]] = {}
    for path in (REPO / "functions").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                names = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
                bases.setdefault(node.name, set()).update(names)

    def is_exception(name: str, seen: frozenset[str] = frozenset()) -> bool:
        builtin = (__builtins__ if isinstance(__builtins__, dict) else vars(__builtins__)).get(name)
        if isinstance(builtin, type) and issubclass(builtin, BaseException):
            return True
        return name not in seen and any(is_exception(b, seen | {name}) for b in bases.get(name, ()))

    return {name for name in bases if is_exception(name)}


def model_error_codes(service: str, actions: set[str]) -> set[str]:
    model = botocore.session.get_session().get_service_model(service)
    by_lower = {name.lower(): name for name in model.operation_names}
    codes: set[str] = set()
    for action in actions:
        operation = model.operation_model(by_lower[action.lower()])
        codes |= {shape.metadata.get("error", {}).get("code", shape.name) for shape in operation.error_shapes}
    return codes


def derivable(prefix: str, codes: set[str], suffix: bool) -> set[str]:
    return {
        f"{prefix}.{code}{'Exception' if suffix and not code.endswith('Exception') else ''}" for code in codes
    }


# ---------------------------------------------------------------- the ASL against the table


@pytest.mark.parametrize("workflow", WORKFLOWS)
def test_every_error_name_is_in_the_table_for_its_integration(workflow: str) -> None:
    table = documented_table()
    for name, state in tasks(definition(workflow)["States"]):
        service, _ = integration(state["Resource"])
        allowed = table["any state"] | table.get(service, set())
        unknown = matched_names(state) - allowed
        assert not unknown, f"{workflow}: {name!r} ({service}) matches names AWS does not raise: {unknown}"


def test_the_table_lists_exactly_the_names_the_workflows_use() -> None:
    table = documented_table()
    used = used_by_integration()
    used_anywhere = set().union(*used.values())
    assert table["any state"] == {n for n in used_anywhere if n.startswith("States.")}
    for service, names in used.items():
        assert table[service] == {n for n in names if not n.startswith("States.")}, service


# ---------------------------------------------------------------- the table against its sources


def test_the_states_names_are_the_languages_own() -> None:
    named = documented_table()["any state"]
    assert {n for n in named if not HTTP_STATUS_ERROR.match(n)} <= STATES_ERRORS


def test_lambda_names_are_documented_service_errors_or_classes_the_functions_raise() -> None:
    lambda_names = documented_table()["lambda"]
    invoke_errors = derivable("Lambda", model_error_codes("lambda", {"invoke"}), suffix=False)
    service_names = {n for n in lambda_names if n.startswith("Lambda.")}
    assert service_names <= LAMBDA_SERVICE_ERRORS | invoke_errors
    raised = function_exception_classes()
    assert lambda_names - service_names <= raised, (
        f"not an exception class in functions/: {lambda_names - service_names - raised}"
    )


@pytest.mark.parametrize("service", sorted(OPTIMIZED))
def test_optimized_integration_names_follow_the_apis_error_codes(service: str) -> None:
    prefix, botocore_service, suffix = OPTIMIZED[service]
    documented = documented_table()[service]
    codes = model_error_codes(botocore_service, actions_called()[service]) | COMMON_ERRORS
    allowed = derivable(prefix, codes, suffix) | DOCUMENTED_EXTRAS
    assert documented <= allowed, f"{service}: no source for {documented - allowed}"


# ---------------------------------------------------------------- the checks can fail


def test_a_name_the_emulation_invented_is_refused() -> None:
    # GIVEN the names the workflows used before issue 10 (they followed moto's)
    codes = model_error_codes("sns", {"publish"}) | COMMON_ERRORS
    allowed = derivable("SNS", codes, suffix=True) | DOCUMENTED_EXTRAS
    # THEN they have no source, while the real throttling name has one
    assert "SNS.AmazonSNSException" not in allowed
    assert "SNS.SdkClientException" not in allowed
    assert "SNS.InternalErrorException" in allowed  # code "InternalError" + Exception
    assert "SNS.InternalError" not in allowed
    # ThrottledException (code "Throttled") is an error of other SNS actions, not of Publish
    assert "SNS.ThrottledException" not in allowed
    table = documented_table(
        f"{TABLE_HEADING}\n\nintro\n\n| integration | names used | source |\n|---|---|---|\n"
        "| any state | `States.ALL` | x |\n| `sns:publish` | `SNS.InternalErrorException` | y |\n\nafter\n"
    )
    assert table == {"any state": {"States.ALL"}, "sns": {"SNS.InternalErrorException"}}
