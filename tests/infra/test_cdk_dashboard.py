"""The dashboard: every janitor metric on it, the savings maths, the timeout line, the log queries."""

from __future__ import annotations

import json
from typing import Any

from ecr_janitor import constants as c
from ecr_janitor.constants import BYTES_PER_GB, METRICS_NAMESPACE, SERVICE_DIMENSION, SERVICE_NAME
from infra import dashboard as d
from infra.cloudwatch import ECR_STORAGE_USD_PER_GB_MONTH
from tests.infra.cdk_support import (
    MetricRef,
    Synthesized,
    dashboard_expressions,
    dashboard_metrics,
    resolve_join,
)


def _widgets(body: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [w["properties"] for w in body["widgets"] if w["type"] == kind]


def _titled(body: dict[str, Any], start: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        w["properties"] for w in body["widgets"] if w["properties"].get("title", "").startswith(start)
    ]
    assert len(found) == 1, f"one widget titled {start}..., found {len(found)}"
    return found[0]


def test_every_metric_the_function_emits_is_on_the_dashboard(dashboard: dict[str, Any]) -> None:
    charted = {ref.name for _, ref in dashboard_metrics(dashboard)}
    missing = [spec.name for spec in c.ALL_METRICS if spec.name not in charted]
    assert not missing, f"add {missing} to LAST_RUN and to a GraphPanel in infra/dashboard.py"


def test_last_run_row_shows_every_metric_in_order(dashboard: dict[str, Any]) -> None:
    assert {spec.name for spec in d.LAST_RUN} == {spec.name for spec in c.ALL_METRICS}
    last_run = _titled(dashboard, "Last run")
    assert last_run["view"] == "singleValue"
    assert [entry[1] for entry in last_run["metrics"]] == [spec.name for spec in d.LAST_RUN]


def test_janitor_metrics_use_the_namespace_and_the_service_dimension_only(
    dashboard: dict[str, Any],
) -> None:
    janitor = {METRICS_NAMESPACE}
    for title, ref in dashboard_metrics(dashboard):
        if ref.namespace in janitor:
            assert ref.dimensions == ((SERVICE_DIMENSION, SERVICE_NAME),), title
        else:  # Lambda's own Duration, for timeouts the janitor can't report itself
            assert (ref.namespace, ref.name, [k for k, _ in ref.dimensions]) == (
                "AWS/Lambda",
                "Duration",
                ["FunctionName"],
            ), title


def test_monthly_savings_are_bytes_times_the_ecr_storage_price(dashboard: dict[str, Any]) -> None:
    assert ECR_STORAGE_USD_PER_GB_MONTH == 0.10
    assert BYTES_PER_GB == 2**30
    expressions = {e["expression"] for e in dashboard_expressions(dashboard)}
    assert "bytesReclaimed / 1073741824 * 0.1" in expressions
    assert "bytesExpirable / 1073741824 * 0.1" in expressions
    savings = _titled(dashboard, "Monthly savings")
    inputs = {entry[1]: entry[-1] for entry in savings["metrics"] if isinstance(entry[0], str)}
    assert inputs == {
        "BytesReclaimed": {"id": "bytesReclaimed", "visible": False, "period": 86400, "stat": "Sum"},
        "BytesExpirable": {"id": "bytesExpirable", "visible": False, "period": 86400, "stat": "Sum"},
    }


def test_totals_over_the_time_range(dashboard: dict[str, Any]) -> None:
    totals = _titled(dashboard, "Over the selected time range")
    assert totals["setPeriodToTimeRange"] is True
    assert [e[0]["expression"] for e in totals["metrics"] if isinstance(e[0], dict)] == [
        "bytesReclaimed / 1073741824 * 0.1"
    ]


def test_run_duration_is_drawn_against_the_timeout(default: Synthesized, dashboard: dict[str, Any]) -> None:
    timeout = default.only("AWS::Lambda::Function")["Properties"]["Timeout"]
    duration = _titled(dashboard, "Run duration")
    assert [(a["value"], a["label"]) for a in duration["annotations"]["horizontal"]] == [
        (timeout, "Timeout"),
        (timeout * 0.8, "Alarm: near the timeout"),
    ]
    assert duration["metrics"][0][:2] == [METRICS_NAMESPACE, c.RUN_DURATION.name]


def test_every_graph_panel_is_drawn(dashboard: dict[str, Any]) -> None:
    for panel in d.PANELS:
        graph = _titled(dashboard, panel.title)
        assert [entry[1] for entry in graph["metrics"]] == [s.name for s in (*panel.left, *panel.right)]


def test_alarm_status_lists_every_alarm(default: Synthesized, dashboard: dict[str, Any]) -> None:
    (status,) = _widgets(dashboard, "alarm")
    assert len(status["alarms"]) == len(default.resources("AWS::CloudWatch::Alarm")) == 10


def test_logs_insights_widgets_query_the_function_log_group(
    default: Synthesized, dashboard: dict[str, Any]
) -> None:
    (log_group_id,) = default.resources("AWS::Logs::LogGroup")
    body = json.dumps(default.only("AWS::CloudWatch::Dashboard")["Properties"]["DashboardBody"])
    assert json.dumps({"Ref": log_group_id}) in body
    queries = {w["title"]: w["query"] for w in _widgets(dashboard, "log")}
    assert sorted(queries) == [
        "Latest archivings and restores (audit; restore --run RUN_ID undoes a night)",
        "Latest deletions (audit)",
        "Latest failures",
        "Top 20 repositories by storage reclaimed",
    ]
    assert all(query.startswith("SOURCE 'TOKEN' | filter event") for query in queries.values())
    assert "| sort bytesReclaimed desc\n| limit 20" in queries["Top 20 repositories by storage reclaimed"]
    assert 'filter event = "deletion"' in queries["Latest deletions (audit)"]
    failures = queries["Latest failures"]
    assert (
        'event in ["delete_failure", "region_failure", "in_use_source_failure", "archive_failure"]'
        in failures
    )
    assert 'status in ["failed", "partial", "blocked"]' in failures
    archives = queries["Latest archivings and restores (audit; restore --run RUN_ID undoes a night)"]
    assert 'filter event in ["archive", "restore"]' in archives


def test_the_queries_read_the_fields_they_name(dashboard: dict[str, Any]) -> None:
    queries = " ".join(w["query"] for w in _widgets(dashboard, "log"))
    for field in {*d.REPOSITORY_FIELDS, *d.DELETION_FIELDS, *d.FAILURE_FIELDS, *d.ARCHIVE_FIELDS}:
        assert field in queries, field


def test_dashboard_name_keeps_regions_apart(default: Synthesized) -> None:
    name = default.only("AWS::CloudWatch::Dashboard")["Properties"]["DashboardName"]
    assert resolve_join(name, "${AWS::Region}") == "EcrJanitor-${AWS::Region}"


def test_metric_ref_parsing_keeps_dimension_pairs() -> None:
    body = {"widgets": [{"properties": {"title": "t", "metrics": [["N", "M", "a", "1", "b", "2", {}]]}}]}
    assert list(dashboard_metrics(body)) == [("t", MetricRef.of("N", "M", {"b": "2", "a": "1"}))]
