"""The one Powertools Logger, Metrics and Tracer of the process, created once, here (README, Development).

Logs go to stderr so that stdout stays free for the CLI's report (`--json | jq` works). In Lambda,
stderr reaches CloudWatch Logs just like stdout; EMF metrics are printed to stdout by Powertools.
"""

from __future__ import annotations

import logging
import sys

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import EphemeralMetrics

from ecr_janitor.constants import METRICS_NAMESPACE, SERVICE_NAME


class _CurrentStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is when a line is logged, so redirections (tests, embedding) work."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


logger = Logger(service=SERVICE_NAME, logger_handler=_CurrentStderrHandler())
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE_NAME)
account_metrics = EphemeralMetrics(namespace=METRICS_NAMESPACE, service=SERVICE_NAME)
"""The per-account metrics: their own blobs, apart from the totals' (Metrics instances share one set)."""
tracer = Tracer(service=SERVICE_NAME)
