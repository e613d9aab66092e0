"""Fan-out: one run split over many invocations of this function by a Step Functions Distributed Map.

    prepare   reads what is in use ONCE for every region, lists the covered repositories into slices
    worker    one invocation per slice: janitor.run on exactly its repositories (it never lists ECR)
    summary   adds the workers' results up and publishes the run's metrics, once

What one step hands to the next is in the run bucket under runs/<runId>/; the states themselves carry
only small documents (Step Functions allows 256 KB per state). The single run's safety rules hold:
the in-use snapshot is read before any deletion and withholds a region's deletions when incomplete, a
dry run (config, or `dryRun: true` in the execution input) reaches every worker as `dryRun: true`,
and no event can turn a dry run off. A worker that fails (a Lambda error) is never ignored: its slice
counts as failed repositories and the execution ends failed.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ecr_janitor import audit, aws, janitor, telemetry
from ecr_janitor.aws import error_code, error_message
from ecr_janitor.config import Config
from ecr_janitor.constants import (
    ENV_FANOUT_CONCURRENCY,
    ENV_FANOUT_SLICE_SIZE,
    ENV_RUN_BUCKET,
    FANOUT_DEFAULT_CONCURRENCY,
    FANOUT_DEFAULT_SLICE_SIZE,
    RUNS_PREFIX,
    STATE_PREFIX,
)
from ecr_janitor.events import InvalidEventError, JanitorEvent, PrepareStep, SummaryStep, WorkerStep
from ecr_janitor.in_use import InUseReader, InUseSnapshot, SourceFailure
from ecr_janitor.model import Repository
from ecr_janitor.observability import logger, metrics
from ecr_janitor.ratelimit import RateLimiter
from ecr_janitor.references import ImageReference
from ecr_janitor.registry import EcrRegistry
from ecr_janitor.report import RegionFailure, sum_totals

AWS_ERRORS = (ClientError, BotoCoreError)

SLICES = "slices.json"
IN_USE = "in-use.json"
RUN = "run.json"
SUMMARY = "summary.json"
RESULTS = "results"
"""The Distributed Map's ResultWriter prefix: runs/<runId>/results/<map run id>/manifest.json."""
DEFERRED_KEY = f"{STATE_PREFIX}deferred.json"
"""Region -> repositories the last run's workers ran out of time for; the next run gives them own slices."""

MAX_SLICE_BYTES = 96 * 1024
"""A slice travels in its worker's event, and its deferred names may come back in the worker's result:
both must stay well inside Step Functions' 256 KB per state, also with 256-character names."""
MAX_LISTED = 50
"""Failures listed in a step's result (all are counted, and logged); the rest are in summary.json."""
MAX_MESSAGE = 500


class RunInProgressError(RuntimeError):
    """Another execution of the state machine is still running; this one stopped before doing anything."""


def handle(event: JanitorEvent, config: Config, context: LambdaContext) -> dict[str, Any]:
    step = event.fan_out
    if isinstance(step, PrepareStep):
        return prepare(event, step, config)
    if isinstance(step, WorkerStep):
        return work(event, step, config, context)
    if isinstance(step, SummaryStep):
        return summarize(event, step, config)
    raise InvalidEventError("not a fan-out event; nothing was done")


# -- the run's artifacts --------------------------------------------------------------------------------


class RunStore:
    """The run bucket: runs/<runId>/... for this run, state/ for what the next run starts with."""

    def __init__(self, client: Any, bucket: str, run_id: str) -> None:
        self._client = client
        self.bucket = bucket
        self.run_id = run_id

    @classmethod
    def from_environment(cls, region: str, run_id: str) -> RunStore:
        bucket = os.environ.get(ENV_RUN_BUCKET)
        if not bucket:
            raise RuntimeError(
                f"{ENV_RUN_BUCKET} is not set: fan-out steps run only in a stack deployed with "
                "-c fanOut=true; nothing was done"
            )
        return cls(aws.client("s3", region), bucket, run_id)

    @property
    def prefix(self) -> str:
        return f"{RUNS_PREFIX}{self.run_id}/"

    def key(self, name: str) -> str:
        return self.prefix + name

    def owns(self, key: str) -> bool:
        return key.startswith(self.prefix) and ".." not in key.split("/")

    def put_json(self, key: str, document: Any) -> None:
        body = json.dumps(document, separators=(",", ":"), default=str).encode()
        self._client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")

    def put_file(self, key: str, file: IO[bytes]) -> None:
        file.seek(0)
        self._client.put_object(Bucket=self.bucket, Key=key, Body=file, ContentType="application/json")

    def get_json(self, key: str) -> Any:
        body = self._client.get_object(Bucket=self.bucket, Key=key)["Body"]
        return json.loads(body.read())

    def carried_over(self) -> dict[str, set[str]]:
        """What the last run deferred; empty when there was no run yet."""
        try:
            document = self.get_json(DEFERRED_KEY)
        except ClientError as error:
            if error_code(error) in ("NoSuchKey", "404"):
                return {}
            raise
        if not isinstance(document, dict):
            return {}
        return {
            str(region): {str(n) for n in names}
            for region, names in document.items()
            if isinstance(names, list)
        }

    def carry_over(self, deferred: Mapping[str, Sequence[str]]) -> None:
        self.put_json(DEFERRED_KEY, {region: sorted(names) for region, names in deferred.items() if names})


def in_use_document(snapshot: InUseSnapshot) -> dict[str, Any]:
    return {
        "references": [asdict(reference) for reference in snapshot.references],
        "failures": [asdict(failure) for failure in snapshot.failures],
    }


def in_use_for(document: Mapping[str, Any], repositories: set[str]) -> InUseSnapshot:
    """The part of the run's snapshot one slice needs: the references to its repositories, and every
    source failure (InUseSnapshot.blocking decides which of them withhold deletions where)."""
    return InUseSnapshot(
        references=[
            ImageReference(**reference)
            for reference in document["references"]
            if reference["repository"] in repositories
        ],
        failures=[SourceFailure(**failure) for failure in document["failures"]],
    )


# -- prepare --------------------------------------------------------------------------------------------


class SliceWriter:
    """Streams slices into a JSON array in a file: only the slice being filled is held in memory. A slice
    holds one region's repositories, at most `size` of them and MAX_SLICE_BYTES of JSON."""

    def __init__(self, file: IO[bytes], size: int) -> None:
        self._file = file
        self._size = size
        self._region = ""
        self._current: list[dict[str, str]] = []
        self._bytes = 0
        self.table: list[tuple[str, int]] = []
        """(region, repositories) of every slice written, in order: the Distributed Map's item index."""
        file.write(b"[")

    def add(self, repository: Repository) -> None:
        entry = {"name": repository.name, "arn": repository.arn}
        cost = len(json.dumps(entry)) + 1
        full = len(self._current) >= self._size or self._bytes + cost > MAX_SLICE_BYTES
        if repository.region != self._region or full:
            self.close_slice()
            self._region = repository.region
        self._current.append(entry)
        self._bytes += cost

    def close_slice(self) -> None:
        if not self._current:
            return
        if self.table:
            self._file.write(b",")
        document = {"region": self._region, "repositories": self._current}
        self._file.write(json.dumps(document, separators=(",", ":")).encode())
        self.table.append((self._region, len(self._current)))
        self._current, self._bytes = [], 0

    def finish(self) -> None:
        self.close_slice()
        self._file.write(b"]")


@dataclass
class Listing:
    slices: list[tuple[str, int]] = field(default_factory=list)
    unmatched: int = 0
    carried_over: int = 0
    region_failures: list[RegionFailure] = field(default_factory=list)

    @property
    def repositories(self) -> int:
        return sum(count for _, count in self.slices)


def list_slices(
    config: Config,
    regions: Sequence[str],
    registry_for: janitor.RegistryFactory,
    file: IO[bytes],
    *,
    size: int,
    carried: Mapping[str, set[str]],
) -> Listing:
    """Every repository a target covers, region by region, in listing order. Repositories the last run
    deferred get slices of their own after their region's, so the slice that ran out of time is shorter
    this time and they start fresh."""
    listing = Listing()
    writer = SliceWriter(file, size)
    for region in regions:
        registry = registry_for(region)
        wanted = carried.get(region, set())
        first: list[Repository] = []
        try:
            for repository in registry.repositories():
                if config.target_for(repository.name) is None:
                    listing.unmatched += 1
                elif repository.name in wanted:
                    first.append(repository)
                else:
                    writer.add(repository)
        except AWS_ERRORS as error:
            failure = RegionFailure(
                region, error_code(error), f"listing repositories: {error_message(error)}"
            )
            audit.region_failed(failure)
            listing.region_failures.append(failure)
        writer.close_slice()
        for repository in first:
            writer.add(repository)
        writer.close_slice()
        listing.carried_over += len(first)
    writer.finish()
    listing.slices = writer.table
    return listing


def prepare(event: JanitorEvent, step: PrepareStep, config: Config) -> dict[str, Any]:
    started_at = step.started_at or datetime.now(UTC)
    dry_run, reason = janitor.resolve_dry_run(
        config, forced=event.forces_dry_run, forced_by="the execution input asked for a dry run"
    )
    regions = janitor.resolve_regions(config)
    if not regions:
        raise RuntimeError("no region: set `regions` in the config or AWS_REGION; nothing was done")
    home = aws.default_region() or regions[0]
    if step.state_machine_arn and step.execution_arn:
        refuse_overlap(
            aws.client("stepfunctions", home), step.state_machine_arn, step.execution_arn, started_at
        )
    store = RunStore.from_environment(home, step.run_id)

    in_use = InUseReader(aws.client, config.protect).read(regions, home)
    for failure in in_use.failures:
        audit.source_failed(failure)
    store.put_json(store.key(IN_USE), in_use_document(in_use))

    def registry_for(region: str) -> EcrRegistry:
        limiter = RateLimiter(config.execution.max_requests_per_second)
        return EcrRegistry(limiter.attach(aws.client("ecr", region)), region)

    with tempfile.TemporaryFile() as file:
        listing = list_slices(
            config, regions, registry_for, file, size=slice_size(), carried=store.carried_over()
        )
        store.put_file(store.key(SLICES), file)

    region_failures = [asdict(f) for f in listing.region_failures]
    store.put_json(
        store.key(RUN),
        {
            "runId": step.run_id,
            "startedAt": started_at.isoformat(),
            "dryRun": dry_run,
            "dryRunReason": reason,
            "regions": regions,
            "slices": [{"region": region, "repositories": count} for region, count in listing.slices],
            "unmatched": listing.unmatched,
            "carriedOver": listing.carried_over,
            "regionFailures": region_failures,
            "inUseSourceFailures": [asdict(f) for f in in_use.failures],
        },
    )
    logger.info(
        "fan-out run prepared",
        extra={
            "event": "fanout_prepared",
            "run_id": step.run_id,
            "dry_run": dry_run,
            "slices": len(listing.slices),
            "repositories": listing.repositories,
            "unmatched": listing.unmatched,
            "carried_over": listing.carried_over,
        },
    )
    return {
        "runId": step.run_id,
        "bucket": store.bucket,
        "slicesKey": store.key(SLICES),
        "inUseKey": store.key(IN_USE),
        "resultsPrefix": store.key(RESULTS),
        "slices": len(listing.slices),
        "repositories": listing.repositories,
        "unmatched": listing.unmatched,
        "carriedOver": listing.carried_over,
        "dryRun": dry_run,
        "dryRunReason": reason,
        "startedAt": started_at.isoformat(),
        "regionFailures": region_failures[:MAX_LISTED],
        "inUseSourcesFailed": len(in_use.failures),
    }


def refuse_overlap(client: Any, state_machine_arn: str, execution_arn: str, started_at: datetime) -> None:
    """Runs never overlap: when an earlier execution is still running, this one stops before doing
    anything (and fails, so the alarm says so). Two started at the same instant: the ARN decides."""
    running = [
        execution
        for page in client.get_paginator("list_executions").paginate(
            stateMachineArn=state_machine_arn, statusFilter="RUNNING"
        )
        for execution in page["executions"]
    ]
    mine = next((e["startDate"] for e in running if e["executionArn"] == execution_arn), started_at)
    earlier = sorted(
        (e["startDate"], e["executionArn"], e["name"])
        for e in running
        if e["executionArn"] != execution_arn and (e["startDate"], e["executionArn"]) < (mine, execution_arn)
    )
    if earlier:
        started, _, name = earlier[0]
        raise RunInProgressError(
            f"run {name}, started {started.isoformat()}, is still running; runs never overlap, so this one "
            "stopped before doing anything"
        )


# -- worker ---------------------------------------------------------------------------------------------


class SliceRegistry(EcrRegistry):
    """One region's ECR as a worker sees it: the listing is its slice, everything else is ECR's. It
    also notes which repositories were started (their tags are the first thing a run reads), so the
    ones the time budget left out are known exactly, whatever order the threads took them in."""

    def __init__(self, client: Any, region: str, repositories: Sequence[Repository]) -> None:
        super().__init__(client, region)
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
    region = step.slice.region
    regions = janitor.resolve_regions(config)
    if region not in regions:
        raise InvalidEventError(
            f"slice {step.slice_index} is in {region}, a region the config does not walk "
            f"({', '.join(regions) or 'none'}); nothing was done"
        )
    dry_run, reason = janitor.resolve_dry_run(
        config,
        forced=event.forces_dry_run,
        forced_by="the run is a dry run (the state machine passed dryRun)",
    )
    repositories = [Repository(r.name, r.arn, region) for r in step.slice.repositories]
    store = RunStore.from_environment(aws.default_region() or region, step.run_id)
    in_use = in_use_for(store.get_json(store.key(IN_USE)), {r.name for r in repositories})

    real_now = datetime.now(UTC)
    now = min(step.started_at, real_now) if step.started_at else real_now
    seconds_left = context.get_remaining_time_in_millis() / 1000
    # Every worker running at once shares the config's per-region budget of ECR requests.
    limiter = RateLimiter(config.execution.max_requests_per_second / fanout_concurrency())
    registry = SliceRegistry(limiter.attach(aws.client("ecr", region)), region, repositories)
    request = janitor.RunRequest(
        "run",
        dry_run,
        reason,
        [region],
        now,
        deadline=time.monotonic() + seconds_left - config.execution.reserve_seconds,
        details=False,
    )
    report = janitor.run(config, request, registry.for_region, in_use)

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
        "status": "failed" if report.has_failures else "ok",
        "dryRun": report.dry_run,
        "repositories": len(repositories),
        "totals": report.totals(),
        "failedRepositories": failed,
        "failedRepositoriesOmitted": max(0, len(report.failed_repositories) - MAX_LISTED),
        "deferred": deferred,
        "durationSeconds": round(report.duration_seconds, 3),
    }


# -- summary --------------------------------------------------------------------------------------------


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class WorkerResult(_Lenient):
    """What `work` returns, as the Distributed Map's ResultWriter stored it."""

    run_id: str = Field(alias="runId")
    slice_index: int = Field(alias="sliceIndex", ge=0)
    region: str
    status: str
    dry_run: bool = Field(alias="dryRun")
    totals: dict[str, int]
    failed_repositories: list[dict[str, str]] = Field(default_factory=list, alias="failedRepositories")
    failed_repositories_omitted: int = Field(default=0, alias="failedRepositoriesOmitted")
    deferred: list[str] = Field(default_factory=list)


class SliceEntry(_Lenient):
    region: str
    repositories: int


class RunRecord(_Lenient):
    """What `prepare` wrote to run.json."""

    run_id: str = Field(alias="runId")
    started_at: datetime = Field(alias="startedAt")
    dry_run: bool = Field(alias="dryRun")
    dry_run_reason: str = Field(alias="dryRunReason")
    slices: list[SliceEntry]
    unmatched: int
    carried_over: int = Field(default=0, alias="carriedOver")
    region_failures: list[dict[str, str]] = Field(alias="regionFailures")
    in_use_source_failures: list[dict[str, str]] = Field(alias="inUseSourceFailures")


@dataclass
class MapOutcome:
    """The Distributed Map's result files, read back: each slice's result, or why it has none."""

    results: dict[int, WorkerResult] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)
    unreadable: int = 0
    """Child executions whose output or input could not be read; their slices count as failed."""


@dataclass(frozen=True)
class FailedWorker:
    """A slice with no result: its worker raised, timed out, or never ran."""

    slice_index: int
    region: str
    repositories: int
    error: str

    def to_json(self) -> dict[str, Any]:
        return {
            "sliceIndex": self.slice_index,
            "region": self.region,
            "repositories": self.repositories,
            "error": self.error,
        }


def audit_worker_failed(run_id: str, worker: FailedWorker) -> None:
    logger.error(
        "worker failed: its slice's repositories count as failed",
        extra={
            "event": "worker_failure",
            "run_id": run_id,
            "region": worker.region,
            "slice": worker.slice_index,
            "repositories": worker.repositories,
            "detail": worker.error,
        },
    )


def read_map_results(store: RunStore, manifest_key: str | None) -> MapOutcome:
    outcome = MapOutcome()
    if manifest_key is None:
        return outcome
    if not store.owns(manifest_key):
        raise InvalidEventError(f"manifestKey {manifest_key!r} is not under {store.prefix}; nothing was done")
    files = store.get_json(manifest_key).get("ResultFiles", {})
    for status, entries in sorted(files.items()):
        for entry in entries:
            key = str(entry["Key"])
            if not store.owns(key):
                raise RuntimeError(f"the map run's manifest names {key!r}, outside {store.prefix}")
            for execution in store.get_json(key):
                if status == "SUCCEEDED":
                    result = _worker_result(execution.get("Output"), store.run_id)
                    if result is None:
                        outcome.unreadable += 1
                    else:
                        outcome.results.setdefault(result.slice_index, result)
                else:
                    index = _slice_index(execution.get("Input"))
                    reason = _describe_error(status, execution.get("Error"), execution.get("Cause"))
                    if index is None:
                        outcome.unreadable += 1
                    else:
                        outcome.errors[index] = reason
    return outcome


def _worker_result(output: object, run_id: str) -> WorkerResult | None:
    try:
        result = WorkerResult.model_validate(json.loads(str(output)))
    except (ValueError, ValidationError):
        logger.error(
            "a worker's output could not be read",
            extra={"event": "worker_failure", "detail": str(output)[:MAX_MESSAGE]},
        )
        return None
    return result if result.run_id == run_id else None


def _slice_index(text: object) -> int | None:
    try:
        index = json.loads(str(text))["fanOut"]["sliceIndex"]
    except (ValueError, KeyError, TypeError):
        return None
    return index if isinstance(index, int) else None


def _describe_error(status: str, error: object, cause: object) -> str:
    """`Sandbox.Timedout: Task timed out after 900 seconds`: the error, then Lambda's message from the
    JSON cause (its errorType too, when it differs from the error)."""
    code = str(error or ("not run" if status == "PENDING" else status.lower()))
    detail = str(cause or "")
    try:
        parsed = json.loads(detail)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and "errorMessage" in parsed:
        kind = str(parsed.get("errorType") or "")
        detail = str(parsed["errorMessage"]) if kind in ("", code) else f"{kind}: {parsed['errorMessage']}"
    return f"{code}: {detail}"[:MAX_MESSAGE] if detail else code


def summarize(event: JanitorEvent, step: SummaryStep, config: Config) -> dict[str, Any]:
    home = aws.default_region() or next(iter(janitor.resolve_regions(config)), None)
    if home is None:
        raise RuntimeError("no region: set AWS_REGION; nothing was done")
    store = RunStore.from_environment(home, step.run_id)
    record = RunRecord.model_validate(store.get_json(store.key(RUN)))
    outcome = read_map_results(store, step.results.manifest_key)
    results = {i: r for i, r in outcome.results.items() if i < len(record.slices)}

    failed_workers: list[FailedWorker] = []
    for index, entry in enumerate(record.slices):
        if index not in results:
            reason = outcome.errors.get(index, "no result: the worker failed or never ran")
            failed_workers.append(FailedWorker(index, entry.region, entry.repositories, reason))
            audit_worker_failed(step.run_id, failed_workers[-1])

    totals = sum_totals(r.totals for r in results.values())
    unprocessed = sum(w.repositories for w in failed_workers)
    totals["repositoriesFailed"] += len(record.region_failures) + unprocessed
    totals["inUseSourcesFailed"] = len(record.in_use_source_failures)
    totals["repositoriesUnmatched"] = record.unmatched
    dry_run = all(r.dry_run for r in results.values()) if results else record.dry_run
    duration = max(0.0, (datetime.now(UTC) - record.started_at).total_seconds())
    telemetry.publish_totals(totals, metrics, duration_seconds=duration, dry_run=dry_run)
    metrics.flush_metrics()

    deferred: dict[str, list[str]] = {}
    for result in results.values():
        deferred.setdefault(result.region, []).extend(result.deferred)
    store.carry_over(deferred)

    failed_repositories = [f for r in sorted(results.values(), key=_by_index) for f in r.failed_repositories]
    omitted = sum(r.failed_repositories_omitted for r in results.values())
    has_failures = bool(
        failed_workers
        or record.region_failures
        or record.in_use_source_failures
        or any(r.status == "failed" for r in results.values())
    )
    message = _message(failed_workers, len(record.slices))
    summary: dict[str, Any] = {
        "status": "failed" if has_failures else "ok",
        "runId": step.run_id,
        "dryRun": dry_run,
        "dryRunReason": record.dry_run_reason,
        "durationSeconds": round(duration, 3),
        "totals": totals,
        "slices": len(record.slices),
        "workersFailed": len(failed_workers),
        "carriedOver": record.carried_over,
        "deferredToNextRun": sum(len(names) for names in deferred.values()),
        "message": message,
        "failedWorkers": [w.to_json() for w in failed_workers],
        "regionFailures": record.region_failures,
        "inUseSourceFailures": record.in_use_source_failures,
        "failedRepositories": failed_repositories,
        "failedRepositoriesOmitted": omitted,
    }
    store.put_json(store.key(SUMMARY), summary)
    logger.info(
        "fan-out run finished",
        extra={"event": "run_summary", "run_id": step.run_id, "status": summary["status"], "totals": totals},
    )
    # The state's output stays small: the lists are cut short here; summary.json has them all.
    listed = ("failedWorkers", "regionFailures", "inUseSourceFailures", "failedRepositories")
    short: dict[str, Any] = {
        key: value[:MAX_LISTED] if key in listed else value for key, value in summary.items()
    }
    return {**short, "summaryKey": store.key(SUMMARY)}


def _by_index(result: WorkerResult) -> int:
    return result.slice_index


def _message(failed_workers: Sequence[FailedWorker], slices: int) -> str:
    if not failed_workers:
        return f"all {slices} workers finished"
    first = failed_workers[0]
    repositories = sum(w.repositories for w in failed_workers)
    return (
        f"{len(failed_workers)} of {slices} workers failed; their {repositories} repositories count in "
        f"RepositoriesFailed. First: slice {first.slice_index} in {first.region}: {first.error}"
    )


def _positive_int(name: str, default: int) -> int:
    try:
        value = int(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value >= 1 else default


def fanout_concurrency() -> int:
    return _positive_int(ENV_FANOUT_CONCURRENCY, FANOUT_DEFAULT_CONCURRENCY)


def slice_size() -> int:
    return _positive_int(ENV_FANOUT_SLICE_SIZE, FANOUT_DEFAULT_SLICE_SIZE)
