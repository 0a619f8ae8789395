"""Step Functions task-token callbacks (SendTaskSuccess / SendTaskFailure).

The token is a server-side secret of the workflow: it is passed to Step Functions and nowhere
else (never logged, never returned).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from smartdoor.adapters.aws import client, transient_errors_as
from smartdoor.domain.approvals import TaskTokenRejected
from smartdoor.errors import TransientError

# Step Functions' answers meaning "nothing waits for this token any more".
_DEAD_TOKEN_CODES = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"})
# SendTaskFailure limits: error 256 characters, cause 32768.
_MAX_ERROR = 256
_MAX_CAUSE = 32768


class StepFunctionsTaskTokens:
    """TaskTokens on the Step Functions API."""

    def __init__(self, sfn_client: Any | None = None) -> None:
        self._sfn = sfn_client

    @property
    def _client(self) -> Any:
        return self._sfn or client("stepfunctions")

    def send_success(self, task_token: str, output: Mapping[str, Any]) -> None:
        self._call("send_task_success", taskToken=task_token, output=json.dumps(dict(output)))

    def send_failure(self, task_token: str, error: str, cause: str) -> None:
        self._call(
            "send_task_failure", taskToken=task_token, error=error[:_MAX_ERROR], cause=cause[:_MAX_CAUSE]
        )

    def _call(self, operation: str, **request: Any) -> None:
        try:
            with transient_errors_as(TransientError):
                getattr(self._client, operation)(**request)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in _DEAD_TOKEN_CODES:
                raise TaskTokenRejected(f"Step Functions rejected the task token ({code})") from None
            raise
