"""The one Powertools Logger, Metrics and Tracer of the process (DESIGN.md: created once, here).

Logs go to stderr so that stdout stays free for the CLI's report (`--json | jq` works). In Lambda,
stderr reaches CloudWatch Logs just like stdout; EMF metrics are printed to stdout by Powertools.
"""

from __future__ import annotations

import logging
import sys

from aws_lambda_powertools import Logger, Metrics, Tracer

from ecr_janitor.constants import METRICS_NAMESPACE, SERVICE_NAME

logger = Logger(service=SERVICE_NAME, logger_handler=logging.StreamHandler(sys.stderr))
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE_NAME)
tracer = Tracer(service=SERVICE_NAME)
