"""Summary: add the workers' results up, count every slice without a result as failed, and publish the
run's metrics once, under the names the dashboard and the alarms use."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ecr_janitor.config import Config
from ecr_janitor.core.model import registry_key
from ecr_janitor.events import InvalidEventError, SummaryStep
from ecr_janitor.observability import account_metrics, logger, metrics
from ecr_janitor.outputs import audit
from ecr_janitor.outputs import metrics as run_metrics
from ecr_janitor.outputs.report import part_totals, run_totals, sum_totals
from ecr_janitor.run import janitor
from ecr_janitor.run.fanout.environment import run_store
from ecr_janitor.run.fanout.store import MAX_LISTED, MAX_MESSAGE, RUN, SUMMARY, RunStore, SliceEntry


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class WorkerResult(_Lenient):
    """What `work` returns, as the Distributed Map's ResultWriter stored it."""

    run_id: str = Field(alias="runId")
    slice_index: int = Field(alias="sliceIndex", ge=0)
    region: str
    account: str | None = None
    status: str
    dry_run: bool = Field(alias="dryRun")
    totals: dict[str, int]
    failed_repositories: list[dict[str, str | None]] = Field(default_factory=list, alias="failedRepositories")
    failed_repositories_omitted: int = Field(default=0, alias="failedRepositoriesOmitted")
    deferred: list[str] = Field(default_factory=list)


class RunRecord(_Lenient):
    """What `prepare` wrote to run.json."""

    run_id: str = Field(alias="runId")
    started_at: datetime = Field(alias="startedAt")
    dry_run: bool = Field(alias="dryRun")
    dry_run_reason: str = Field(alias="dryRunReason")
    slices: list[SliceEntry]
    accounts: list[str] = Field(default_factory=list)
    """The registries cleaned, by account id, when the run names them."""
    unmatched: int
    carried_over: int = Field(default=0, alias="carriedOver")
    region_failures: list[dict[str, str | None]] = Field(alias="regionFailures")
    in_use_source_failures: list[dict[str, str | None]] = Field(alias="inUseSourceFailures")
    in_use_source_warnings: list[dict[str, str | None]] = Field(
        default_factory=list, alias="inUseSourceWarnings"
    )


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
    account: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "sliceIndex": self.slice_index,
            "region": self.region,
            "account": self.account,
            "repositories": self.repositories,
            "error": self.error,
        }


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


def summarize(step: SummaryStep, config: Config) -> dict[str, Any]:
    regions = janitor.resolve_regions(config)
    if not regions:
        raise janitor.NoRegionError()
    audit.start_run(step.run_id)
    store = run_store(janitor.home_region(regions), step.run_id)
    record = RunRecord.model_validate(store.get_json(store.key(RUN)))
    outcome = read_map_results(store, step.results.manifest_key)
    results = {i: r for i, r in outcome.results.items() if i < len(record.slices)}

    failed_workers: list[FailedWorker] = []
    for index, entry in enumerate(record.slices):
        if index not in results:
            reason = outcome.errors.get(index, "no result: the worker failed or never ran")
            failed_workers.append(
                FailedWorker(index, entry.region, entry.repositories, reason, entry.account)
            )
            audit.worker_failed(
                step.run_id,
                region=entry.region,
                slice_index=index,
                repositories=entry.repositories,
                detail=reason,
            )

    unprocessed = sum(w.repositories for w in failed_workers)
    totals = run_totals(
        sum_totals(r.totals for r in results.values()),
        failed_outside_repositories=len(record.region_failures) + unprocessed,
        in_use_sources_failed=len(record.in_use_source_failures),
        unmatched=record.unmatched,
    )
    dry_run = all(r.dry_run for r in results.values()) if results else record.dry_run
    duration = max(0.0, (datetime.now(UTC) - record.started_at).total_seconds())
    run_metrics.publish_totals(totals, metrics, duration_seconds=duration, dry_run=dry_run)
    if config.accounts is not None:
        run_metrics.publish_accounts(_account_totals(record, results, failed_workers), account_metrics)
    metrics.flush_metrics()

    deferred: dict[str, list[str]] = {}
    for result in results.values():
        deferred.setdefault(registry_key(result.account, result.region), []).extend(result.deferred)
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
        "inUseSourceWarnings": record.in_use_source_warnings,
        "failedRepositories": failed_repositories,
        "failedRepositoriesOmitted": omitted,
    }
    store.put_json(store.key(SUMMARY), summary)
    logger.info(
        "fan-out run finished",
        extra={"event": "run_summary", "run_id": step.run_id, "status": summary["status"], "totals": totals},
    )
    # The state's output stays small: the lists are cut short here; summary.json has them all.
    listed = (
        "failedWorkers",
        "regionFailures",
        "inUseSourceFailures",
        "failedRepositories",
        "inUseSourceWarnings",
    )
    short: dict[str, Any] = {
        key: value[:MAX_LISTED] if key in listed else value for key, value in summary.items()
    }
    return {**short, "summaryKey": store.key(SUMMARY)}


def _account_totals(
    record: RunRecord, results: dict[int, WorkerResult], failed_workers: Sequence[FailedWorker]
) -> dict[str, dict[str, int]]:
    """Per cleaned account: its workers' totals, its slices without a result and its region failures."""
    return {
        account: part_totals(
            sum_totals(r.totals for r in results.values() if r.account == account),
            failed_outside_repositories=sum(w.repositories for w in failed_workers if w.account == account)
            + sum(f.get("account") == account for f in record.region_failures),
        )
        for account in record.accounts
    }


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
