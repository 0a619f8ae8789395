"""IoT topic rule target: the door's device reported its lock's state (`smartdoor/<doorId>/state`).

Input: the report itself, `{doorId, state: unlocked|locked, commandId|null, at}` (the rule's
`SELECT *`). A report naming one of this door's commands sets that command's state in the
lock-states table; a report without a command (on connect, the last will) or for an unknown
command changes nothing. Output `{recorded: bool}`. A malformed report raises `ValidationError`
(the rule's error action logs it).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Protocol

from aws_lambda_powertools.utilities.typing import LambdaContext

from smartdoor.adapters.lock_store import DynamoLockStates
from smartdoor.domain.lock import StateReport, iso_z
from smartdoor.observability import logger
from smartdoor.schema import Meta, field
from smartdoor.settings import FunctionSettings, load_settings


class LockStateSettings(FunctionSettings):
    door_id: Annotated[str, Meta(pattern="^[a-z0-9][a-z0-9-]{0,31}$")] = field(name="DOOR_ID")
    lock_states_table: Annotated[str, Meta(min_length=1)] = field(name="LOCK_STATES_TABLE")


class LockReports(Protocol):
    def record_report(self, *, command_id: str, door_id: str, state: str, at: str) -> bool: ...


@logger.inject_lambda_context(clear_state=True)
def handler(
    event: dict[str, Any],
    context: LambdaContext,
    states: LockReports | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    report = StateReport.parse(event)
    settings = load_settings(LockStateSettings)
    if report.command_id is None or report.door_id != settings.door_id:
        logger.info(
            "Lock state without a command of this door",
            extra={"door_id": report.door_id, "state": report.state},
        )
        return {"recorded": False}
    at = iso_z((report.at or now or datetime.now(UTC)).astimezone(UTC))
    store = states or DynamoLockStates(settings.lock_states_table)
    recorded = store.record_report(
        command_id=report.command_id, door_id=report.door_id, state=report.state, at=at
    )
    logger.info(
        "Lock state reported",
        extra={"command_id": report.command_id, "state": report.state, "recorded": recorded},
    )
    return {"recorded": recorded}
