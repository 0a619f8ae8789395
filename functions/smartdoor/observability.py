"""Logger, tracer and metrics, created once for every function.

Handlers and adapters import these; domain modules do not log through AWS-specific tooling
beyond the logger. The service name comes from POWERTOOLS_SERVICE_NAME, set per function.
"""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace="SmartDoor")
