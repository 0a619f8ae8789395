"""stream_match: Rekognition face-search records from Kinesis in, face events on EventBridge out.

Record format: smartdoor.domain.records. Rules: smartdoor.domain.visits. Storage and
exactly-once publishing: stream_match.service. Event contract: docs/events.md.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext

from smartdoor.adapters.event_bus import EventBridgeBus, EventBus
from smartdoor.adapters.visit_store import DynamoVisitStore, VisitStore
from smartdoor.observability import logger, metrics
from smartdoor.settings import load_settings
from stream_match.consumer import FaceSearchConsumer
from stream_match.service import BatchStats, VisitMatcher
from stream_match.settings import StreamMatchSettings


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
        consumer.stats.publish(metrics)
