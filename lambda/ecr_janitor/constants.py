"""Names shared by the function and the infrastructure. Defined once; infra/ imports them."""

from __future__ import annotations

SERVICE_NAME = "ecr-janitor"
METRICS_NAMESPACE = "EcrJanitor"
SERVICE_DIMENSION = "service"

CONFIG_FILE_NAME = "ecr-janitor.json"
"""The config as the deployed function reads it: the validated YAML, written as JSON at synth time."""

ENV_CONFIG_PATH = "ECR_JANITOR_CONFIG"
ENV_STATE_PARAMETER = "ECR_JANITOR_STATE_PARAMETER"
"""The SSM parameter where a run that ran out of time records where the next one starts."""
ENV_POWERTOOLS_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
ENV_POWERTOOLS_METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"
ENV_POWERTOOLS_LOG_LEVEL = "POWERTOOLS_LOG_LEVEL"
