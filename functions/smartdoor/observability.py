"""The logger, created once for every function, and counts as log fields.

Handlers and adapters import these; domain modules do not log through AWS-specific tooling
beyond the logger. The service name comes from POWERTOOLS_SERVICE_NAME, set per function.

Tracing is Lambda's and Step Functions' own (active tracing, set by the CDK app): Lambda
records each invocation's segment (initialization, invocation, overhead) and Step Functions
links every Lambda task into the execution's trace, so the trace map shows each workflow's
calls and their durations without code in the function. There is deliberately no Powertools
Tracer here: it is built on the X-Ray SDK (maintenance mode since 2026-02-25, end of support
2027-02-25, AWS recommends OpenTelemetry), it was the largest import of every handler, and
creating it reads the AWS configuration at import time. The logger still carries the trace
id (`xray_trace_id`) on every line, from the `_X_AMZN_TRACE_ID` Lambda sets.

Counts are log fields, not CloudWatch custom metrics: no alarm reads them, and every custom
metric is billed for each month it is published (docs/performance.md, "What CloudWatch
costs"). A counted event logs one line with a `counts` object, which Logs Insights sums:
`filter ispresent(counts.DoorUnlocked) | stats sum(counts.DoorUnlocked) by bin(1d)`. The
alarms read AWS's own metrics (Lambda, SQS, Step Functions) and one log metric filter.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_lambda_powertools import Logger

COUNTS_KEY = "counts"

logger = Logger()


def log_counts(message: str, counts: Mapping[str, int], **fields: object) -> None:
    """One INFO line for a counted event: `fields` as keys, `counts` under COUNTS_KEY."""
    # stacklevel 3: the line's `location` is the caller's, not this helper's
    logger.info(message, extra={**fields, COUNTS_KEY: dict(counts)}, stacklevel=3)
