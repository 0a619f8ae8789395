"""1. Notifications per visit: a synthetic day through the real match Lambda on moto.

The day's records go onto the local stack's face-search stream (moto Kinesis). The real
stream_match handler reads them as the deployed event source mapping does (batches of 100),
keeps visits in the Visits table (moto DynamoDB) and puts events on the bus (moto
EventBridge); the bus's rules start the real state machines, whose task Lambdas text the owner
(SNS on moto, captured by the outbox). Owner notifications are the SMS that reached the owner's
number; events are what the match function put on the bus. Rekognition and KVS are the
instant doubles of `benchmarks.world`.

Beside it, on the same stream through its own mapping, the naive consumer of the original
designs (`benchmarks.naive`): one event per record with a face.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.lambda_env import enter_offline_process, quiet
from benchmarks.report import Figure, Section, write_timed
from benchmarks.synthetic_day import (
    DEFAULT_SEED,
    KNOWN_VISITORS,
    DayMix,
    SyntheticDay,
    VisitKind,
    synthetic_day,
)

PUT_RECORDS_LIMIT = 500
WAIT_SECONDS = 120.0
OWNER_DECISION = "Wait for owner's decision"


def _put(stack: Any, records: list[dict[str, Any]], door_id: str) -> None:
    kinesis = stack.client("kinesis")
    for start in range(0, len(records), PUT_RECORDS_LIMIT):
        response = kinesis.put_records(
            StreamName=stack.names["face_search_stream"],
            Records=[
                {"Data": json.dumps(record).encode("utf-8"), "PartitionKey": door_id}
                for record in records[start : start + PUT_RECORDS_LIMIT]
            ],
        )
        if response.get("FailedRecordCount"):
            raise RuntimeError("the local stream refused records")


def _wait_for_workflows(stack: Any) -> Counter[str]:
    """Every execution the rules started: known ones until they end, unknown ones until the
    owner has been asked (they then wait for a decision nobody makes here)."""
    from smartdoor_local.workflows import ExecutionEndedEarly, wait_for_event, wait_for_execution

    sfn = stack.client("stepfunctions")
    outcomes: Counter[str] = Counter()
    for machine, execution in list(stack.bus.started):
        if machine == stack.state_machines["unknown_visitor"]:
            try:
                wait_for_event(
                    sfn, execution, "TaskSubmitted", after_state=OWNER_DECISION, timeout=WAIT_SECONDS
                )
                outcomes["unknown: owner asked"] += 1
            except ExecutionEndedEarly:
                outcomes["unknown: ended before asking"] += 1
        else:
            outcomes[f"known: {wait_for_execution(sfn, execution, timeout=WAIT_SECONDS)['status']}"] += 1
    return outcomes


def _by_kind(day: SyntheticDay, frame_times: list[float]) -> Counter[VisitKind | None]:
    counts: Counter[VisitKind | None] = Counter()
    for frame_time in frame_times:
        visit = day.visit_at(frame_time)
        counts[visit.kind if visit else None] += 1
    return counts


def run(seed: int = DEFAULT_SEED) -> Section:
    enter_offline_process("stream_match")
    from benchmarks.naive import NaiveConsumer
    from benchmarks.world import OWNER_PHONE, bench_config, seed_visitors, swap_overrides
    from smartdoor_local.lambda_runtime import LocalFunction
    from smartdoor_local.stack import REGION, LocalStack
    from smartdoor_local.stream_mapping import StreamMapping
    from tests.fakes import FakeFaceEngine, FakeVideoFrames
    from tests.fixtures.face_search import STREAM_ARN

    mix = DayMix()
    day = synthetic_day(seed, mix)
    records = day.records
    config = bench_config(video_stream_arn=STREAM_ARN)
    naive = NaiveConsumer(threshold=config.face_match_threshold)
    stack = LocalStack(config, moto_port=None, poll_stream=False)
    with quiet(), stack:
        swap_overrides(stack, FakeFaceEngine(), FakeVideoFrames())
        seed_visitors(stack, list(KNOWN_VISITORS))
        stack.runtime.register(LocalFunction(name="naive_match", handler=naive.handler))
        naive_mapping = StreamMapping(
            runtime=stack.runtime,
            function_name="naive_match",
            kinesis=stack.client("kinesis"),
            stream_name=stack.names["face_search_stream"],
            region=REGION,
        )
        _put(stack, records, config.door_id)
        started = time.perf_counter()
        delivered = stack.mapping.pump()
        match_seconds = time.perf_counter() - started
        naive_mapping.pump()
        workflows = _wait_for_workflows(stack)
        unknown_events = [e["detail"] for e in stack.bus.events("UnknownFaceDetected")]
        known_events = [e["detail"] for e in stack.bus.events("KnownFaceDetected")]
        messages = stack.outbox.messages()
        failures = len(stack.match_failures)
        invocations = stack.mapping.invocations

    owner_sms = [m for m in messages if m.channel == "sms" and m.to == OWNER_PHONE]
    owner_emails = [m for m in messages if m.channel == "email"]
    visitor_sms = [m for m in messages if m.channel == "sms" and m.to != OWNER_PHONE]
    unknown_visits = len(day.of_kind(VisitKind.UNKNOWN))
    known_visits = len(day.of_kind(VisitKind.KNOWN))
    nobody = sum(len(day.of_kind(kind)) for kind in (VisitKind.TINY, VisitKind.BLURRY, VisitKind.EMPTY))

    smart_unknown = _by_kind(day, [float(d["frame"]["frameTime"]) for d in unknown_events])
    smart_known = _by_kind(day, [float(d["frame"]["frameTime"]) for d in known_events])
    naive_unknown = _by_kind(day, [d["frame"] for d in naive.events("UnknownFaceDetected")])
    naive_known = _by_kind(day, [d["frame"] for d in naive.events("KnownFaceDetected")])
    right_visitor = sum(
        1
        for d in known_events
        if (v := day.visit_at(float(d["frame"]["frameTime"]))) and v.visitor_id == d["visitorId"]
    )

    smart_owner = len(owner_sms) / unknown_visits
    naive_owner = sum(naive_unknown.values()) / unknown_visits
    smart_known_rate = len(known_events) / known_visits
    naive_known_rate = naive_known[VisitKind.KNOWN] / known_visits
    false_alarms = sum(smart_unknown[k] for k in (VisitKind.TINY, VisitKind.BLURRY, VisitKind.EMPTY, None))
    naive_false = sum(naive_unknown[k] for k in (VisitKind.TINY, VisitKind.BLURRY, VisitKind.EMPTY, None))

    section = Section("1", "Notifications per visit (synthetic day, real match Lambda and workflows on moto)")
    exact = abs(smart_owner - 1.0) < 1e-9
    section.add(
        Figure("1", "synthetic day", None, f"seed {seed}; {len(records):,} records; {mix.describe()}"),
        Figure(
            "1",
            "owner notifications per unknown visit (smart)",
            smart_owner,
            f"{smart_owner:.2f} ({len(owner_sms)} owner SMS / {unknown_visits} unknown visits)",
            "exactly 1.00",
            exact,
            "" if exact else "see the per-visit attribution in RESULTS.md",
        ),
        Figure(
            "1",
            "events per known visit (smart)",
            smart_known_rate,
            f"{smart_known_rate:.2f} ({len(known_events)} KnownFaceDetected / {known_visits} known visits; "
            f"{right_visitor} name the right visitor)",
        ),
        Figure(
            "1",
            "owner notifications per unknown visit (naive)",
            naive_owner,
            f"{naive_owner:.2f} ({sum(naive_unknown.values())} owner texts / {unknown_visits} unknown "
            f"visits; {naive_false} of them in visits with nobody to recognise)",
        ),
        Figure(
            "1",
            "events per known visit (naive)",
            naive_known_rate,
            f"{naive_known_rate:.2f}",
        ),
        Figure(
            "1",
            "naive / smart, owner notifications",
            naive_owner / smart_owner if smart_owner else None,
            f"{naive_owner / smart_owner:.1f}x more texts to the owner" if smart_owner else "smart sent none",
        ),
        Figure(
            "1",
            "false alarms (owner texted for a visit with no unknown face)",
            float(false_alarms),
            f"smart {false_alarms}, naive {naive_false} (over {nobody} tiny/blurry/empty visits)",
        ),
    )
    section.details += [
        f"Seed {seed}. Mix: {mix.describe()}. Known visitors: {', '.join(KNOWN_VISITORS)}.",
        f"Match rules: the deployed defaults (threshold {config.face_match_threshold:g}, "
        f"{config.min_frames_for_decision} frames, {config.visit_gap_seconds:g} s visit gap, quality gate "
        f"confidence {config.min_face_confidence:g}, size {config.min_face_size_ratio:g}, sharpness "
        f"{config.min_face_sharpness:g}, brightness {config.min_face_brightness:g}).",
        f"stream_match: {delivered:,} records in {invocations} invocations (batches of 100) in "
        f"{match_seconds:.1f} s wall on moto, {failures} records failed. Workflows: "
        + ", ".join(f"{count} {outcome}" for outcome, count in sorted(workflows.items()))
        + f". Owner emails {len(owner_emails)}, visitor SMS (passcodes) {len(visitor_sms)}.",
        "UnknownFaceDetected by visit kind: smart "
        + ", ".join(f"{k or 'outside visits'} {v}" for k, v in sorted(smart_unknown.items(), key=str))
        + "; naive "
        + ", ".join(f"{k or 'outside visits'} {v}" for k, v in sorted(naive_unknown.items(), key=str))
        + ".",
        "KnownFaceDetected by visit kind: smart "
        + ", ".join(f"{k or 'outside visits'} {v}" for k, v in sorted(smart_known.items(), key=str))
        + "; naive "
        + ", ".join(f"{k or 'outside visits'} {v}" for k, v in sorted(naive_known.items(), key=str))
        + ".",
    ]
    section.data = {
        "seed": seed,
        "smart": {
            "owner_per_unknown_visit": smart_owner,
            "events_per_known_visit": smart_known_rate,
            "false_alarms_per_nobody_visit": false_alarms / nobody if nobody else 0.0,
        },
        "naive": {
            "owner_per_unknown_visit": naive_owner,
            "events_per_known_visit": naive_known_rate,
            "false_alarms_per_nobody_visit": naive_false / nobody if nobody else 0.0,
        },
        "records": len(records),
    }
    return section


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    write_timed(args.out, lambda: run(args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
