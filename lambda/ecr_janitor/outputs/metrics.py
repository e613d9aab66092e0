"""A run's metrics, as EMF through Powertools: every metric of the catalogue (constants.ALL_METRICS),
every run, zeros included, with the one dimension `service`. A run that cleans the registries of several
accounts (`accounts`) also publishes constants.ACCOUNT_METRICS per account, each account in a blob of
its own with dimensions {service, Account}, so the totals' blob keeps its single dimension set."""

from __future__ import annotations

from collections.abc import Mapping

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import EphemeralMetrics

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


def publish(report: RunReport, sink: Metrics, per_account: EphemeralMetrics | None = None) -> None:
    publish_totals(report.totals(), sink, duration_seconds=report.duration_seconds, dry_run=report.dry_run)
    if per_account is not None:
        publish_accounts(report.account_totals(), per_account)


def publish_totals(
    totals: Mapping[str, int], sink: Metrics, *, duration_seconds: float, dry_run: bool
) -> None:
    for spec, value in metric_values(totals, duration_seconds=duration_seconds, dry_run=dry_run).items():
        sink.add_metric(name=spec.name, unit=spec.unit, value=value)


def publish_accounts(totals_by_account: Mapping[str, Mapping[str, int]], sink: EphemeralMetrics) -> None:
    for account, totals in sorted(totals_by_account.items()):
        sink.add_dimension(name=c.ACCOUNT_DIMENSION, value=account)
        for spec in c.ACCOUNT_METRICS:
            assert spec.total is not None
            sink.add_metric(name=spec.name, unit=spec.unit, value=totals[spec.total])
        sink.flush_metrics()
        sink.clear_metrics()  # flush leaves them when metrics are disabled
