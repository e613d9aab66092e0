"""Turns a run report into the EMF metrics of metrics.py: every metric, every run, zeros included."""

from __future__ import annotations

from collections.abc import Mapping

from aws_lambda_powertools import Metrics

from ecr_janitor import metrics as m
from ecr_janitor.report import RunReport


def metric_values(report: RunReport) -> dict[m.MetricSpec, float]:
    return metric_values_from_totals(
        report.totals(), duration_seconds=report.duration_seconds, dry_run=report.dry_run
    )


def metric_values_from_totals(
    totals: Mapping[str, int], *, duration_seconds: float, dry_run: bool
) -> dict[m.MetricSpec, float]:
    """The metrics of a run known only by its totals (RunReport.totals()): a fan-out run's summary."""
    return {
        m.IMAGES_SCANNED: totals["imagesScanned"],
        m.IMAGES_EXPIRABLE: totals["imagesExpirable"],
        m.BYTES_EXPIRABLE: totals["bytesExpirable"],
        m.IMAGES_EXPIRED: totals["imagesExpired"],
        m.BYTES_RECLAIMED: totals["bytesReclaimed"],
        m.IMAGES_PROTECTED: totals["imagesProtected"],
        m.DELETE_FAILURES: totals["deleteFailures"],
        m.REPOSITORIES_PROCESSED: totals["repositories"] - totals["repositoriesSkipped"],
        m.REPOSITORIES_SKIPPED: totals["repositoriesSkipped"],
        m.REPOSITORIES_FAILED: totals["repositoriesFailed"],
        m.REPOSITORIES_BLOCKED: totals["repositoriesBlocked"],
        m.REPOSITORIES_DEFERRED: totals["repositoriesDeferred"],
        m.IN_USE_SOURCES_FAILED: totals["inUseSourcesFailed"],
        m.POLICIES_CREATED: totals["policiesCreated"],
        m.POLICIES_UPDATED: totals["policiesUpdated"],
        m.POLICIES_UNCHANGED: totals["policiesUnchanged"],
        m.POLICY_DRIFT: totals["policyDrift"],
        m.RUN_DURATION: round(duration_seconds, 3),
        m.DRY_RUN: 1 if dry_run else 0,
    }


def publish(report: RunReport, sink: Metrics) -> None:
    _add(metric_values(report), sink)


def publish_totals(
    totals: Mapping[str, int], sink: Metrics, *, duration_seconds: float, dry_run: bool
) -> None:
    _add(metric_values_from_totals(totals, duration_seconds=duration_seconds, dry_run=dry_run), sink)


def _add(values: Mapping[m.MetricSpec, float], sink: Metrics) -> None:
    for spec, value in values.items():
        sink.add_metric(name=spec.name, unit=spec.unit, value=value)
