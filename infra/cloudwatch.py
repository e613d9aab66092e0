"""CloudWatch metrics for the MetricSpecs of `ecr_janitor.constants`, and the numbers the dashboard shares
with the alarms. Every janitor metric has the namespace and the single `service` dimension the function
emits with; nothing here spells a metric name."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw

from ecr_janitor.constants import (
    BYTES_PER_GB,
    METRICS_NAMESPACE,
    SERVICE_DIMENSION,
    SERVICE_NAME,
    STANDARD_STORAGE_USD_PER_GB_MONTH,
    MetricSpec,
)

DIMENSIONS: dict[str, str] = {SERVICE_DIMENSION: SERVICE_NAME}

ECR_STORAGE_USD_PER_GB_MONTH = STANDARD_STORAGE_USD_PER_GB_MONTH
"""Amazon ECR private storage, USD per GB-month, in most regions (https://aws.amazon.com/ecr/pricing/).
A few regions cost more; the savings widgets are estimates either way. The function's cost model uses the
same constant."""

DAILY = Duration.days(1)
"""The default period: one nightly run per data point."""

DURATION_WARNING_FRACTION = 0.8
"""A run longer than this share of the timeout is near it: the registry outgrows one invocation."""


def janitor_metric(
    spec: MetricSpec,
    *,
    statistic: str = cw.Stats.SUM,
    period: Duration = DAILY,
    label: str | None = None,
) -> cw.Metric:
    return cw.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=spec.name,
        dimensions_map=dict(DIMENSIONS),
        statistic=statistic,
        period=period,
        label=label,  # None: CloudWatch labels it with the metric name
    )


def monthly_savings_usd(spec: MetricSpec, *, label: str, period: Duration = DAILY) -> cw.MathExpression:
    """Storage no longer billed each month: bytes of `spec` per period / GB * price. Sizes are compressed
    and shared layers are counted once per image, so this is an upper bound ("up to")."""
    variable = spec.name[0].lower() + spec.name[1:]  # a math id: starts lower case, unique per spec
    return cw.MathExpression(
        expression=f"{variable} / {BYTES_PER_GB} * {ECR_STORAGE_USD_PER_GB_MONTH}",
        using_metrics={variable: janitor_metric(spec, period=period)},
        label=label,
        period=period,  # a math expression overrides the period of its metrics
    )
