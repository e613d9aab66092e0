"""Fan-out: one run split over many invocations of this function by a Step Functions Distributed Map.

    prepare   (prepare.py) reads what is in use ONCE, lists the covered repositories into slices
    worker    (worker.py)  one invocation per slice: janitor.run on exactly its repositories, no listing
    summary   (summary.py) adds the workers' results up and publishes the run's metrics, once

Each step stands on the pieces of run.janitor; this package holds only slicing, the run's files in S3
(store.py), what the stack tells the steps (environment.py) and the guard against overlapping runs
(overlap.py). The single run's safety rules hold: the in-use snapshot is read before any deletion and
withholds deletions when incomplete; a dry run (config, or `dryRun: true` in the execution input)
reaches every worker as `dryRun: true`, and no event can turn a dry run off. A worker that fails (a
Lambda error) is never ignored: its slice counts as failed repositories and the execution ends failed.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from ecr_janitor.config import Config
from ecr_janitor.events import InvalidEventError, JanitorEvent, PrepareStep, SummaryStep, WorkerStep
from ecr_janitor.run.fanout.prepare import prepare
from ecr_janitor.run.fanout.summary import summarize
from ecr_janitor.run.fanout.worker import work


def handle(event: JanitorEvent, config: Config, context: LambdaContext) -> dict[str, Any]:
    step = event.fan_out
    if isinstance(step, PrepareStep):
        return prepare(event, step, config)
    if isinstance(step, WorkerStep):
        return work(event, step, config, context)
    if isinstance(step, SummaryStep):
        return summarize(step, config)
    raise InvalidEventError("not a fan-out event; nothing was done")
