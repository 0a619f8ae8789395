"""The process environment a benchmark runs the Lambda code in: offline, and like Lambda's.

Fake credentials and the local region (a real AWS profile is never used), `functions/` on the
import path (as the asset's root is on Lambda), and Powertools' tracer off (the functions
create none: Lambda's active tracing records them; this keeps any Powertools utility that would
trace from looking for an X-Ray daemon).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = REPO_ROOT / "functions"
REGION = "us-east-1"


def offline_environment(service: str = "smartdoor-bench") -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "POWERTOOLS_SERVICE_NAME": service,
        "POWERTOOLS_TRACE_DISABLED": "1",
    }


def enter_offline_process(service: str = "smartdoor-bench") -> None:
    """For a benchmark's own process: call before anything imports boto3 or the Lambda code."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        os.environ.pop(name, None)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.update(offline_environment(service))
    for path in (str(FUNCTIONS_DIR), str(REPO_ROOT)):
        if path not in sys.path:
            sys.path.insert(0, path)


@contextmanager
def quiet() -> Iterator[None]:
    """The functions log JSON lines and metrics to stdout, as on Lambda: format them as usual,
    write them nowhere (the report owns stdout)."""
    from smartdoor.observability import logger

    handler = logger.registered_handler
    with open(os.devnull, "w", encoding="utf-8") as sink:
        previous = handler.setStream(sink) if isinstance(handler, logging.StreamHandler) else None
        try:
            with redirect_stdout(sink):
                yield
        finally:
            if previous is not None:
                handler.setStream(previous)
