"""Doorbell session task (faceSource=streamProcessor): start or stop the face-search stream processor.

Input `{action: "start" | "stop"}`; output `{processor: "started" | "already-running" |
"stopped" | "already-stopped"}`. Errors: `ProcessorBusy` (the processor is changing state) and
`TransientError`, both retried by the workflow.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.utilities.typing import LambdaContext

from smartdoor.adapters.stream_processor import RekognitionStreamProcessor, StreamProcessor
from smartdoor.observability import log_counts, logger
from smartdoor.schema import Meta, Model, field
from smartdoor.settings import FunctionSettings, load_settings


class StreamProcessorSettings(FunctionSettings):
    # Set only with faceSource=streamProcessor; the session workflow never calls this function otherwise.
    stream_processor_name: Annotated[str, Meta(min_length=1, max_length=128)] | None = field(
        default=None, name="STREAM_PROCESSOR_NAME"
    )


class NoStreamProcessor(ValueError):
    """This deployment has no stream processor (faceSource=images)."""


class ProcessorRequest(Model):
    action: Literal["start", "stop"]


@logger.inject_lambda_context(clear_state=True)
def handler(
    event: dict[str, Any], context: LambdaContext, processor: StreamProcessor | None = None
) -> dict[str, Any]:
    settings = load_settings(StreamProcessorSettings)
    request = ProcessorRequest.parse(event)
    if processor is None:
        if not settings.stream_processor_name:
            raise NoStreamProcessor("this deployment has no stream processor (faceSource=images)")
        processor = RekognitionStreamProcessor(settings.stream_processor_name)
    outcome = processor.start() if request.action == "start" else processor.stop()
    log_counts(
        "Stream processor",
        {f"StreamProcessor{request.action.title()}": 1},
        action=request.action,
        outcome=outcome.value,
    )
    return {"processor": outcome.value}
