"""The Lambda entry point. Thin: parse the event, load the deployed config, run, publish metrics."""

from __future__ import annotations

import os
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from ecr_janitor import janitor, telemetry
from ecr_janitor.config import load_config
from ecr_janitor.constants import CONFIG_FILE_NAME, ENV_CONFIG_PATH
from ecr_janitor.events import parse_event
from ecr_janitor.observability import logger, metrics, tracer


def config_path() -> Path:
    configured = os.environ.get(ENV_CONFIG_PATH)
    if configured:
        return Path(configured)
    task_root = os.environ.get("LAMBDA_TASK_ROOT")
    return Path(task_root) / CONFIG_FILE_NAME if task_root else Path(CONFIG_FILE_NAME)


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    request = parse_event(event)
    config = load_config(config_path())
    dry_run, reason = janitor.resolve_dry_run(
        config, forced=request.forces_dry_run, forced_by="the event asked for a dry run"
    )
    regions = janitor.resolve_regions(config)
    if not regions:
        raise RuntimeError("no region: set `regions` in the config or AWS_REGION; nothing was done")
    report = janitor.run_on_aws(
        config, janitor.RunRequest("run", dry_run, reason, regions, datetime.now(UTC))
    )
    telemetry.publish(report, metrics)
    return {
        "status": "failed" if report.has_failures else "ok",
        "dryRun": report.dry_run,
        "dryRunReason": report.dry_run_reason,
        "totals": report.totals(),
        "regionFailures": [asdict(f) for f in report.region_failures],
        "failedRepositories": [
            {"region": r.repository.region, "repository": r.repository.name, "message": r.message}
            for r in report.repositories
            if r.failed
        ],
    }
