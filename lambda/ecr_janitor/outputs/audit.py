"""Structured log lines: one per repository outcome, one per deletion, archiving and restore, and one per
failure, for a later audit. Each line carries an `event` key, which the dashboard's Logs Insights queries
select on, and the `run_id` of its run, which `restore --run` selects on."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from typing import Any

from ecr_janitor.core.model import DeleteFailure, InspectorUse, RegionFailure, SourceFailure
from ecr_janitor.core.propagate import PolicyStatus
from ecr_janitor.core.retain import Decision
from ecr_janitor.observability import log_lines, logger
from ecr_janitor.outputs.report import RepositoryReport, Status

DELETION_EVENT = "deletion"
"""The line of an image ECR confirmed deleted: the audit trail (the dashboard's 'Latest deletions')."""
ARCHIVE_EVENT = "archive"
"""The line of an image ECR confirmed ARCHIVED: what `restore --run` reads back."""
RESTORE_EVENT = "restore"
RUN_ID_KEY = "run_id"


INFO, WARNING, ERROR = logging.INFO, logging.WARNING, logging.ERROR


def _lines(level: int, message: str, event: str, lines: Iterable[dict[str, Any]]) -> None:
    """Every audit line is written here (so they all carry the same `location`)."""
    log_lines(level, message, [{"event": event, **fields} for fields in lines])


def _line(level: int, message: str, event: str, **fields: Any) -> None:
    _lines(level, message, event, [fields])


def start_run(run_id: str) -> None:
    """From here on every line carries `run_id`."""
    logger.append_keys(**{RUN_ID_KEY: run_id})


def repository_outcome(report: RepositoryReport, *, dry_run: bool) -> None:
    policy = report.policy
    _line(
        WARNING
        if report.status in (Status.FAILED, Status.PARTIAL)
        or (policy and (policy.status is PolicyStatus.HELD or policy.at_risk))
        else INFO,
        "repository processed",
        "repository",
        region=report.repository.region,
        repository=report.repository.name,
        account=report.repository.account,
        mode=report.mode,
        target=report.target_index,
        status=report.status.value,
        detail=report.message,
        dry_run=dry_run,
        images_scanned=report.images_scanned,
        images_expirable=len(report.expirable),
        images_expired=len(report.deleted_digests),
        images_protected=report.protected_count,
        bytes_expirable=report.bytes_expirable,
        bytes_reclaimed=report.bytes_reclaimed,
        delete_failures=len(report.delete_failures),
        images_archivable=len(report.archivable),
        images_archived=len(report.archived_digests),
        bytes_archived=report.bytes_archived,
        archive_failures=len(report.archiving.failures),
        archived_images_expired=report.archived_images_expired,
        policy_status=policy.status.value if policy else None,
        policy_written=policy.written if policy else None,
        policy_differences=list(policy.differences) if policy else None,
        policy_images_at_risk=len(policy.at_risk) if policy else None,
    )


def policy_written(
    region: str,
    repository: str,
    status: PolicyStatus,
    *,
    previous: Any,
    written: Any,
    account: str | None = None,
) -> None:
    _line(
        INFO,
        "lifecycle policy written",
        "policy_written",
        region=region,
        repository=repository,
        account=account,
        policy_status=status.value,
        previous_policy=previous,
        policy=written,
    )


def images_deleted(
    region: str, repository: str, decisions: Sequence[Decision], *, account: str | None = None
) -> None:
    """A line per image ECR confirmed deleted (one batch's, written together)."""
    lines = (_acted_on(region, repository, d, account) for d in decisions)
    _lines(INFO, "image deleted", DELETION_EVENT, lines)


def delete_failed(
    region: str, repository: str, failure: DeleteFailure, *, account: str | None = None
) -> None:
    _failure(
        WARNING,
        "image not deleted",
        "delete_failure",
        failure,
        region=region,
        repository=repository,
        account=account,
    )


def images_archived(
    region: str, repository: str, decisions: Sequence[Decision], *, account: str | None = None
) -> None:
    lines = (_acted_on(region, repository, d, account) for d in decisions)
    _lines(INFO, "image archived", ARCHIVE_EVENT, lines)


def archive_failed(
    region: str, repository: str, failure: DeleteFailure, *, account: str | None = None
) -> None:
    _failure(
        WARNING,
        "image not archived",
        "archive_failure",
        failure,
        region=region,
        repository=repository,
        account=account,
    )


def image_restored(
    region: str,
    repository: str,
    digest: str,
    tags: tuple[str, ...],
    *,
    outcome: str,
    detail: str,
    restoring: str,
) -> None:
    """`restore`'s line for one image (its run_id is the restore's own; `restoring` says what it undoes)."""
    _line(
        INFO if outcome in ("restored", "already-active", "would-restore") else WARNING,
        "image restore",
        RESTORE_EVENT,
        region=region,
        repository=repository,
        digest=digest,
        tags=list(tags),
        outcome=outcome,
        detail=detail,
        restoring=restoring,
    )


def _acted_on(region: str, repository: str, decision: Decision, account: str | None) -> dict[str, Any]:
    """What a deletion or archiving line says about the image and why (and whose registry it is in)."""
    image = decision.image
    return {
        "region": region,
        "repository": repository,
        "account": account,
        "digest": image.digest,
        "tags": list(image.tags),
        "pushed_at": image.pushed_at.isoformat(),
        "last_pulled_at": image.last_pulled_at.isoformat() if image.last_pulled_at else None,
        "size_bytes": image.size_bytes,
        "rule": decision.reason.rule_priority,
        "reason": decision.reason.detail,
    }


def region_failed(failure: RegionFailure) -> None:
    _failure(ERROR, "region not processed", "region_failure", failure)


def source_failed(failure: SourceFailure) -> None:
    _failure(ERROR, "in-use source not read; deletions withheld", "in_use_source_failure", failure)


def inspector_use(use: InspectorUse) -> None:
    """Whether Inspector's in-use signal counted in a region, stated either way."""
    _line(INFO, use.describe(), "inspector", **asdict(use))


def source_ignored(failure: SourceFailure) -> None:
    _failure(
        WARNING,
        "in-use source not read; ignored as configured, deletions go on",
        "in_use_source_ignored",
        failure,
    )


def _failure(
    level: int,
    message: str,
    event: str,
    failure: DeleteFailure | RegionFailure | SourceFailure,
    **context: Any,
) -> None:
    """A failure's fields as they are, except its message, which goes out as `detail`."""
    fields = asdict(failure)
    detail = fields.pop("message")
    _line(level, message, event, **context, **fields, detail=detail)


def deferred(region: str, count: int, resume_at: str, *, account: str | None = None) -> None:
    _line(
        WARNING,
        "repositories deferred to the next run",
        "deferred",
        region=region,
        deferred=count,
        resume_at=resume_at,
        account=account,
    )


def worker_failed(run_id: str, *, region: str, slice_index: int, repositories: int, detail: str) -> None:
    _line(
        ERROR,
        "worker failed: its slice's repositories count as failed",
        "worker_failure",
        run_id=run_id,
        region=region,
        slice=slice_index,
        repositories=repositories,
        detail=detail,
    )
