"""The hourly SMS budgets on moto's DynamoDB: counted atomically, per visitor and per door."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from smartdoor.adapters.sms_budget_store import DynamoSmsAllowance
from smartdoor.domain.sms_budget import DOOR, VISITOR, SmsBudget, SmsLimits, window_at
from smartdoor.errors import TransientError
from tests.integration.test_passcode_store import TABLE, create_passcodes_table

HOUR = 1_800_000_000 // 3600 * 3600  # a clock hour's start (epoch seconds)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def table(aws: None) -> Any:
    return create_passcodes_table()


def budget(clock: Clock, per_visitor: int = 3, per_door: int = 20) -> SmsBudget:
    return SmsBudget(DynamoSmsAllowance(TABLE), clock, SmsLimits(per_visitor, per_door))


def counters(table: Any) -> dict[str, int]:
    return {
        f"{item['pk']} {item['sk']}": int(item["sent"]) for item in table.scan(ConsistentRead=True)["Items"]
    }


def test_a_visitor_gets_their_budget_then_is_held_until_the_next_clock_hour(table: Any) -> None:
    clock = Clock(HOUR + 10)
    texts = budget(clock)
    assert [texts.take("front-door", "v1") for _ in range(3)] == [None, None, None]
    held = texts.take("front-door", "v1")
    assert held is not None and held.scope.kind == VISITOR and held.scope.limit == 3
    assert held.window == window_at(HOUR + 10) and held.window.end == HOUR + 3600
    # AND another visitor at the same door is not held by v1's budget
    assert texts.take("front-door", "v2") is None
    # WHEN the next clock hour starts, v1 may be texted again
    clock.now = HOUR + 3600
    assert texts.take("front-door", "v1") is None


def test_a_held_text_counts_against_no_budget(table: Any) -> None:
    texts = budget(Clock(HOUR), per_visitor=3, per_door=2)
    assert texts.take("front-door", "v1") is None
    assert texts.take("front-door", "v2") is None
    held = texts.take("front-door", "v3")
    assert held is not None and held.scope.kind == DOOR
    assert counters(table) == {
        f"SMS#door#front-door HOUR#{HOUR}": 2,
        f"SMS#visitor#v1 HOUR#{HOUR}": 1,
        f"SMS#visitor#v2 HOUR#{HOUR}": 1,
    }


def test_the_owners_texts_count_against_the_door_alone(table: Any) -> None:
    texts = budget(Clock(HOUR), per_door=1)
    assert texts.take("front-door") is None
    held = texts.take("front-door")
    assert held is not None and held.scope.kind == DOOR
    assert "this door has caused 1 texts this hour" in held.reason()
    # AND each door has its own budget
    assert texts.take("back-door") is None


def test_counters_expire_an_hour_after_their_window(table: Any) -> None:
    budget(Clock(HOUR + 5)).take("front-door", "v1")
    items = table.scan(ConsistentRead=True)["Items"]
    assert {int(item["expiresAt"]) for item in items} == {HOUR + 2 * 3600}


@pytest.mark.usefixtures("atomic_items")
def test_of_many_texts_at_once_exactly_the_budget_goes(table: Any) -> None:
    # Thirty visits at once (a script at the door): the door's budget of 5 lets exactly 5 through.
    # A transaction that meets a concurrent one is retried, as the workflow's Retry does.
    texts = budget(Clock(HOUR), per_visitor=100, per_door=5)

    def text(number: int) -> bool:
        for _ in range(50):
            try:
                return texts.take("front-door", f"v{number}") is None
            except TransientError:
                continue
        raise AssertionError("never counted")

    with ThreadPoolExecutor(max_workers=10) as pool:
        sent = list(pool.map(text, range(30)))
    assert sent.count(True) == 5
    assert counters(table)[f"SMS#door#front-door HOUR#{HOUR}"] == 5
