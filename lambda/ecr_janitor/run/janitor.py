"""The run, step by step. The CLI, the Lambda and every fan-out step call these pieces, so the run is
spelled out once:

    begin          config + how the run was started + time left -> a RunRequest (dry run, regions, deadline)
    resolve_accounts  (run.accounts) the registries to clean and the accounts whose workloads are read
    read_in_use    every workload reference of the run's accounts and regions, read before any deletion
    registry_for   one account's ECR in one region, behind that registry's rate limit
    covered        the repositories a target covers, in listing order, and the region's listing failure
    run            accounts -> regions -> covered repositories -> process each (run.repository) -> report

A run that can't read every in-use source is evaluated and reported, but deletes nothing anywhere.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from ecr_janitor.adapters import clients
from ecr_janitor.adapters.clients import AWS_ERRORS, ClientFactory, error_code, error_message
from ecr_janitor.adapters.ecr import EcrRegistry
from ecr_janitor.adapters.ratelimit import RateLimiter
from ecr_janitor.adapters.workloads import InUseReader
from ecr_janitor.config import Config, Execution
from ecr_janitor.core.model import ALL_REGIONS, RegionFailure, Repository, SourceFailure, registry_key
from ecr_janitor.core.references import ImageReference, InUseSnapshot, references_by_repository
from ecr_janitor.outputs import audit
from ecr_janitor.outputs.progress import ProgressHook, RegionProgress
from ecr_janitor.outputs.report import RepositoryReport, RunReport
from ecr_janitor.run.accounts import Accounts, resolve_accounts
from ecr_janitor.run.repository import Covered, RepositoryRun

RegistryFactory = Callable[[str], EcrRegistry]
"""Region -> one account's ECR there."""
AccountRegistries = Callable[[str | None], RegistryFactory]
"""Account (None: the credentials' own) -> its registries; raises the AWS error when it can't be reached."""


class NoRegionError(RuntimeError):
    """Nothing says which region to walk. Nothing was done."""

    def __init__(self) -> None:
        super().__init__(
            "no region: set `regions` in the config, pass --region (CLI), or set AWS_REGION or "
            "AWS_DEFAULT_REGION; nothing was done"
        )


def new_run_id() -> str:
    """A run id for a run that has none from AWS (the CLI): when it started, and a random suffix."""
    return f"cli-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{uuid.uuid4().hex[:8]}"


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
    """Registry (core.model.registry_key: the region, or `<account>/<region>`) -> name of the repository
    to start with: where the previous run stopped. By name, since ECR doesn't document the order
    DescribeRepositories lists in."""
    details: bool = True
    """Keep every image decision for the report (the CLI); the Lambda keeps totals only."""
    progress: ProgressHook | None = None
    """Told, per region, how many covered repositories are done of those listed (the CLI's progress)."""
    run_id: str = field(default_factory=new_run_id)
    """Names the run in the report and on every audit line: the Lambda's request id, the fan-out
    execution's name, or a generated `cli-…` id."""
    accounts: Sequence[str | None] = (None,)
    """The registries to clean (run.accounts); None: the credentials' own account."""

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
    region = clients.default_region()
    return [region] if region else []


def workload_regions(config: Config, regions: Sequence[str]) -> list[str]:
    """Where the workloads that may use the run's repositories are read: the regions it cleans and every
    region the config walks, since a workload in one region may pull from a repository in another (a
    `--region` run cleans one region, but is no less careful about what uses it)."""
    return list(dict.fromkeys([*regions, *resolve_regions(config)]))


def home_region(regions: Sequence[str]) -> str:
    """Where the run's own resources are (resume state, run bucket, image lists): the process's region."""
    return clients.default_region() or regions[0]


def begin(
    config: Config,
    *,
    command: str,
    now: datetime,
    forced_dry_run: bool = False,
    forced_by: str = "",
    region: str | None = None,
    seconds_left: float | None = None,
    details: bool = True,
    run_id: str | None = None,
) -> RunRequest:
    """What this run will do, decided before any AWS call. `seconds_left` (a Lambda's remaining time) sets
    the deadline after which no repository is started; `run_id` names the run (generated when None), and
    every audit line from here on carries it. Raises NoRegionError when no region is known."""
    regions = resolve_regions(config, region)
    if not regions:
        raise NoRegionError()
    dry_run, reason = resolve_dry_run(config, forced=forced_dry_run, forced_by=forced_by)
    deadline = (
        None if seconds_left is None else time.monotonic() + seconds_left - config.execution.reserve_seconds
    )
    run_id = run_id or new_run_id()
    audit.start_run(run_id)
    return RunRequest(
        command, dry_run, reason, regions, now, deadline=deadline, details=details, run_id=run_id
    )


def read_in_use(config: Config, regions: Sequence[str], now: datetime, accounts: Accounts) -> InUseSnapshot:
    """Every workload reference of `regions` in every account the run reads (and the extra lists), with
    each unreadable source logged, and whether Inspector's signal was used in each region. An account
    whose role can't be assumed is a source failure naming it. `now` is the run's (recentlyInUseDays)."""
    snapshot = InUseSnapshot(failures=list(accounts.source_failures))
    home = home_region(regions)
    for account in accounts.read:
        try:
            client_for = accounts.access.client_for(account)
        except AWS_ERRORS as error:
            source = f"role {accounts.access.role_arn(str(account))}"
            failure = SourceFailure(ALL_REGIONS, source, error_code(error), error_message(error), account)
            snapshot.failures.append(failure)
            audit.source_failed(failure)
            continue
        reader = InUseReader(
            client_for,
            config.protect,
            account=account,
            image_lists=account == accounts.home,
            inspector=account in accounts.cleaned,
            where="" if account == accounts.home else f" in account {account}",
        )
        part = reader.read(regions, home, now)
        for failure in part.failures:
            audit.source_failed(failure)
        for use in part.inspector:
            audit.inspector_use(use)
        for failure in part.ignored:
            audit.source_ignored(failure)
        snapshot.extend(part)
    return snapshot


def ecr_client(
    execution: Execution, region: str, *, share: int = 1, client_for: ClientFactory = clients.client
) -> Any:
    """An ECR client behind its own token bucket of `maxRequestsPerSecond / share` (share: the fan-out
    workers running at once, which together must not ask ECR for more than one run would). ECR's limits
    are per account and region, and so is the bucket."""
    limiter = RateLimiter(execution.max_requests_per_second / share)
    return limiter.attach(client_for("ecr", region))


def registry_for(
    execution: Execution,
    region: str,
    *,
    account: str | None = None,
    client_for: ClientFactory = clients.client,
) -> EcrRegistry:
    return EcrRegistry(ecr_client(execution, region, client_for=client_for), region, account=account)


def registries(config: Config, accounts: Accounts) -> AccountRegistries:
    """Each account's registries, through its role (the own account: its own credentials)."""

    def of(account: str | None) -> RegistryFactory:
        client_for = accounts.access.client_for(account)
        return lambda region: registry_for(config.execution, region, account=account, client_for=client_for)

    return of


@dataclass
class RegionListing:
    """What listing one region found besides the covered repositories."""

    region: str
    unmatched: int = 0
    """Repositories no target covers: never touched."""
    account: str | None = None
    failure: RegionFailure | None = None
    """Why the listing stopped early, if it did (logged when it happens)."""


def covered(
    config: Config, registry: EcrRegistry, listing: RegionListing, *, start: str | None = None
) -> Iterator[Covered]:
    """The repositories of one region a target covers, in listing order from `start` (wrapping around).
    A listing that fails stops here and is recorded in `listing`; what was listed before stays valid."""
    try:
        for repository in _listing(registry, start):
            match = config.target_for(repository.name)
            if match is None:
                listing.unmatched += 1
            else:
                yield Covered(repository, *match)
    except AWS_ERRORS as error:
        listing.failure = RegionFailure(
            registry.region,
            error_code(error),
            f"listing repositories: {error_message(error)}",
            account=registry.account,
        )
        audit.region_failed(listing.failure)


def run_on_aws(config: Config, request: RunRequest) -> RunReport:
    """A run against the real AWS APIs (or whatever AWS_ENDPOINT_URL points at)."""
    accounts = resolve_accounts(config, home_region(request.regions))
    in_use = read_in_use(config, workload_regions(config, request.regions), request.now, accounts)
    request = replace(request, accounts=accounts.cleaned)
    report = run(config, request, registries(config, accounts), in_use)
    report.region_failures[:0] = accounts.region_failures
    report.consumer_accounts = [account for account in accounts.read if account is not None]
    return report


def one_account(registry_for: RegistryFactory) -> AccountRegistries:
    """The registries of a run that cleans one account (the credentials' own, or a fan-out slice's)."""
    return lambda _account: registry_for


def run(
    config: Config,
    request: RunRequest,
    registries: AccountRegistries,
    in_use: InUseSnapshot | None = None,
) -> RunReport:
    started = time.monotonic()
    audit.start_run(request.run_id)
    in_use = in_use or InUseSnapshot()
    report = RunReport(
        command=request.command,
        dry_run=request.dry_run,
        dry_run_reason=request.dry_run_reason,
        now=request.now,
        regions=list(request.regions),
        details=request.details,
        run_id=request.run_id,
        in_use_failures=list(in_use.failures),
        inspector=list(in_use.inspector),
        in_use_ignored=list(in_use.ignored),
        accounts=[account for account in request.accounts if account is not None],
    )
    references = references_by_repository(in_use.references)
    for registry in each_registry(request.accounts, request.regions, registries, report.region_failures):
        _run_region(config, request, registry, report, references, in_use.withholds_deletions)
    report.duration_seconds = time.monotonic() - started
    return report


def each_registry(
    accounts: Sequence[str | None],
    regions: Sequence[str],
    registries: AccountRegistries,
    failures: list[RegionFailure],
) -> Iterator[EcrRegistry]:
    """Every registry of a run, account by account, region by region. An account that can't be reached
    (its role can't be assumed) is a failure, appended to `failures` and logged; the others go on."""
    for account in accounts:
        try:
            registry_for = registries(account)
        except AWS_ERRORS as error:
            failure = RegionFailure(
                ALL_REGIONS,
                error_code(error),
                f"reaching the account: {error_message(error)}",
                account=account,
            )
            audit.region_failed(failure)
            failures.append(failure)
            continue
        for region in regions:
            yield registry_for(region)


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
    listing = RegionListing(registry.region, account=registry.account)
    key = registry_key(registry.account, registry.region)
    pending: deque[tuple[int, str, Future[RepositoryReport | None]]] = deque()
    first_deferred: tuple[int, str] | None = None
    """(order of processing, name) of the earliest repository not started: where the next run begins."""
    deferred_here = 0
    done = 0
    listed: int | None = None

    def finished() -> None:
        nonlocal done
        done += 1
        if request.progress:
            request.progress(RegionProgress(key, done, listed))

    def defer(position: int, name: str) -> None:
        nonlocal first_deferred, deferred_here
        first_deferred = min(first_deferred or (position, name), (position, name))
        deferred_here += 1

    def collect() -> None:
        position, name, future = pending.popleft()
        outcome = future.result()
        if outcome is None:
            defer(position, name)
        else:
            audit.repository_outcome(outcome, dry_run=request.dry_run)
            report.add(outcome)
        finished()

    def process_in_time(job: RepositoryRun) -> RepositoryReport | None:
        """None when the time budget ran out before the repository could start: it is deferred."""
        if request.out_of_time():
            return None
        return job.process(references.get(job.repository.name, []))

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"janitor-{registry.region}") as pool:
        try:
            start = request.resume.get(key)
            position = -1
            for position, repository in enumerate(covered(config, registry, listing, start=start)):
                if request.out_of_time():
                    defer(position, repository.repository.name)
                    finished()
                    continue
                job = RepositoryRun(registry, repository, config, request.now, request.dry_run, blocked)
                pending.append((position, repository.repository.name, pool.submit(process_in_time, job)))
                # No more in flight than workers: nothing waits in the pool's queue, so a repository
                # starts when it is submitted, and the listing never runs far ahead.
                while len(pending) >= workers:
                    collect()
            listed = position + 1
        finally:
            while pending:
                collect()
    if request.progress:  # the region's last word, also when it had nothing to do
        request.progress(RegionProgress(key, done, done if listed is None else listed))
    report.unmatched += listing.unmatched
    if listing.failure is not None:
        report.region_failures.append(listing.failure)
    if first_deferred is not None:
        report.deferred += deferred_here
        report.resume[key] = first_deferred[1]
        audit.deferred(registry.region, deferred_here, first_deferred[1], account=registry.account)
