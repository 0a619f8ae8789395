"""`smartdoor replay`: a recorded day of face-search records through the real match function.

Input: one face-search record per line (the decoded JSON a stream processor or a doorbell
session writes, optionally with `doorId`). Blank lines are skipped; anything that is not a JSON
object stops the replay before it starts, naming the line.

The records go, in order, onto the face-search stream of an ephemeral local stack (moto, in
this process, nothing listening), and the real stream_match handler reads them as Lambda would
(batches of 100, `batchItemFailures` honoured). Only the match function runs: no workflow is
started, so the output is exactly what the match function decided: every event put on the bus,
in order, one JSON object per line, `{"detail-type": ..., "detail": {...}}`.

Why records decided nothing is said too (`ReplayResult.dropped`): the pure rules the match
function applies (smartdoor.domain: parse_record, the quality gate, observe) are run over the
same records in the same order, so each record is counted as malformed, without a face, with
every face below the quality gate (by reason), a duplicate (a frame at or before the last one
counted for its door: the same frame sent twice, or out of order), or counted.

Records without a `doorId` belong to the door's KVS stream: `--stream-arn`, or by default the
stream of the first such record. The match rules default to the deployed defaults
(MatchRules: threshold 90, 2 frames, 120 s visit gap, the quality gate), and each can be
changed, which is how an owner tunes them on a recorded day.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from smartdoor.domain.records import MalformedRecord, parse_record
from smartdoor.domain.visits import VisitState, match_rules, observe, screen
from smartdoor_local.stack import LocalConfig, LocalStack

PUT_RECORDS_LIMIT = 500


class TraceError(ValueError):
    """The trace is not one JSON object per line (the message names the line)."""


@dataclass
class ReplayResult:
    events: list[dict[str, Any]]
    records: int
    malformed: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)
    failed: int = 0  # records the match function kept failing on
    dropped: Dropped = field(default_factory=lambda: Dropped())


@dataclass
class Dropped:
    """The records that counted for no visit, and why (line numbers in the trace)."""

    no_face: list[int] = field(default_factory=list)
    below_gate: list[int] = field(default_factory=list)
    gate_reasons: dict[str, int] = field(default_factory=dict)  # skip reason -> faces
    duplicates: list[int] = field(default_factory=list)

    def summary(self, malformed: int) -> list[str]:
        """One sentence per reason, for a person tuning the rules."""
        lines = []
        if self.duplicates:
            lines.append(
                f"{_records(len(self.duplicates))} dropped as duplicates: a frame at or before the last "
                f"one counted for its door (sent twice, or out of order): {_lines(self.duplicates)}"
            )
        if self.below_gate:
            reasons = ", ".join(f"{count} {reason}" for reason, count in sorted(self.gate_reasons.items()))
            lines.append(
                f"{_records(len(self.below_gate))} dropped by the quality gate, every face below it "
                f"({reasons}): {_lines(self.below_gate)}"
            )
        if self.no_face:
            lines.append(f"{_records(len(self.no_face))} without a face (nobody in the frame)")
        if malformed:
            lines.append(f"{_records(malformed)} malformed, skipped (above)")
        return lines


def _records(count: int) -> str:
    return f"{count} record" + ("" if count == 1 else "s")


def _lines(numbers: list[int], shown: int = 10) -> str:
    text = "line" + ("" if len(numbers) == 1 else "s") + " " + ", ".join(map(str, numbers[:shown]))
    return text + (f" and {len(numbers) - shown} more" if len(numbers) > shown else "")


def read_trace(lines: Iterable[str]) -> list[tuple[int, dict[str, Any]]]:
    """(line number, record) for every non-blank line; TraceError on the first bad line."""
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            raise TraceError(f"line {number} is not JSON (one face-search record per line)") from None
        if not isinstance(record, dict):
            raise TraceError(f"line {number} is not a JSON object (one face-search record per line)")
        records.append((number, record))
    return records


def default_stream_arn(records: Iterable[dict[str, Any]]) -> str | None:
    """The KVS stream of the first record that names no door."""
    for record in records:
        if record.get("doorId"):
            continue
        video = (record.get("InputInformation") or {}).get("KinesisVideo") or {}
        if isinstance(video, dict) and isinstance(video.get("StreamArn"), str):
            return str(video["StreamArn"])
    return None


def replay(trace: list[tuple[int, dict[str, Any]]], config: LocalConfig) -> ReplayResult:
    """Run the records through stream_match on an ephemeral stack; the events it put on the bus."""
    malformed, dropped = explain(trace, config)
    stack = LocalStack(config, with_workflows=False, moto_port=None, poll_stream=False)
    with stack:
        kinesis = stack.client("kinesis")
        records = [record for _, record in trace]
        for start in range(0, len(records), PUT_RECORDS_LIMIT):
            batch = records[start : start + PUT_RECORDS_LIMIT]
            response = kinesis.put_records(
                StreamName=stack.names["face_search_stream"],
                Records=[
                    {
                        "Data": json.dumps(record).encode("utf-8"),
                        "PartitionKey": str(record.get("doorId") or config.door_id),
                    }
                    for record in batch
                ],
            )
            if response.get("FailedRecordCount"):
                raise RuntimeError("the local stream refused records")
        assert stack.mapping is not None, "replay synthesizes faceSource=images: the stream exists"
        stack.mapping.pump()
        events = [{"detail-type": e["detail-type"], "detail": e["detail"]} for e in stack.bus.events()]
        return ReplayResult(
            events=events,
            records=len(records),
            malformed=malformed,
            failed=len(stack.match_failures),
            dropped=dropped,
        )


def explain(
    trace: list[tuple[int, dict[str, Any]]], config: LocalConfig
) -> tuple[list[tuple[int, str]], Dropped]:
    """Which records the match function's rules skip, and why, in trace order."""
    door_streams = {config.video_stream_arn: config.door_id} if config.video_stream_arn else {}
    rules = match_rules(config)
    malformed: list[tuple[int, str]] = []
    dropped = Dropped()
    visits: dict[str, VisitState | None] = {}
    for number, record in trace:
        try:
            frame = parse_record(json.dumps(record).encode(), door_streams)
        except MalformedRecord as error:
            malformed.append((number, error.reason))
            continue
        if not frame.faces:
            dropped.no_face.append(number)
            continue
        screened = screen(frame.faces, rules.gate)
        good, skipped = screened
        if not good:
            dropped.below_gate.append(number)
            for reason, count in skipped.items():
                dropped.gate_reasons[str(reason)] = dropped.gate_reasons.get(str(reason), 0) + count
            continue
        observation = observe(visits.get(frame.door_id), frame, rules, screened)
        if observation.duplicate_frame:
            dropped.duplicates.append(number)
        else:
            visits[frame.door_id] = observation.state
    return malformed, dropped
