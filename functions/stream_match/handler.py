"""stream_match: Rekognition face-search records from Kinesis in, face events on EventBridge out.

Record format: smartdoor.domain.records. Rules: smartdoor.domain.visits. Storage and
exactly-once publishing: smartdoor.services.visit_matching. Event contract: docs/events.md.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext

from smartdoor.adapters.event_bus import EventBridgeBus
from smartdoor.adapters.visit_store import DynamoVisitStore
from smartdoor.observability import COUNTS_KEY, log_counts, logger
from smartdoor.ports import EventBus, VisitStore
from smartdoor.services.visit_matching import BatchStats, VisitMatcher
from smartdoor.settings import load_settings
from stream_match.consumer import FaceSearchConsumer
from stream_match.settings import StreamMatchSettings

# The log name of each BatchStats counter (the batch's "counts" field; no alarm reads them, so
# they are not CloudWatch metrics: docs/performance.md).
COUNT_NAMES = {
    "records": "Records",
    "malformed_records": "MalformedRecords",
    "failed_records": "FailedRecords",
    "faces": "Faces",
    "faces_skipped": "FacesSkippedByGate",
    "duplicate_frames": "DuplicateFrames",
    "visits_opened": "VisitsOpened",
    "events_emitted": "EventsEmitted",
    "duplicates_suppressed": "DuplicatesSuppressed",
}


def log_stats(stats: BatchStats) -> None:
    """One line per batch that saw a face or a bad record; a batch of empty frames (a stream
    processor sends two a second, faces or not) logs only at DEBUG, to keep ingestion small."""
    counts = {COUNT_NAMES[item.name]: getattr(stats, item.name) for item in fields(stats)}
    if any(value for name, value in counts.items() if name != "Records"):
        log_counts("Batch matched", counts)
    else:
        logger.debug("Batch of empty frames", extra={COUNTS_KEY: counts})


@logger.inject_lambda_context
def handler(
    event: dict[str, Any],
    context: LambdaContext,
    store: VisitStore | None = None,
    bus: EventBus | None = None,
) -> dict[str, Any]:
    settings = load_settings(StreamMatchSettings)
    store = store or DynamoVisitStore(
        settings.visits_table,
        ttl_seconds=settings.visit_record_ttl_seconds,
        lease_seconds=settings.emission_lease_seconds,
    )
    matcher = VisitMatcher(settings.rules(), store, bus or EventBridgeBus(settings.event_bus_name))
    consumer = FaceSearchConsumer(matcher, settings.door_streams(), BatchStats())
    # A whole-batch failure is reported record by record too: Kinesis retries from the first.
    processor = BatchProcessor(event_type=EventType.KinesisDataStreams, raise_on_entire_batch_failure=False)
    try:
        return dict(
            process_partial_response(event=event, record_handler=consumer.handle, processor=processor)
        )
    finally:
        log_stats(consumer.stats)
