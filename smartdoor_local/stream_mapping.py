"""A Kinesis event source mapping for the local stack: the face-search stream feeds stream_match.

On AWS, Lambda polls the stream and invokes the match function with batches of records
(cdk_app: batch size 100, report batch item failures, 3 retries, then the on-failure queue).
moto stores the stream but polls nothing, so `StreamMapping` does it: it reads every shard from
the start, invokes the function registered in the `LambdaRuntime` with the event Lambda would
send, and honours `batchItemFailures`: the batch is retried from the first failed record; after
`retry_attempts` retries, the failed records are handed to `on_failure` (the local stack sends
them to its failures queue and says so on the console) and the mapping moves on.

`pump()` processes everything available now, synchronously (replay, tests); `start()` polls in a
background thread until `stop()`.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from smartdoor_local.lambda_runtime import LambdaRuntime

DEFAULT_BATCH_SIZE = 100
DEFAULT_RETRY_ATTEMPTS = 3
POLL_SECONDS = 0.1
RETRY_BACKOFF_SECONDS = 0.2

FailureHandler = Callable[[list[dict[str, Any]], str], None]
"""(the failed Kinesis records, why) after the retries are spent."""


@dataclass
class _Shard:
    shard_id: str
    iterator: str | None
    failures: int = 0


@dataclass
class StreamMapping:
    runtime: LambdaRuntime
    function_name: str
    kinesis: Any  # a boto3 Kinesis client
    stream_name: str
    region: str = "us-east-1"
    batch_size: int = DEFAULT_BATCH_SIZE
    retry_attempts: int = DEFAULT_RETRY_ATTEMPTS
    on_failure: FailureHandler | None = None
    invocations: int = 0
    _shards: dict[str, _Shard] = field(default_factory=dict)
    _stream_arn: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> StreamMapping:
        self._discover()
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="smartdoor-stream-mapping", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                processed = self.pump()
            except Exception:  # keep polling, as Lambda's poller would; the error is on the console
                from smartdoor.observability import logger

                logger.exception("Stream mapping failed to poll")
                processed = 0
            if not processed:
                self._stopping.wait(POLL_SECONDS)

    # ------------------------------------------------------------------ polling

    def _discover(self) -> None:
        description = self.kinesis.describe_stream(StreamName=self.stream_name)["StreamDescription"]
        self._stream_arn = description["StreamARN"]
        for shard in description["Shards"]:
            if shard["ShardId"] not in self._shards:
                iterator = self.kinesis.get_shard_iterator(
                    StreamName=self.stream_name, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
                self._shards[shard["ShardId"]] = _Shard(shard["ShardId"], iterator)

    def pump(self) -> int:
        """Deliver every record available now; returns how many records were delivered."""
        with self._lock:
            if not self._shards:
                self._discover()
            delivered = 0
            for shard in self._shards.values():
                while shard.iterator is not None and not self._stopping.is_set():
                    response = self.kinesis.get_records(ShardIterator=shard.iterator, Limit=self.batch_size)
                    records = response["Records"]
                    if not records:
                        shard.iterator = response.get("NextShardIterator")
                        break
                    failed_from = self._deliver(records, shard.shard_id)
                    if failed_from is None:
                        shard.failures = 0
                        shard.iterator = response.get("NextShardIterator")
                        delivered += len(records)
                        continue
                    delivered += failed_from
                    shard.failures += 1
                    failed = records[failed_from:]
                    if shard.failures > self.retry_attempts:
                        if self.on_failure is not None:
                            self.on_failure(
                                [self._kinesis_record(r, shard.shard_id) for r in failed], "retries exhausted"
                            )
                        shard.failures = 0
                        shard.iterator = response.get("NextShardIterator")
                        continue
                    # Retry from the first failed record, after a pause (Lambda backs off too).
                    time.sleep(RETRY_BACKOFF_SECONDS * shard.failures)
                    shard.iterator = self.kinesis.get_shard_iterator(
                        StreamName=self.stream_name,
                        ShardId=shard.shard_id,
                        ShardIteratorType="AT_SEQUENCE_NUMBER",
                        StartingSequenceNumber=failed[0]["SequenceNumber"],
                    )["ShardIterator"]
            return delivered

    def _deliver(self, records: list[dict[str, Any]], shard_id: str) -> int | None:
        """Invoke the function; None if every record succeeded, else the index of the first failure."""
        event = {"Records": [self._kinesis_record(record, shard_id) for record in records]}
        self.invocations += 1
        result, failed = self.runtime.invoke(self.function_name, event)
        if failed:
            return 0
        failures = {item.get("itemIdentifier") for item in (result or {}).get("batchItemFailures", [])}
        if not failures:
            return None
        for index, record in enumerate(records):
            if record["SequenceNumber"] in failures:
                return index
        return 0  # an identifier that names no record: Lambda retries the whole batch

    def _kinesis_record(self, record: dict[str, Any], shard_id: str) -> dict[str, Any]:
        """A record as Lambda's Kinesis event carries it."""
        arrival = record.get("ApproximateArrivalTimestamp")
        return {
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": record["PartitionKey"],
                "sequenceNumber": record["SequenceNumber"],
                "data": base64.b64encode(record["Data"]).decode("ascii"),
                "approximateArrivalTimestamp": arrival.timestamp() if arrival is not None else time.time(),
            },
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": f"{shard_id}:{record['SequenceNumber']}",
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": "arn:aws:iam::123456789012:role/smartdoor-local",
            "awsRegion": self.region,
            "eventSourceARN": self._stream_arn,
        }
