"""Orchestration: in-use references -> regions -> repositories -> plan -> apply -> report.

This is what `run` and the Lambda do. Workload references are read for every region before the first
deletion; a region whose references are incomplete is evaluated and reported, but nothing in it is
deleted.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from botocore.exceptions import BotoCoreError, ClientError

from ecr_janitor import audit, aws, lifecycle
from ecr_janitor.aws import default_region, error_code, error_message
from ecr_janitor.config import SKIP_TAG_KEY, SKIP_TAG_VALUE, Config, Target
from ecr_janitor.in_use import InUseReader, InUseSnapshot
from ecr_janitor.lifecycle import PolicyStatus
from ecr_janitor.model import Image, Repository
from ecr_janitor.policy import Decision, Protections, RepositoryPlan, evaluate
from ecr_janitor.ratelimit import RateLimiter
from ecr_janitor.references import ImageReference, pinned_images, references_by_repository
from ecr_janitor.registry import DeleteFailure, DeleteResult, EcrRegistry, IndexUnreadableError
from ecr_janitor.report import PolicyOutcome, RegionFailure, RepositoryReport, RunReport, Status

AWS_ERRORS = (ClientError, BotoCoreError)
NOT_ATTEMPTED = "NotAttempted"
RegistryFactory = Callable[[str], EcrRegistry]


@dataclass(frozen=True)
class RunRequest:
    command: str
    dry_run: bool
    dry_run_reason: str
    regions: Sequence[str]
    now: datetime
    deadline: float | None = None
    """`clock()` reading after which no repository is started (the Lambda's remaining time)."""
    clock: Callable[[], float] = time.monotonic
    resume: Mapping[str, str] = field(default_factory=dict)
    """Region -> name of the repository to start with: where the previous run stopped. By name, since
    ECR doesn't document the order DescribeRepositories lists in."""
    details: bool = True
    """Keep every image decision for the report (the CLI); the Lambda keeps totals only."""

    def out_of_time(self) -> bool:
        return self.deadline is not None and self.clock() >= self.deadline


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


def run_on_aws(config: Config, request: RunRequest) -> RunReport:
    """A run against the real AWS APIs (or whatever AWS_ENDPOINT_URL points at)."""
    home_region = default_region() or request.regions[0]
    in_use = InUseReader(aws.client, config.protect).read(request.regions, home_region)

    def registry_for(region: str) -> EcrRegistry:
        limiter = RateLimiter(config.execution.max_requests_per_second)
        return EcrRegistry(limiter.attach(aws.client("ecr", region)), region)

    return run(config, request, registry_for, in_use)


def run(
    config: Config, request: RunRequest, registry_for: RegistryFactory, in_use: InUseSnapshot | None = None
) -> RunReport:
    started = time.monotonic()
    in_use = in_use or InUseSnapshot()
    for failure in in_use.failures:
        audit.source_failed(failure)
    report = RunReport(
        command=request.command,
        dry_run=request.dry_run,
        dry_run_reason=request.dry_run_reason,
        now=request.now,
        regions=list(request.regions),
        details=request.details,
        in_use_failures=list(in_use.failures),
    )
    references = references_by_repository(in_use.references)
    for region in request.regions:
        _run_region(config, request, registry_for(region), report, references, in_use.withholds_deletions)
    report.duration_seconds = time.monotonic() - started
    return report


def _listing(registry: EcrRegistry, start: str | None) -> Iterator[Repository]:
    """Every repository once, beginning with the one named `start` and wrapping around, so a run that
    resumes where the last one stopped still reaches every repository. If `start` is gone, from the
    beginning. Streams: nothing is held beyond the current page."""
    found = start is None
    for repository in registry.repositories():
        found = found or repository.name == start
        if found:
            yield repository
    if start is None:
        return
    for repository in registry.repositories():
        if found and repository.name == start:
            break
        yield repository


def _run_region(
    config: Config,
    request: RunRequest,
    registry: EcrRegistry,
    report: RunReport,
    references: Mapping[str, list[ImageReference]],
    blocked: str,
) -> None:
    """Repositories in parallel on a bounded pool; reports are collected in listing order, so the result
    is the one a sequential run gives. Past the deadline no repository is started (the clock is read
    when a worker picks the repository up): they are counted as deferred and the next run starts with
    the first of them."""
    workers = config.execution.workers
    pending: deque[tuple[int, str, Future[RepositoryReport | None]]] = deque()
    first_deferred: tuple[int, str] | None = None
    """(order of processing, name) of the earliest repository not started: where the next run begins."""
    deferred_here = 0

    def defer(position: int, name: str) -> None:
        nonlocal first_deferred, deferred_here
        first_deferred = min(first_deferred or (position, name), (position, name))
        deferred_here += 1

    def collect() -> None:
        position, name, future = pending.popleft()
        outcome = future.result()
        if outcome is None:
            defer(position, name)
            return
        audit.repository_outcome(outcome, dry_run=request.dry_run)
        report.add(outcome)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"janitor-{registry.region}") as pool:
        try:
            listing = _listing(registry, request.resume.get(registry.region))
            for position, repository in enumerate(listing):
                match = config.target_for(repository.name)
                if match is None:
                    report.unmatched += 1
                    continue
                if request.out_of_time():
                    defer(position, repository.name)
                    continue
                index, target = match
                context = _Repository(registry, repository, index, target, config, request, blocked)
                work = pool.submit(context.process_in_time, references.get(repository.name, []))
                pending.append((position, repository.name, work))
                # No more in flight than workers: nothing waits in the pool's queue, so a repository
                # starts when it is submitted, and the listing never runs far ahead.
                while len(pending) >= workers:
                    collect()
        except AWS_ERRORS as error:
            failure = RegionFailure(
                registry.region, error_code(error), f"listing repositories: {error_message(error)}"
            )
            audit.region_failed(failure)
            report.region_failures.append(failure)
        finally:
            while pending:
                collect()
    if first_deferred is not None:
        report.deferred += deferred_here
        report.resume[registry.region] = first_deferred[1]
        audit.deferred(registry.region, deferred_here, first_deferred[1])


@dataclass(frozen=True)
class _Repository:
    registry: EcrRegistry
    repository: Repository
    index: int
    target: Target
    config: Config
    request: RunRequest
    blocked: str
    """Why deletions are withheld in this region, or empty."""

    def outcome(
        self,
        status: Status,
        message: str = "",
        plan: RepositoryPlan | None = None,
        deletion: DeleteResult | None = None,
        policy: PolicyOutcome | None = None,
    ) -> RepositoryReport:
        return RepositoryReport(
            self.repository,
            self.target.mode,
            self.index,
            self.target.label,
            status,
            message,
            plan,
            deletion,
            policy,
        )

    def protections(self, images: Sequence[Image], references: Sequence[ImageReference]) -> Protections:
        return Protections(
            tags=tuple(self.config.protect.tags), in_use=pinned_images(self.repository, images, references)
        )

    def propagate(self, references: Sequence[ImageReference]) -> RepositoryReport:
        """Put the target's policy where it is missing or (onDrift: overwrite) differs; preview its effect."""
        name, policy = self.repository.name, self.target.policy
        current = lifecycle.parse_policy_text(self.registry.lifecycle_policy(name))
        wanted = policy.document()
        status = lifecycle.decide(current, wanted, self.target.on_drift)
        preview: RepositoryPlan | None = None
        at_risk: tuple[Decision, ...] = ()
        # The preview costs a full image listing: always in a dry run, and in a real run when the policy
        # is about to change what ECR does.
        if status is not PolicyStatus.DRIFTED and (
            self.request.dry_run or status is not PolicyStatus.UNCHANGED
        ):
            try:
                images = self.registry.images(name)
            except IndexUnreadableError as error:
                return self.outcome(Status.FAILED, f"{error}; the policy was not written")
            rules, now = policy.ordered_rules(), self.request.now
            preview = evaluate(images, rules, now)
            protected = evaluate(images, rules, now, self.protections(images, references))
            expired_by_ecr = {d.image.digest for d in preview.expired}
            at_risk = tuple(d for d in protected.protected if d.image.digest in expired_by_ecr)
        write = not self.request.dry_run and status in (PolicyStatus.CREATED, PolicyStatus.UPDATED)
        if write:
            self.registry.put_lifecycle_policy(name, policy.text())
            audit.policy_written(self.repository.region, name, status, previous=current, written=wanted)
        outcome = PolicyOutcome(
            status,
            write,
            self.target.on_drift,
            tuple(lifecycle.differences(current, wanted)),
            preview,
            at_risk,
            self.blocked if preview is not None else "",
        )
        state = Status.PLANNED if self.request.dry_run else Status.APPLIED
        return self.outcome(state, policy=outcome)

    def process_in_time(self, references: Sequence[ImageReference]) -> RepositoryReport | None:
        """None when the time budget ran out before this repository could start: it is deferred."""
        return None if self.request.out_of_time() else self.process(references)

    def process(self, references: Sequence[ImageReference]) -> RepositoryReport:
        try:
            tags = self.registry.repository_tags(self.repository)
            if tags.get(SKIP_TAG_KEY, "").strip().lower() == SKIP_TAG_VALUE:
                return self.outcome(Status.SKIPPED, f"opted out: tag {SKIP_TAG_KEY}={SKIP_TAG_VALUE}")
            if self.target.mode == "propagate":
                return self.propagate(references)
            return self.retain(references)
        except AWS_ERRORS as error:
            return self.outcome(Status.FAILED, _describe_failure(error))

    def retain(self, references: Sequence[ImageReference]) -> RepositoryReport:
        """Evaluate the policy here and delete what it expires, unless a protection vetoes it."""
        name = self.repository.name
        try:
            images = self.registry.images(name)
        except IndexUnreadableError as error:
            return self.outcome(
                Status.FAILED, f"{error}; nothing deleted while an index's children are unknown"
            )
        plan = evaluate(
            images, self.target.policy.ordered_rules(), self.request.now, self.protections(images, references)
        )
        if self.blocked and plan.expired:
            return self.outcome(Status.BLOCKED, f"deletions withheld: {self.blocked}", plan=plan)
        if self.request.dry_run or not plan.expired:
            return self.outcome(Status.PLANNED if self.request.dry_run else Status.CLEANED, plan=plan)

        expired = {d.image.digest: d for d in plan.expired}

        def audit_batch(result: DeleteResult) -> None:
            # Logged as ECR answers, so a deletion is on record even if the run is cut short after it.
            for digest in result.deleted:
                audit.image_deleted(self.repository.region, name, expired[digest])
            for failure in result.failures:
                audit.delete_failed(self.repository.region, name, failure)

        deletion = _delete_in_layers(self.registry, name, plan, audit_batch)
        if deletion.failures:
            message = f"{len(deletion.failures)} of {len(plan.expired)} deletions failed"
            return self.outcome(Status.PARTIAL, message, plan=plan, deletion=deletion)
        return self.outcome(Status.CLEANED, plan=plan, deletion=deletion)


def _delete_in_layers(
    registry: EcrRegistry, repository: str, plan: RepositoryPlan, on_batch: Callable[[DeleteResult], None]
) -> DeleteResult:
    """Indexes before their children, subjects before their referrers; never a child whose index stays."""
    deleted: list[str] = []
    failures: list[DeleteFailure] = []
    for layer in plan.deletion_layers():
        done = set(deleted)
        ready = []
        held = []
        for digest in layer:
            waiting = sorted(plan.prerequisites.get(digest, frozenset()) - done)
            if waiting:
                message = f"not attempted: {waiting[0]}, which it follows, was not deleted"
                held.append(DeleteFailure(digest, NOT_ATTEMPTED, message))
            else:
                ready.append(digest)
        if held:
            on_batch(DeleteResult((), tuple(held)))
        result = registry.delete_images(repository, ready, on_batch)
        deleted += result.deleted
        failures += [*held, *result.failures]
    return DeleteResult(tuple(deleted), tuple(failures))


def _describe_failure(error: Exception) -> str:
    code = error_code(error)
    if code == "RepositoryNotFoundException":
        return f"{code}: the repository was deleted during the run"
    return f"{code}: {error_message(error)}"
