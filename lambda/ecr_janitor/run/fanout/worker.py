"""Worker: one invocation per slice runs janitor.run on exactly the slice's repositories. It never lists
the registry, and takes what is in use from the run's snapshot."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from ecr_janitor.adapters.accounts import AccountAccess
from ecr_janitor.adapters.ecr import EcrRegistry
from ecr_janitor.config import Config
from ecr_janitor.core.model import Repository
from ecr_janitor.events import InvalidEventError, JanitorEvent, WorkerStep
from ecr_janitor.observability import logger
from ecr_janitor.run import janitor
from ecr_janitor.run.accounts import may_clean
from ecr_janitor.run.fanout.environment import fanout_concurrency, run_store
from ecr_janitor.run.fanout.store import MAX_LISTED, MAX_MESSAGE


class SliceRegistry(EcrRegistry):
    """One region's ECR as a worker sees it: the listing is its slice, everything else is ECR's. It
    also notes which repositories were started (their tags are the first thing a run reads), so the
    ones the time budget left out are known exactly, whatever order the threads took them in."""

    def __init__(
        self, client: Any, region: str, repositories: Sequence[Repository], *, account: str | None = None
    ) -> None:
        super().__init__(client, region, account=account)
        self._slice = tuple(repositories)
        self._started: set[str] = set()
        self._lock = threading.Lock()

    def repositories(self) -> Iterator[Repository]:
        return iter(self._slice)

    def repository_tags(self, repository: Repository) -> dict[str, str]:
        with self._lock:
            self._started.add(repository.name)
        return super().repository_tags(repository)

    def not_started(self) -> list[Repository]:
        with self._lock:
            return [r for r in self._slice if r.name not in self._started]

    def for_region(self, region: str) -> EcrRegistry:
        if region != self.region:
            raise ValueError(f"this slice is in {self.region}, not {region}")
        return self


def work(event: JanitorEvent, step: WorkerStep, config: Config, context: LambdaContext) -> dict[str, Any]:
    region, account = step.slice.region, step.slice.account
    regions = janitor.resolve_regions(config)
    if region not in regions:
        raise InvalidEventError(
            f"slice {step.slice_index} is in {region}, a region the config does not walk "
            f"({', '.join(regions) or 'none'}); nothing was done"
        )
    home = janitor.home_region([region])
    access = AccountAccess(config.access_role, home)
    if not may_clean(config, account, access.home):
        raise InvalidEventError(
            f"slice {step.slice_index} is in account {account}, which the config does not clean; "
            "nothing was done"
        )
    real_now = datetime.now(UTC)
    request = janitor.begin(
        config,
        command="run",
        # Every worker evaluates ages as of the run's start (never later than its own clock).
        now=min(step.started_at, real_now) if step.started_at else real_now,
        forced_dry_run=event.forces_dry_run,
        forced_by="the run is a dry run (the state machine passed dryRun)",
        region=region,
        seconds_left=context.get_remaining_time_in_millis() / 1000,
        details=False,
        run_id=step.run_id,
    )
    request = replace(request, accounts=(account,))
    repositories = [Repository(r.name, r.arn, region) for r in step.slice.repositories]
    store = run_store(home, step.run_id)
    in_use = store.in_use_for({r.name for r in repositories})
    # Every worker running at once shares the config's budget of ECR requests for this registry. An
    # account whose role can't be assumed fails the worker: its slice counts as failed repositories.
    client = janitor.ecr_client(
        config.execution, region, share=fanout_concurrency(), client_for=access.client_for(account)
    )
    registry = SliceRegistry(client, region, repositories, account=account)
    report = janitor.run(config, request, janitor.one_account(registry.for_region), in_use)

    # Covered repositories the time budget left out (uncovered ones count as unmatched, not deferred).
    deferred = [r.name for r in registry.not_started() if config.target_for(r.name) is not None]
    if len(deferred) != report.deferred:
        logger.warning(
            "deferred repositories and the run's count differ",
            extra={"event": "deferred_mismatch", "listed": len(deferred), "counted": report.deferred},
        )
    failed = [
        {**asdict(f), "message": f.message[:MAX_MESSAGE]} for f in report.failed_repositories[:MAX_LISTED]
    ]
    return {
        "runId": step.run_id,
        "sliceIndex": step.slice_index,
        "region": region,
        "account": account,
        "status": "failed" if report.has_failures else "ok",
        "dryRun": report.dry_run,
        "repositories": len(repositories),
        "totals": report.totals(),
        "failedRepositories": failed,
        "failedRepositoriesOmitted": max(0, len(report.failed_repositories) - MAX_LISTED),
        "deferred": deferred,
        "durationSeconds": round(report.duration_seconds, 3),
    }
