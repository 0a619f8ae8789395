"""Logger and metrics, created once for every function.

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
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

NAMESPACE = "SmartDoor"


class _EmfMetrics(AmazonCloudWatchEMFProvider):
    """Powertools' CloudWatch EMF metrics, minus its warning on every invocation that counted
    nothing: many of ours legitimately count nothing (a batch of empty frames, a 404), and
    each such warning is a line of noise in the function's log."""

    def flush_metrics(self, raise_on_empty_metrics: bool = False) -> None:
        if self.metric_set or raise_on_empty_metrics:
            super().flush_metrics(raise_on_empty_metrics=raise_on_empty_metrics)


def _metrics() -> Metrics:
    shared = Metrics(namespace=NAMESPACE)  # the class-level metric, dimension and metadata sets
    shared.provider = _EmfMetrics(
        namespace=NAMESPACE,
        metric_set=shared.metric_set,
        dimension_set=shared.dimension_set,
        metadata_set=shared.metadata_set,
        default_dimensions=shared.default_dimensions,
    )
    return shared


logger = Logger()
metrics = _metrics()
