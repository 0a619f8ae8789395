"""stream_match: Rekognition face-search records from Kinesis in, face events on EventBridge out.

Record format: smartdoor.domain.records. Rules: smartdoor.domain.visits. Storage and
exactly-once publishing: smartdoor.services.visit_matching. Event contract: docs/events.md.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext

from smartdoor.adapters.event_bus import EventBridgeBus
from smartdoor.adapters.visit_store import DynamoVisitStore
from smartdoor.observability import logger, metrics
from smartdoor.ports import EventBus, VisitStore
from smartdoor.services.visit_matching import BatchStats, VisitMatcher
from smartdoor.settings import load_settings
from stream_match.consumer import FaceSearchConsumer
from stream_match.settings import StreamMatchSettings

# The CloudWatch name of each BatchStats counter (one metric per name, with the service dimension).
METRIC_NAMES = {
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


def publish_stats(stats: BatchStats, metrics: Metrics) -> None:
    for item in fields(stats):
        metrics.add_metric(
            name=METRIC_NAMES[item.name], unit=MetricUnit.Count, value=getattr(stats, item.name)
        )


@logger.inject_lambda_context
@metrics.log_metrics
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
        publish_stats(consumer.stats, metrics)
