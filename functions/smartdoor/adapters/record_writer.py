"""Writing face-search records to the Kinesis data stream the match function reads.

PutRecords can succeed as a call and still refuse some entries (`FailedRecordCount` > 0, each
refused entry with an ErrorCode such as ProvisionedThroughputExceededException or
InternalFailure). `KinesisRecordWriter.write` sends the refused entries again, in their order,
with backoff; whatever is still refused after the last attempt raises `RecordsNotWritten` (a
TransientError: the caller's retry writes them again, and the match function ignores a frame
it has already counted). The partition key is the door id, so one door's records stay in
order on one shard.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from smartdoor.adapters.aws import client, transient_errors_as
from smartdoor.domain.face_search_records import OutgoingRecord
from smartdoor.errors import TransientError
from smartdoor.observability import logger
from smartdoor.ports import RecordWriter as RecordWriter  # the port this adapter implements (re-exported)

MAX_RECORDS_PER_CALL = 500  # PutRecords limit
MAX_RECORD_BYTES = 1024 * 1024  # data + partition key


class RecordsNotWritten(TransientError):
    """Kinesis kept refusing some records after retries; nothing about them was lost silently."""


class KinesisRecordWriter:
    def __init__(
        self,
        stream_name: str,
        *,
        kinesis_client: Any | None = None,
        max_attempts: int = 4,
        backoff_seconds: float = 0.1,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not stream_name:
            raise ValueError("a Kinesis stream name is required")
        self._stream_name = stream_name
        self._client_override = kinesis_client
        self._max_attempts = max(1, max_attempts)
        self._backoff = backoff_seconds
        self._sleep = sleep

    @property
    def _client(self) -> Any:
        return self._client_override or client("kinesis")

    def write(self, records: Sequence[OutgoingRecord]) -> list[str]:
        entries = []
        for record in records:
            data = record.encoded()
            if not record.partition_key or len(data) + len(record.partition_key.encode()) > MAX_RECORD_BYTES:
                raise ValueError("a record needs a partition key and must fit Kinesis' 1 MB limit")
            entries.append({"Data": data, "PartitionKey": record.partition_key})
        sequence_numbers: list[str] = [""] * len(entries)
        for start in range(0, len(entries), MAX_RECORDS_PER_CALL):
            positions = list(range(start, min(start + MAX_RECORDS_PER_CALL, len(entries))))
            self._write_chunk(entries, positions, sequence_numbers)
        return sequence_numbers

    def _write_chunk(
        self, entries: list[dict[str, Any]], pending: list[int], sequence_numbers: list[str]
    ) -> None:
        codes: list[str] = []
        for attempt in range(1, self._max_attempts + 1):
            with transient_errors_as(TransientError):
                response = self._client.put_records(
                    StreamName=self._stream_name, Records=[entries[i] for i in pending]
                )
            refused: list[int] = []
            codes = []
            results = response.get("Records", [])
            for position, result in zip(pending, results, strict=False):
                if result.get("SequenceNumber") and not result.get("ErrorCode"):
                    sequence_numbers[position] = result["SequenceNumber"]
                else:
                    refused.append(position)
                    codes.append(str(result.get("ErrorCode", "missing")))
            refused.extend(pending[len(results) :])  # entries without a result count as refused
            if not refused:
                return
            logger.warning(
                "Kinesis refused face-search records",
                extra={"attempt": attempt, "refused": len(refused), "error_codes": sorted(set(codes))},
            )
            pending = refused
            if attempt < self._max_attempts:
                self._sleep(self._backoff * 2 ** (attempt - 1))
        raise RecordsNotWritten(
            f"Kinesis refused {len(pending)} record(s) after {self._max_attempts} attempts "
            f"({', '.join(sorted(set(codes))) or 'no error code'})"
        )
