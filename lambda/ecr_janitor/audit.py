"""Structured log lines: one per repository outcome and one per deletion, for a later audit."""

from __future__ import annotations

from typing import Any

from ecr_janitor.in_use import SourceFailure
from ecr_janitor.lifecycle import PolicyStatus
from ecr_janitor.observability import logger
from ecr_janitor.policy import Decision
from ecr_janitor.registry import DeleteFailure
from ecr_janitor.report import RegionFailure, RepositoryReport, Status


def repository_outcome(report: RepositoryReport, *, dry_run: bool) -> None:
    level = logger.warning if report.status in (Status.FAILED, Status.PARTIAL) else logger.info
    level(
        "repository processed",
        extra={
            "event": "repository",
            "region": report.repository.region,
            "repository": report.repository.name,
            "mode": report.mode,
            "target": report.target_index,
            "status": report.status.value,
            "detail": report.message,
            "dry_run": dry_run,
            "images_scanned": report.images_scanned,
            "images_expirable": len(report.expirable),
            "images_expired": len(report.deleted_digests),
            "images_protected": report.protected_count,
            "bytes_expirable": report.bytes_expirable,
            "bytes_reclaimed": report.bytes_reclaimed,
            "delete_failures": len(report.delete_failures),
            "policy_status": report.policy.status.value if report.policy else None,
            "policy_written": report.policy.written if report.policy else None,
            "policy_differences": list(report.policy.differences) if report.policy else None,
        },
    )


def policy_written(
    region: str, repository: str, status: PolicyStatus, *, previous: Any, written: Any
) -> None:
    logger.info(
        "lifecycle policy written",
        extra={
            "event": "policy_written",
            "region": region,
            "repository": repository,
            "policy_status": status.value,
            "previous_policy": previous,
            "policy": written,
        },
    )


def image_deleted(region: str, repository: str, decision: Decision) -> None:
    image = decision.image
    logger.info(
        "image deleted",
        extra={
            "event": "deletion",
            "region": region,
            "repository": repository,
            "digest": image.digest,
            "tags": list(image.tags),
            "pushed_at": image.pushed_at.isoformat(),
            "last_pulled_at": image.last_pulled_at.isoformat() if image.last_pulled_at else None,
            "size_bytes": image.size_bytes,
            "rule": decision.reason.rule_priority,
            "reason": decision.reason.detail,
        },
    )


def delete_failed(region: str, repository: str, failure: DeleteFailure) -> None:
    logger.warning(
        "image not deleted",
        extra={
            "event": "delete_failure",
            "region": region,
            "repository": repository,
            "digest": failure.digest,
            "code": failure.code,
            "detail": failure.message,
        },
    )


def region_failed(failure: RegionFailure) -> None:
    logger.error(
        "region not processed",
        extra={
            "event": "region_failure",
            "region": failure.region,
            "code": failure.code,
            "detail": failure.message,
        },
    )


def source_failed(failure: SourceFailure) -> None:
    logger.error(
        "in-use source not read; deletions withheld",
        extra={
            "event": "in_use_source_failure",
            "region": failure.region,
            "source": failure.source,
            "code": failure.code,
            "detail": failure.message,
        },
    )


def deferred(region: str, count: int, resume_at: str) -> None:
    logger.warning(
        "repositories deferred to the next run",
        extra={"event": "deferred", "region": region, "deferred": count, "resume_at": resume_at},
    )
