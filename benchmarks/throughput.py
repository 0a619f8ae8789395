"""2. Match Lambda throughput: records a second through the real handler, on one core.

The handler (`stream_match.handler.handler`, Powertools decorators, BatchProcessor, parsing,
the quality gate, visit rules, the batch's logged counts) runs on Kinesis events built
beforehand from synthetic days, with the in-memory adapters (`InMemoryVisitStore`,
`RecordingEventBus`): the pure path. Then the same with the Visits table on moto's DynamoDB
(in-process), to show what storage costs per record. The process is pinned to one CPU and
single-threaded; CPU time (`time.process_time`) is what the target is judged on, wall time is
printed beside it (this machine is shared, so wall time includes other processes' turns).
Logs are formatted as on Lambda and written nowhere.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks.lambda_env import enter_offline_process
from benchmarks.report import Figure, Section, at_least, median, write_timed

TARGET_RECORDS_PER_SECOND = 20_000
BATCH_SIZES = (1, 100, 1000, 10_000)
# records per measurement (in-memory) and repetitions (median taken)
IN_MEMORY_RECORDS = {1: 3_000, 100: 20_000, 1000: 20_000, 10_000: 20_000}
REPEATS = 3
# moto's DynamoDB is ~100x slower per record: fewer records, one run, and no 10,000 batch
MOTO_RECORDS = {1: 300, 100: 1_000, 1000: 2_000}


def _pin_to_one_cpu() -> int | None:
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def _records(count: int) -> list[dict[str, Any]]:
    from benchmarks.synthetic_day import DAY_START, synthetic_day

    records: list[dict[str, Any]] = []
    day = 0
    while len(records) < count:
        records += synthetic_day(seed=1000 + day, day_start=DAY_START + day * 86_400).records
        day += 1
    return records[:count]


def _events(records: list[dict[str, Any]], batch: int) -> list[dict[str, Any]]:
    from tests.fixtures.face_search import kinesis_event

    return [
        kinesis_event(records[i : i + batch], first_sequence=i + 1) for i in range(0, len(records), batch)
    ]


def _run(events: list[dict[str, Any]], store: Any, bus: Any) -> tuple[float, float, int]:
    """(CPU seconds, wall seconds, records) for every event through the handler."""
    from benchmarks.lambda_env import quiet
    from stream_match.handler import handler
    from tests.fixtures.face_search import LambdaContext

    context = LambdaContext()
    records = 0
    with quiet():
        wall, cpu = time.perf_counter(), time.process_time()
        for event in events:
            response = handler(event, context, store=store, bus=bus)
            if response["batchItemFailures"]:
                raise RuntimeError("the match function failed records during the benchmark")
            records += len(event["Records"])
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu, wall, records


def _deployment(stream_arn: str) -> tuple[Any, Any]:
    """The local stack's template (its reader: smartdoor_local.emulation) and its visits table,
    so the benchmark's match function has exactly the deployed environment and keys."""
    from smartdoor_local.emulation.deploy import Deployer
    from smartdoor_local.emulation.resources import local_deployment
    from smartdoor_local.stack import ACCOUNT, REGION, LocalConfig

    model, refs = local_deployment(LocalConfig().context(), REGION, ACCOUNT, video_stream_arn=stream_arn)
    deployer = Deployer(model, refs)
    visits_name = deployer.names()["visits"]
    (visits,) = (table for table in model.tables() if refs.refs[table.logical_id] == visits_name)
    return deployer, visits


def run() -> Section:
    from tests.fixtures.face_search import STREAM_ARN

    enter_offline_process("stream_match")
    deployer, visits = _deployment(STREAM_ARN)
    os.environ.update(deployer.environment(deployer.model.function("stream_match")))
    cpu_id = _pin_to_one_cpu()
    from smartdoor.adapters.event_bus import RecordingEventBus
    from smartdoor.adapters.visit_store import DynamoVisitStore, InMemoryVisitStore

    section = Section("2", "Match Lambda throughput (one core)")
    records = _records(max(IN_MEMORY_RECORDS.values()))
    _run(_events(records[:200], 100), InMemoryVisitStore(), RecordingEventBus())  # warm-up: imports, caches

    pure: dict[int, dict[str, float]] = {}
    for batch in BATCH_SIZES:
        events = _events(records[: IN_MEMORY_RECORDS[batch]], batch)
        runs = [_run(events, InMemoryVisitStore(), RecordingEventBus()) for _ in range(REPEATS)]
        count = runs[0][2]
        pure[batch] = {
            "cpu_rps": median(count / cpu for cpu, _, _ in runs),
            "wall_rps": median(count / wall for _, wall, _ in runs),
            "records": count,
        }

    on_moto: dict[int, dict[str, float]] = {}
    from moto import mock_aws

    with mock_aws():
        import boto3

        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        for batch, count in MOTO_RECORDS.items():
            table = f"bench-visits-{uuid.uuid4().hex[:8]}"  # a fresh table: no visit carried over
            visits.create(dynamodb, table)
            cpu, wall, done = _run(
                _events(records[:count], batch), DynamoVisitStore(table), RecordingEventBus()
            )
            on_moto[batch] = {"cpu_rps": done / cpu, "wall_rps": done / wall, "records": done}

    target = f">= {TARGET_RECORDS_PER_SECOND:,} rec/s (CPU)"
    for batch in BATCH_SIZES:
        result = pure[batch]
        met = at_least(result["cpu_rps"], TARGET_RECORDS_PER_SECOND)
        why = ""
        if not met:
            why = (
                "per-invocation cost (Powertools decorators, the counts log line, BatchProcessor set-up, "
                "settings) is spread over too few records; Lambda batches up to 100 under load"
            )
        section.add(
            Figure(
                "2",
                f"pure path, batch {batch:,}",
                result["cpu_rps"],
                f"{result['cpu_rps']:,.0f} rec/s CPU ({result['wall_rps']:,.0f} wall)",
                target,
                met,
                why,
            )
        )
    for batch, result in on_moto.items():
        ratio = pure[batch]["cpu_rps"] / result["cpu_rps"]
        section.add(
            Figure(
                "2",
                f"moto DynamoDB, batch {batch:,}",
                result["cpu_rps"],
                f"{result['cpu_rps']:,.0f} rec/s CPU; pure path is {ratio:,.0f}x faster",
            )
        )
    section.details += [
        f"Records: synthetic days (seeds 1000+), Rekognition's format, base64 in Kinesis events built "
        f"beforehand. In-memory: {REPEATS} runs per batch size, median; records per run "
        f"{', '.join(f'{b:,}: {n:,}' for b, n in IN_MEMORY_RECORDS.items())}. Pinned to CPU {cpu_id}.",
        "moto: the Visits table on moto's in-process DynamoDB (every frame with a good face reads and "
        "writes the door's visit), one run per batch size "
        f"({', '.join(f'{b:,}: {n:,} records' for b, n in MOTO_RECORDS.items())}); batch 10,000 is left out "
        "(about 30 s more, and storage cost per record does not depend on the batch). Real DynamoDB adds a "
        "network round trip (single-digit ms) per call on top of this.",
    ]
    section.data = {"pure": pure, "moto": on_moto, "cpu": cpu_id}
    return section


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    write_timed(args.out, run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
