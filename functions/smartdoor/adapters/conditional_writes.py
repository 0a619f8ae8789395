"""Conditional DynamoDB writes, made the same way by every store that needs one.

- `conditional_write(operation, **params)`: one PutItem/UpdateItem/DeleteItem with a
  ConditionExpression; True if it was applied, False if its condition failed.
- `put_versioned(table, item, expected_version, conflict)`: optimistic locking on a `version`
  attribute. The put succeeds only over the version that was read (None: only if no item exists
  yet); otherwise `conflict()` is raised, chained to DynamoDB's error.

Throttling and 5xx surface as `TransientError`; any other error is unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from smartdoor.adapters.aws import transient_errors_as
from smartdoor.errors import TransientError

CONDITION_FAILED = "ConditionalCheckFailedException"


def is_condition_failure(error: Exception) -> bool:
    response = getattr(error, "response", None)
    return isinstance(response, dict) and response.get("Error", {}).get("Code") == CONDITION_FAILED


def conditional_write(operation: Callable[..., Any], **params: Any) -> bool:
    """Call `operation(**params)`; False (nothing written) when its condition does not hold."""
    try:
        with transient_errors_as(TransientError):
            operation(**params)
    except Exception as error:
        if is_condition_failure(error):
            return False
        raise
    return True


def version_condition(expected_version: int | None) -> dict[str, Any]:
    """The put's condition: no item yet (`expected_version` None) or still at `expected_version`."""
    if expected_version is None:
        return {"ConditionExpression": "attribute_not_exists(pk)"}
    return {
        "ConditionExpression": "#v = :expected",
        "ExpressionAttributeNames": {"#v": "version"},
        "ExpressionAttributeValues": {":expected": expected_version},
    }


def put_versioned(
    table: Any, item: dict[str, Any], expected_version: int | None, conflict: Callable[[], Exception]
) -> None:
    """Put `item` if the stored version is still `expected_version`; raise `conflict()` if not."""
    try:
        with transient_errors_as(TransientError):
            table.put_item(Item=item, **version_condition(expected_version))
    except Exception as error:
        if is_condition_failure(error):
            raise conflict() from error
        raise
