"""Orchestration: regions -> repositories -> plan -> apply -> report. What `run` and the Lambda do."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from botocore.exceptions import BotoCoreError, ClientError

from ecr_janitor import audit
from ecr_janitor.aws import default_region, error_code, error_message
from ecr_janitor.config import SKIP_TAG_KEY, SKIP_TAG_VALUE, Config, Target
from ecr_janitor.model import Repository
from ecr_janitor.policy import Protections, RepositoryPlan, evaluate
from ecr_janitor.registry import DeleteResult, EcrRegistry
from ecr_janitor.report import RegionFailure, RepositoryReport, RunReport, Status

AWS_ERRORS = (ClientError, BotoCoreError)
RegistryFactory = Callable[[str], EcrRegistry]


@dataclass(frozen=True)
class RunRequest:
    command: str
    dry_run: bool
    dry_run_reason: str
    regions: Sequence[str]
    now: datetime


def resolve_dry_run(config: Config, *, forced: bool, forced_by: str) -> tuple[bool, str]:
    """Dry run unless the config says otherwise and nothing forces it. Nothing can force it off."""
    if forced:
        return True, forced_by
    if config.dry_run:
        return True, "config dryRun is true (the default)"
    return False, "config dryRun is false"


def resolve_regions(config: Config, override: str | None = None) -> list[str]:
    """--region, else the config's regions, else the region the process runs in. May be empty."""
    if override:
        return [override]
    if config.regions:
        return list(config.regions)
    region = default_region()
    return [region] if region else []


def run(config: Config, request: RunRequest, registry_for: RegistryFactory) -> RunReport:
    started = time.monotonic()
    report = RunReport(
        command=request.command,
        dry_run=request.dry_run,
        dry_run_reason=request.dry_run_reason,
        now=request.now,
        regions=list(request.regions),
    )
    for region in request.regions:
        _run_region(config, request, registry_for(region), report)
    report.duration_seconds = time.monotonic() - started
    return report


def _run_region(config: Config, request: RunRequest, registry: EcrRegistry, report: RunReport) -> None:
    protections = Protections(tags=tuple(config.protect.tags))
    try:
        for repository in registry.repositories():
            match = config.target_for(repository.name)
            if match is None:
                report.unmatched += 1
                continue
            index, target = match
            outcome = _run_repository(registry, repository, index, target, protections, request)
            audit.repository_outcome(outcome, dry_run=request.dry_run)
            report.repositories.append(outcome)
    except AWS_ERRORS as error:
        failure = RegionFailure(
            registry.region, error_code(error), f"listing repositories: {error_message(error)}"
        )
        audit.region_failed(failure)
        report.region_failures.append(failure)


def _run_repository(
    registry: EcrRegistry,
    repository: Repository,
    index: int,
    target: Target,
    protections: Protections,
    request: RunRequest,
) -> RepositoryReport:
    def outcome(
        status: Status,
        message: str = "",
        plan: RepositoryPlan | None = None,
        deletion: DeleteResult | None = None,
    ) -> RepositoryReport:
        return RepositoryReport(repository, target.mode, index, target.label, status, message, plan, deletion)

    try:
        tags = registry.repository_tags(repository)
        if tags.get(SKIP_TAG_KEY, "").strip().lower() == SKIP_TAG_VALUE:
            return outcome(Status.SKIPPED, f"opted out: tag {SKIP_TAG_KEY}={SKIP_TAG_VALUE}")
        images = registry.images(repository.name)
    except AWS_ERRORS as error:
        return outcome(Status.FAILED, _describe_failure(error))

    plan = evaluate(images, target.policy.ordered_rules(), request.now, protections)
    if request.dry_run or not plan.expired:
        status = Status.PLANNED if request.dry_run else Status.CLEANED
        return outcome(status, plan=plan)

    deletion = registry.delete_images(repository.name, plan.deletion_batches())
    deleted = set(deletion.deleted)
    for decision in plan.expired:
        if decision.image.digest in deleted:
            audit.image_deleted(repository.region, repository.name, decision)
    for failure in deletion.failures:
        audit.delete_failed(repository.region, repository.name, failure)
    if deletion.failures:
        message = f"{len(deletion.failures)} of {len(plan.expired)} deletions failed"
        return outcome(Status.PARTIAL, message, plan=plan, deletion=deletion)
    return outcome(Status.CLEANED, plan=plan, deletion=deletion)


def _describe_failure(error: Exception) -> str:
    code = error_code(error)
    if code == "RepositoryNotFoundException":
        return f"{code}: the repository was deleted during the run"
    return f"{code}: {error_message(error)}"
