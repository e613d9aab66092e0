"""A run's metrics, as EMF through Powertools: every metric of the catalogue (constants.ALL_METRICS),
every run, zeros included."""

from __future__ import annotations

from collections.abc import Mapping

from aws_lambda_powertools import Metrics

from ecr_janitor import constants as c
from ecr_janitor.outputs.report import RunReport


def metric_values(
    totals: Mapping[str, int], *, duration_seconds: float, dry_run: bool
) -> dict[c.MetricSpec, float]:
    """The value of every metric, from a run's totals (RunReport.totals(), or a fan-out run's sum)."""
    worked_out = {
        c.REPOSITORIES_PROCESSED: totals["repositories"] - totals["repositoriesSkipped"],
        c.RUN_DURATION: round(duration_seconds, 3),
        c.DRY_RUN: 1 if dry_run else 0,
    }
    return {
        spec: totals[spec.total] if spec.total is not None else worked_out[spec] for spec in c.ALL_METRICS
    }


def publish(report: RunReport, sink: Metrics) -> None:
    publish_totals(report.totals(), sink, duration_seconds=report.duration_seconds, dry_run=report.dry_run)


def publish_totals(
    totals: Mapping[str, int], sink: Metrics, *, duration_seconds: float, dry_run: bool
) -> None:
    for spec, value in metric_values(totals, duration_seconds=duration_seconds, dry_run=dry_run).items():
        sink.add_metric(name=spec.name, unit=spec.unit, value=value)
