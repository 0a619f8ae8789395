"""Starting and stopping the Rekognition face-search stream processor (faceSource=streamProcessor).

With a stream processor, a doorbell session runs the processor only while the session lasts
instead of all day. Face-search processors take no StartSelector and no StopSelector (the API
reserves both for label-detection processors), so the session stops the processor itself.

- `start`: StartStreamProcessor(Name). A processor that is already RUNNING or STARTING is
  fine (`ALREADY_RUNNING`): a ring during another start needs nothing more. One that is still
  STOPPING (the last session just ended) raises `ProcessorBusy` so the workflow retries.
- `stop`: StopStreamProcessor(Name). A processor that is already STOPPED/STOPPING is fine.
- Throttling and 5xx are `TransientError`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from smartdoor.adapters.aws import client, transient_errors_as
from smartdoor.errors import TransientError
from smartdoor.observability import logger
from smartdoor.ports import (
    StreamProcessor as StreamProcessor,  # the port this adapter implements (re-exported)
)


class ProcessorBusy(TransientError):
    """The processor is changing state (e.g. STOPPING) and cannot be started now; retry shortly."""


class ProcessorOutcome(StrEnum):
    STARTED = "started"
    ALREADY_RUNNING = "already-running"
    STOPPED = "stopped"
    ALREADY_STOPPED = "already-stopped"


def _code(error: Exception) -> str:
    return str((getattr(error, "response", None) or {}).get("Error", {}).get("Code", ""))


class RekognitionStreamProcessor:
    def __init__(self, name: str, rekognition_client: Any | None = None) -> None:
        if not name:
            raise ValueError("a stream processor name is required")
        self._name = name
        self._rekognition = rekognition_client

    @property
    def _client(self) -> Any:
        return self._rekognition or client("rekognition")

    def _status(self) -> str:
        with transient_errors_as(TransientError):
            return str(self._client.describe_stream_processor(Name=self._name).get("Status", ""))

    def start(self) -> ProcessorOutcome:
        try:
            with transient_errors_as(TransientError):
                response = self._client.start_stream_processor(Name=self._name)
        except TransientError:
            raise
        except Exception as error:
            if _code(error) != "ResourceInUseException":
                raise
            status = self._status()
            if status in {"RUNNING", "STARTING"}:
                logger.info("Stream processor already running", extra={"status": status})
                return ProcessorOutcome.ALREADY_RUNNING
            raise ProcessorBusy(f"stream processor is {status or 'busy'}; cannot start it now") from error
        logger.info("Stream processor started", extra={"processor_session": response.get("SessionId")})
        return ProcessorOutcome.STARTED

    def stop(self) -> ProcessorOutcome:
        try:
            with transient_errors_as(TransientError):
                self._client.stop_stream_processor(Name=self._name)
        except TransientError:
            raise
        except Exception as error:
            if _code(error) != "ResourceInUseException":
                raise
            status = self._status()
            if status in {"STOPPED", "STOPPING", "FAILED"}:
                return ProcessorOutcome.ALREADY_STOPPED
            raise ProcessorBusy(f"stream processor is {status or 'busy'}; cannot stop it now") from error
        logger.info("Stream processor stopped")
        return ProcessorOutcome.STOPPED
