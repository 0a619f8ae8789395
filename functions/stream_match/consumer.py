"""The per-record handler of the Kinesis batch: decode, parse, match, count."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord

from smartdoor.domain.records import MalformedRecord, parse_record
from smartdoor.errors import SmartDoorError
from smartdoor.observability import logger
from smartdoor.services.visit_matching import BatchStats, VisitMatcher


class EarlierRecordFailed(SmartDoorError):
    """An earlier record of the same door failed in this batch.

    Kinesis retries a shard from its first failed record, and frames at or before a visit's
    last counted frame are treated as duplicates, so a later frame of that door must not be
    counted before the failed one: it fails too and both come back in order.
    """


def _decode_base64(data: str) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedRecord("not-base64") from None


class FaceSearchConsumer:
    """The per-record handler for the Kinesis batch: decode, parse, match.

    Malformed records are logged (reason and sequence number only, never the payload),
    counted and skipped: they return normally, so they never fail the batch. Anything else
    raises, and the batch processor reports the record as a failure for Kinesis to retry.
    """

    def __init__(self, matcher: VisitMatcher, door_streams: Mapping[str, str], stats: BatchStats) -> None:
        self._matcher = matcher
        self._door_streams = door_streams
        self.stats = stats
        self._failed_doors: set[str] = set()

    def handle(self, record: KinesisStreamRecord) -> None:
        self.stats.records += 1
        sequence_number = record.kinesis.sequence_number
        try:
            payload = _decode_base64(record.kinesis.data)
            frame = parse_record(payload, self._door_streams)
        except MalformedRecord as error:
            self.stats.malformed_records += 1
            logger.warning(
                "Skipped a malformed face-search record",
                extra={"reason": error.reason, "problem": error.detail, "sequence_number": sequence_number},
            )
            return
        try:
            if frame.door_id in self._failed_doors:
                raise EarlierRecordFailed(f"an earlier record of door {frame.door_id} failed in this batch")
            self._matcher.process(frame, self.stats)
        except Exception as error:
            self._failed_doors.add(frame.door_id)
            self.stats.failed_records += 1
            logger.warning(
                "Record failed; Kinesis will retry it",
                extra={
                    "error_type": type(error).__name__,
                    "door_id": frame.door_id,
                    "sequence_number": sequence_number,
                },
            )
            raise
