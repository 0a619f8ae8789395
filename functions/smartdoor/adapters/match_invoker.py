"""Handing face-search records straight to the match function (faceSource=snapshots).

A snapshots-only home has no Kinesis Data Stream (a provisioned shard alone is $10.95/month):
process_snapshot invokes the match function synchronously (Lambda `Invoke`,
InvocationType=RequestResponse) with the records in the shape of a Kinesis event source batch
(Lambda Developer Guide, "Using Lambda with Kinesis": Records[].kinesis.{data (base64),
partitionKey, sequenceNumber}), so the match function, its rules and its events stay the same.
The match function answers with ReportBatchItemFailures (`batchItemFailures`); any failure, a
function error or a throttle raises `RecordsNotWritten`, a TransientError: the snapshot's
EventBridge retry runs it again (the match function ignores a frame it has already counted).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from smartdoor.adapters.aws import client, transient_errors_as
from smartdoor.adapters.record_writer import MAX_RECORD_BYTES, RecordsNotWritten
from smartdoor.domain.face_search_records import OutgoingRecord
from smartdoor.errors import TransientError

EVENT_SOURCE = "smartdoor:process_snapshot"


def kinesis_shaped_batch(records: Sequence[OutgoingRecord], now: float) -> dict[str, Any]:
    """The records as a Kinesis event source batch; sequence numbers are the upload time in
    nanoseconds plus the position, increasing within a batch as Kinesis' do within a shard."""
    base = int(now * 1_000_000_000)
    entries = []
    for position, record in enumerate(records):
        data = record.encoded()
        if not record.partition_key or len(data) + len(record.partition_key.encode()) > MAX_RECORD_BYTES:
            raise ValueError("a record needs a partition key and must fit the 1 MB record limit")
        sequence_number = str(base + position)
        entries.append(
            {
                "eventSource": EVENT_SOURCE,
                "eventID": f"{EVENT_SOURCE}:{sequence_number}",
                "kinesis": {
                    "data": base64.b64encode(data).decode(),
                    "partitionKey": record.partition_key,
                    "sequenceNumber": sequence_number,
                    "approximateArrivalTimestamp": now,
                    "kinesisSchemaVersion": "1.0",
                },
            }
        )
    return {"Records": entries}


class LambdaMatchWriter:
    """A RecordWriter that invokes the match function instead of writing to a stream."""

    def __init__(
        self,
        function_name: str,
        *,
        lambda_client: Any | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not function_name:
            raise ValueError("the match function's name is required")
        self._function_name = function_name
        self._client_override = lambda_client
        self._clock = clock

    @property
    def _client(self) -> Any:
        return self._client_override or client("lambda")

    def write(self, records: Sequence[OutgoingRecord]) -> list[str]:
        if not records:
            return []
        batch = kinesis_shaped_batch(records, self._clock())
        with transient_errors_as(TransientError):
            response = self._client.invoke(
                FunctionName=self._function_name,
                InvocationType="RequestResponse",
                Payload=json.dumps(batch).encode(),
            )
        payload = response["Payload"].read()
        if response.get("FunctionError"):
            raise RecordsNotWritten(f"the match function failed ({response['FunctionError']})")
        failures = (json.loads(payload or b"{}") or {}).get("batchItemFailures") or []
        if failures:
            raise RecordsNotWritten(f"the match function could not handle {len(failures)} record(s)")
        return [entry["kinesis"]["sequenceNumber"] for entry in batch["Records"]]
