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

# Fan-out (opt-in, `cdk deploy -c fanOut=true`): a Step Functions Distributed Map runs one nightly run as
# many invocations of this function (ecr_janitor.fanout). The stack sets these for the function.
ENV_RUN_BUCKET = "ECR_JANITOR_RUN_BUCKET"
"""The S3 bucket that holds each fan-out run's artifacts (slices, in-use snapshot, worker results)."""
ENV_FANOUT_CONCURRENCY = "ECR_JANITOR_FANOUT_CONCURRENCY"
"""How many workers run at once; each gets this share of `execution.maxRequestsPerSecond`."""
ENV_FANOUT_SLICE_SIZE = "ECR_JANITOR_FANOUT_SLICE_SIZE"
"""At most this many repositories per slice, i.e. per worker invocation."""
FANOUT_DEFAULT_CONCURRENCY = 4
FANOUT_DEFAULT_SLICE_SIZE = 500
RUNS_PREFIX = "runs/"
"""Every object of one run is under runs/<runId>/; a lifecycle rule expires them."""
STATE_PREFIX = "state/"
"""What one run leaves for the next (the repositories it deferred); never expires."""
