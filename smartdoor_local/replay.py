"""`smartdoor replay`: a recorded day of face-search records through the real match function.

Input: one face-search record per line (the decoded JSON a stream processor or a doorbell
session writes, optionally with `doorId`). Blank lines are skipped; anything that is not a JSON
object stops the replay before it starts, naming the line.

The records go, in order, onto the face-search stream of an ephemeral local stack (moto, in
this process, nothing listening), and the real stream_match handler reads them as Lambda would
(batches of 100, `batchItemFailures` honoured). Only the match function runs: no workflow is
started, so the output is exactly what the match function decided: every event put on the bus,
in order, one JSON object per line, `{"detail-type": ..., "detail": {...}}`.

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
    door_streams = {config.video_stream_arn: config.door_id} if config.video_stream_arn else {}
    malformed = []
    for number, record in trace:
        try:
            parse_record(json.dumps(record).encode(), door_streams)
        except MalformedRecord as error:
            malformed.append((number, error.reason))
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
        stack.mapping.pump()
        events = [{"detail-type": e["detail-type"], "detail": e["detail"]} for e in stack.bus.events()]
        return ReplayResult(
            events=events, records=len(records), malformed=malformed, failed=len(stack.match_failures)
        )
