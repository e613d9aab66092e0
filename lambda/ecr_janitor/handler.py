"""The Lambda entry point. Thin: parse the event, load the deployed config, run, publish metrics.

A `fanOut` event is one step of the fan-out state machine (ecr_janitor.fanout); anything else is the
nightly run in one invocation.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from ecr_janitor import aws, fanout, janitor, telemetry
from ecr_janitor.config import Config, load_config
from ecr_janitor.constants import CONFIG_FILE_NAME, ENV_CONFIG_PATH, ENV_STATE_PARAMETER
from ecr_janitor.events import JanitorEvent, parse_event
from ecr_janitor.observability import logger, metrics, tracer
from ecr_janitor.state import ResumeState


def config_path() -> Path:
    configured = os.environ.get(ENV_CONFIG_PATH)
    if configured:
        return Path(configured)
    task_root = os.environ.get("LAMBDA_TASK_ROOT")
    return Path(task_root) / CONFIG_FILE_NAME if task_root else Path(CONFIG_FILE_NAME)


def resume_state(region: str) -> ResumeState | None:
    parameter = os.environ.get(ENV_STATE_PARAMETER)
    return ResumeState(aws.client("ssm", region), parameter) if parameter else None


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    request = parse_event(event)
    config = load_config(config_path())
    if request.fan_out is not None:
        return fanout.handle(request, config, context)  # only the summary step publishes metrics
    return run(request, config, context)


def run(request: JanitorEvent, config: Config, context: LambdaContext) -> dict[str, Any]:
    dry_run, reason = janitor.resolve_dry_run(
        config, forced=request.forces_dry_run, forced_by="the event asked for a dry run"
    )
    regions = janitor.resolve_regions(config)
    if not regions:
        raise RuntimeError("no region: set `regions` in the config or AWS_REGION; nothing was done")
    state = resume_state(aws.default_region() or regions[0])
    seconds_left = context.get_remaining_time_in_millis() / 1000
    run = janitor.RunRequest(
        "run",
        dry_run,
        reason,
        regions,
        datetime.now(UTC),
        deadline=time.monotonic() + seconds_left - config.execution.reserve_seconds,
        resume=state.load() if state else {},
        details=False,
    )
    report = janitor.run_on_aws(config, run)
    if state:
        state.save(report.resume)
    telemetry.publish(report, metrics)
    metrics.flush_metrics()
    return {
        "status": "failed" if report.has_failures else "ok",
        "dryRun": report.dry_run,
        "dryRunReason": report.dry_run_reason,
        "totals": report.totals(),
        "resume": report.resume,
        "regionFailures": [asdict(f) for f in report.region_failures],
        "failedRepositories": [asdict(f) for f in report.failed_repositories],
    }
