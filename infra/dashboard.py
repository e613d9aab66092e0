"""The CloudWatch dashboard: the last run, the trends, what was deleted and what failed.

Built from the MetricSpecs of `ecr_janitor.constants`. To chart a new metric, add its spec to
`LAST_RUN` and to a `GraphPanel` in `PANELS` (or add a panel line); `tests/infra` fails until every
metric the function emits is on the dashboard.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from ecr_janitor import constants as c
from ecr_janitor.constants import MetricSpec
from infra.cloudwatch import (
    DURATION_WARNING_FRACTION,
    ECR_STORAGE_USD_PER_GB_MONTH,
    janitor_metric,
    monthly_savings_usd,
)
from infra.function import JanitorFunction

LAST_RUN: tuple[MetricSpec, ...] = (
    c.DRY_RUN,
    c.REPOSITORIES_PROCESSED,
    c.REPOSITORIES_FAILED,
    c.REPOSITORIES_SKIPPED,
    c.REPOSITORIES_BLOCKED,
    c.REPOSITORIES_DEFERRED,
    c.IN_USE_SOURCES_FAILED,
    c.POLICIES_CREATED,
    c.POLICIES_UPDATED,
    c.POLICIES_UNCHANGED,
    c.POLICY_DRIFT,
    c.IMAGES_SCANNED,
    c.IMAGES_EXPIRABLE,
    c.IMAGES_EXPIRED,
    c.IMAGES_PROTECTED,
    c.DELETE_FAILURES,
    c.BYTES_EXPIRABLE,
    c.BYTES_RECLAIMED,
    c.RUN_DURATION,
    # onRisk: hold
    c.POLICIES_HELD,
    c.POLICY_IMAGES_AT_RISK,
    # -- the archive storage class --
    c.IMAGES_ARCHIVABLE,
    c.IMAGES_ARCHIVED,
    c.ARCHIVE_FAILURES,
    c.ARCHIVED_IMAGES_EXPIRED,
    c.IMAGES_RESTORED,
    c.BYTES_ARCHIVABLE,
    c.BYTES_ARCHIVED,
)
"""The 'Last run' row, in this order."""


@dataclass(frozen=True, slots=True)
class GraphPanel:
    """One time-series graph of janitor metrics, summed per day: one point per nightly run."""

    title: str
    left: tuple[MetricSpec, ...]
    right: tuple[MetricSpec, ...] = ()


PANELS: tuple[GraphPanel, ...] = (
    GraphPanel("Images deleted (expired) and planned (expirable)", (c.IMAGES_EXPIRED, c.IMAGES_EXPIRABLE)),
    GraphPanel("Storage reclaimed and reclaimable (bytes, up to)", (c.BYTES_RECLAIMED, c.BYTES_EXPIRABLE)),
    # -- the archive storage class, beside expired and reclaimed --
    GraphPanel(
        "Archive class: images archived and archivable, deleted from the archive, restored",
        (c.IMAGES_ARCHIVED, c.IMAGES_ARCHIVABLE, c.ARCHIVED_IMAGES_EXPIRED, c.IMAGES_RESTORED),
        right=(c.ARCHIVE_FAILURES,),
    ),
    GraphPanel("Storage archived and archivable (bytes, up to)", (c.BYTES_ARCHIVED, c.BYTES_ARCHIVABLE)),
    GraphPanel(
        "Repositories",
        (
            c.REPOSITORIES_PROCESSED,
            c.REPOSITORIES_SKIPPED,
            c.REPOSITORIES_FAILED,
            c.REPOSITORIES_BLOCKED,
            c.REPOSITORIES_DEFERRED,
        ),
    ),
    GraphPanel("In-use sources that could not be read (deletions withheld)", (c.IN_USE_SOURCES_FAILED,)),
    GraphPanel(
        "Images kept by a protection, and delete failures",
        (c.IMAGES_PROTECTED, c.DELETE_FAILURES),
        right=(c.IMAGES_SCANNED,),
    ),
    GraphPanel(
        "Lifecycle policies (propagate mode)",
        (c.POLICIES_CREATED, c.POLICIES_UPDATED, c.POLICY_DRIFT),
        right=(c.POLICIES_UNCHANGED,),
    ),
    # onRisk: hold
    GraphPanel(
        "Lifecycle policies held (ECR would expire images the janitor protects)",
        (c.POLICIES_HELD,),
        right=(c.POLICY_IMAGES_AT_RISK,),
    ),
)

# Log lines of ecr_janitor.audit that the Logs Insights widgets read (tests check the function writes them).
REPOSITORY_EVENT = "repository"
DELETION_EVENT = "deletion"
FAILURE_EVENTS = ("delete_failure", "region_failure", "in_use_source_failure", "archive_failure")
FAILED_STATUSES = ("failed", "partial", "blocked")
REPOSITORY_FIELDS = ("region", "repository", "bytes_reclaimed", "images_expired")
DELETION_FIELDS = ("region", "repository", "digest", "tags", "rule", "reason", "size_bytes")
ARCHIVE_EVENTS = ("archive", "restore")
ARCHIVE_FIELDS = ("event", "run_id", "region", "repository", "digest", "tags", "rule", "reason")
FAILURE_FIELDS = ("event", "region", "repository", "status", "code", "detail")

TOP_REPOSITORIES = 20
LATEST_LINES = 50

WIDTH = 24
HALF = 12


def _quoted(values: Sequence[str]) -> str:
    return ", ".join(f'"{value}"' for value in values)


TOP_REPOSITORIES_QUERY = [
    f'filter event = "{REPOSITORY_EVENT}"',
    "stats sum(bytes_reclaimed) as bytesReclaimed, sum(images_expired) as imagesExpired"
    " by region, repository",
    "sort bytesReclaimed desc",
    f"limit {TOP_REPOSITORIES}",
]
LATEST_DELETIONS_QUERY = [
    f'filter event = "{DELETION_EVENT}"',
    "fields @timestamp, region, repository, digest, tags.0, tags.1, rule, reason, size_bytes",
    "sort @timestamp desc",
    f"limit {LATEST_LINES}",
]
LATEST_ARCHIVES_QUERY = [
    f"filter event in [{_quoted(ARCHIVE_EVENTS)}]",
    "fields @timestamp, event, run_id, region, repository, digest, tags.0, rule, reason, outcome",
    "sort @timestamp desc",
    f"limit {LATEST_LINES}",
]
LATEST_FAILURES_QUERY = [
    f"filter event in [{_quoted(FAILURE_EVENTS)}]"
    f' or (event = "{REPOSITORY_EVENT}" and status in [{_quoted(FAILED_STATUSES)}])'
    ' or level = "ERROR"',
    "fields @timestamp, event, region, repository, status, code, detail, message",
    "sort @timestamp desc",
    f"limit {LATEST_LINES}",
]


class JanitorDashboard(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        janitor: JanitorFunction,
        alarms: Sequence[cw.IAlarm],
    ) -> None:
        super().__init__(scope, construct_id)
        function, timeout = janitor.function, janitor.timeout
        self.dashboard = cw.Dashboard(
            self,
            "Dashboard",
            # Dashboard names are global to the account: the region keeps two deployments apart.
            dashboard_name=f"{Stack.of(self).stack_name}-{Aws.REGION}",
            default_interval=Duration.days(14),
        )
        log_groups = [janitor.log_group.log_group_name]
        self.dashboard.add_widgets(
            cw.TextWidget(markdown=_INTRO, width=WIDTH, height=3),
            cw.AlarmStatusWidget(title="Alarms", alarms=list(alarms), width=WIDTH, height=3),
        )
        self.dashboard.add_widgets(
            cw.SingleValueWidget(
                title="Last run (DryRun 1 = nothing was deleted)",
                metrics=[
                    janitor_metric(spec, statistic=cw.Stats.MAXIMUM, period=Duration.hours(1))
                    for spec in LAST_RUN
                ],
                width=WIDTH,
                height=5,
            )
        )
        self.dashboard.add_widgets(
            cw.SingleValueWidget(
                title="Over the selected time range",
                metrics=[
                    janitor_metric(c.IMAGES_EXPIRED),
                    janitor_metric(c.BYTES_RECLAIMED),
                    monthly_savings_usd(c.BYTES_RECLAIMED, label="Monthly savings bought (USD, up to)"),
                    janitor_metric(c.DELETE_FAILURES),
                    janitor_metric(c.REPOSITORIES_FAILED),
                    janitor_metric(c.IMAGES_ARCHIVED),
                    janitor_metric(c.IMAGES_RESTORED),
                ],
                set_period_to_time_range=True,
                width=WIDTH,
                height=4,
            )
        )
        graphs: list[cw.IWidget] = [_graph(panel) for panel in PANELS]
        graphs.append(
            cw.GraphWidget(
                title=f"Monthly savings (USD at {ECR_STORAGE_USD_PER_GB_MONTH} per GB-month, up to)",
                left=[
                    monthly_savings_usd(c.BYTES_RECLAIMED, label="Bought by deletions"),
                    monthly_savings_usd(c.BYTES_EXPIRABLE, label="Planned (dry run too)"),
                ],
                width=HALF,
            )
        )
        graphs.append(_duration_graph(function, timeout))
        self.dashboard.add_widgets(*graphs)
        self.dashboard.add_widgets(
            _log_table(
                log_groups,
                f"Top {TOP_REPOSITORIES} repositories by storage reclaimed",
                TOP_REPOSITORIES_QUERY,
            ),
            _log_table(log_groups, "Latest failures", LATEST_FAILURES_QUERY),
            _log_table(
                log_groups, "Latest deletions (audit)", LATEST_DELETIONS_QUERY, width=WIDTH, height=10
            ),
            _log_table(
                log_groups,
                "Latest archivings and restores (audit; restore --run RUN_ID undoes a night)",
                LATEST_ARCHIVES_QUERY,
                width=WIDTH,
            ),
        )


def _log_table(
    log_groups: list[str], title: str, query: list[str], *, width: int = HALF, height: int = 8
) -> cw.LogQueryWidget:
    """A Logs Insights table over the function's log group: the audit trail, read in the dashboard."""
    table = cw.LogQueryVisualizationType.TABLE
    return cw.LogQueryWidget(
        title=title, log_group_names=log_groups, query_lines=query, view=table, width=width, height=height
    )


def _graph(panel: GraphPanel) -> cw.GraphWidget:
    return cw.GraphWidget(
        title=panel.title,
        left=[janitor_metric(spec) for spec in panel.left],
        right=[janitor_metric(spec) for spec in panel.right],
        width=HALF,
    )


def _duration_graph(function: lambda_.IFunction, timeout: Duration) -> cw.GraphWidget:
    seconds = timeout.to_seconds()
    return cw.GraphWidget(
        title="Run duration against the timeout (seconds)",
        left=[
            janitor_metric(c.RUN_DURATION, statistic=cw.Stats.MAXIMUM, label="Run (janitor)"),
            cw.MathExpression(
                expression="duration / 1000",
                using_metrics={"duration": function.metric_duration(statistic=cw.Stats.MAXIMUM)},
                label="Invocation (Lambda, includes timeouts)",
                period=Duration.days(1),
            ),
        ],
        left_y_axis=cw.YAxisProps(min=0, max=seconds * 1.1, show_units=False),
        left_annotations=[
            cw.HorizontalAnnotation(value=seconds, label="Timeout", color=cw.Color.RED),
            cw.HorizontalAnnotation(
                value=seconds * DURATION_WARNING_FRACTION,
                label="Alarm: near the timeout",
                color=cw.Color.ORANGE,
            ),
        ],
        width=HALF,
    )


_INTRO = (
    "## ECR Janitor\n"
    "One row per nightly run. **DryRun 1** means the run only planned: *expirable* is what it would delete, "
    "*expired* what ECR confirmed deleted. Sizes are compressed and shared layers count once per image, "
    "so storage and savings are upper bounds. Savings: bytes reclaimed x "
    f"{ECR_STORAGE_USD_PER_GB_MONTH} USD per GB-month (ECR storage, most regions). *Archived*: moved to "
    "ECR's archive class (not pullable, restorable); below 150 TB a month it costs as much as standard "
    "storage."
)
