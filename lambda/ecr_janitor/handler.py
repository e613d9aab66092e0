"""The Lambda entry point. Thin: parse the event, load the deployed config, run, publish metrics.

A `fanOut` event is one step of the fan-out state machine (ecr_janitor.run.fanout); anything else is
the nightly run in one invocation.
"""

from __future__ import annotations

import os
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from ecr_janitor.adapters import clients
from ecr_janitor.adapters.resume import ResumeState
from ecr_janitor.config import Config, load_config
from ecr_janitor.constants import CONFIG_FILE_NAME, ENV_CONFIG_PATH, ENV_STATE_PARAMETER
from ecr_janitor.events import JanitorEvent, parse_event
from ecr_janitor.observability import account_metrics, logger, metrics, tracer
from ecr_janitor.outputs import metrics as run_metrics
from ecr_janitor.run import fanout, janitor


def config_path() -> Path:
    configured = os.environ.get(ENV_CONFIG_PATH)
    if configured:
        return Path(configured)
    task_root = os.environ.get("LAMBDA_TASK_ROOT")
    return Path(task_root) / CONFIG_FILE_NAME if task_root else Path(CONFIG_FILE_NAME)


def resume_state(region: str) -> ResumeState | None:
    parameter = os.environ.get(ENV_STATE_PARAMETER)
    return ResumeState(clients.client("ssm", region), parameter) if parameter else None


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    request = parse_event(event)
    config = load_config(config_path())
    if request.fan_out is not None:
        return fanout.handle(request, config, context)  # only the summary step publishes metrics
    return run(request, config, context)


def run(event: JanitorEvent, config: Config, context: LambdaContext) -> dict[str, Any]:
    request = janitor.begin(
        config,
        command="run",
        now=datetime.now(UTC),
        forced_dry_run=event.forces_dry_run,
        forced_by="the event asked for a dry run",
        seconds_left=context.get_remaining_time_in_millis() / 1000,
        details=False,
        run_id=context.aws_request_id,
    )
    state = resume_state(janitor.home_region(request.regions))
    if state:
        request = replace(request, resume=state.load())
    report = janitor.run_on_aws(config, request)
    if state:
        state.save(report.resume)
    run_metrics.publish(report, metrics, account_metrics if config.accounts is not None else None)
    metrics.flush_metrics()
    return {
        "status": "failed" if report.has_failures else "ok",
        "runId": report.run_id,
        "dryRun": report.dry_run,
        "dryRunReason": report.dry_run_reason,
        "totals": report.totals(),
        "resume": report.resume,
        "regionFailures": [asdict(f) for f in report.region_failures],
        "failedRepositories": [asdict(f) for f in report.failed_repositories],
    }
