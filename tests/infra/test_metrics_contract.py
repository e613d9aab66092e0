"""The contract between the dashboard/alarms and the function: every metric they chart or watch is one
the function really emits, with the same namespace and the same full dimension set, and the Logs
Insights widgets read fields the function really writes.

The real handler runs twice against the local moto-backed ECR (devtools.local_ecr): a night when a
region's listing and an in-use source can't be read (which withholds every region's deletions), then a
night when it deletes, skips, protects and sees a refused deletion, so every kind of line and metric is
produced.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devtools.accounts import LocalAccounts
from devtools.local_ecr import ACCOUNT_ID, Fault, LocalEcr
from devtools.seed import Seeder
from ecr_janitor import constants as c
from ecr_janitor.constants import METRICS_NAMESPACE, SERVICE_DIMENSION, SERVICE_NAME
from infra import dashboard as d
from tests.factories import FakeLambdaContext, config_document, rule, transition
from tests.infra.cdk_support import MetricRef, Synthesized, alarm_metrics, dashboard_metrics

REGION = "us-east-1"
FAILING_REGION = "us-west-2"
NOW = datetime.now(UTC)
DECLARED = {
    MetricRef.of(METRICS_NAMESPACE, spec.name, {SERVICE_DIMENSION: SERVICE_NAME}) for spec in c.ALL_METRICS
}
AWS_NAMESPACES = ("AWS/Lambda", "AWS/SQS")

CONFIG: dict[str, Any] = {
    **config_document(
        dry_run=False,
        policy={
            "rules": [
                rule(1, "untagged", "sinceImagePushed", 14),
                rule(2, "any", "imageCountMoreThan", 2),
            ]
        },
    ),
    "regions": [FAILING_REGION, REGION],
    "protect": {"tags": ["release-*"]},
}
ARCHIVING_TARGET = {  # first, so that it covers team/archive: a night that archives, too
    "repositories": ["team/archive"],
    "mode": "retain",
    "policy": {"rules": [transition(rule(1, "any", "sinceImagePushed", 14))]},
}
CONFIG["targets"].insert(0, ARCHIVING_TARGET)


@dataclass(frozen=True)
class Run:
    responses: tuple[dict[str, Any], ...]
    """The handler's results: the blocked night, then the cleaning night."""
    emf: list[dict[str, Any]]
    logs: list[dict[str, Any]]

    def emitted(self) -> dict[MetricRef, str]:
        """Every metric in the EMF blobs, with its unit."""
        found: dict[MetricRef, str] = {}
        for blob in self.emf:
            for directive in blob["_aws"]["CloudWatchMetrics"]:
                for dimension_set in directive["Dimensions"]:
                    dimensions = {name: str(blob[name]) for name in dimension_set}
                    for metric in directive["Metrics"]:
                        ref = MetricRef.of(directive["Namespace"], metric["Name"], dimensions)
                        found[ref] = metric.get("Unit", "None")
        return found

    def lines(self, *events: str) -> list[dict[str, Any]]:
        return [line for line in self.logs if line.get("event") in events]


def _seed(ecr: LocalEcr) -> None:
    seeder = Seeder(ecr, REGION)
    old, new = NOW - timedelta(days=30), NOW - timedelta(days=1)
    seeder.repository("team/api")
    for _ in range(3):
        seeder.image("team/api", pushed_at=old)  # untagged, older than 14 days: expired by rule 1
    refused = seeder.image("team/api", pushed_at=old)
    ecr.strict.refused_deletions[refused] = ("ImageReferencedByManifestList", "still in an index")
    seeder.image("team/api", pushed_at=new, tags=["main-1"])
    seeder.image("team/api", pushed_at=new - timedelta(hours=1), tags=["main-2"])
    seeder.image("team/api", pushed_at=old, tags=["release-1"])  # rule 2 would expire it; protected
    seeder.repository("team/frozen", {"ecr-janitor:skip": "true"})
    seeder.image("team/frozen", pushed_at=old)
    seeder.repository("team/archive")
    seeder.image("team/archive", pushed_at=old, tags=["v1"])  # archived by the transition rule
    refused_archive = seeder.image("team/archive", pushed_at=old, tags=["v2"])
    refusal = ("ImageStorageClassUpdateNotSupportedException", "not supported")
    ecr.strict.refused_storage_updates[refused_archive] = refusal


def _break_one_region(ecr: LocalEcr) -> None:
    """The first region's listing is refused: a region failure. Its Batch jobs can't be read either: an
    in-use source failure, which withholds deletions in every region (a workload in one region may pull
    from another's repositories)."""
    ecr.strict.faults.append(Fault("DescribeRepositories", "AccessDeniedException", "no access", times=1))
    ecr.strict.faults.append(
        Fault("*", "AccessDeniedException", "no access", times=None, service="batch", region=FAILING_REGION)
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    config_file = tmp_path_factory.mktemp("contract") / "ecr-janitor.json"
    config_file.write_text(json.dumps(CONFIG))
    ecr = LocalEcr().start()
    try:
        ecr.reset()
        _seed(ecr)
        _break_one_region(ecr)
        with pytest.MonkeyPatch.context() as patch:
            _deployed(patch, ecr, config_file)
            blocked = _invoke(patch)
            ecr.strict.faults.clear()
            cleaned = _invoke(patch)
            yield Run(
                blocked.responses + cleaned.responses, blocked.emf + cleaned.emf, blocked.logs + cleaned.logs
            )
    finally:
        ecr.reset()
        ecr.stop()


def _deployed(patch: pytest.MonkeyPatch, ecr: LocalEcr, config_file: Path) -> None:
    """The environment of the deployed function, pointed at the local ECR."""
    patch.delenv("AWS_PROFILE", raising=False)
    patch.delenv("POWERTOOLS_DEV", raising=False)
    for name, value in {
        "AWS_ENDPOINT_URL": ecr.endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "ECR_JANITOR_CONFIG": str(config_file),
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "false",
    }.items():
        patch.setenv(name, value)


def _invoke(patch: pytest.MonkeyPatch) -> Run:
    from aws_lambda_powertools.metrics.provider import cold_start

    from ecr_janitor import handler, observability

    # Powertools keeps metrics and the cold-start flag in module state: start from nothing.
    observability.metrics.clear_metrics()
    observability.metrics.clear_default_dimensions()
    cold_start.is_cold_start = True
    patch.setattr(observability.tracer, "disabled", True)  # in case it was created before the env var

    # EMF goes to stdout, logs to stderr. The log handler may hold the stream it was created with, or
    # look up sys.stderr at each line: capture both ways.
    stdout, logs = io.StringIO(), io.StringIO()
    log_handler = observability.logger.registered_handler
    assert isinstance(log_handler, logging.StreamHandler)
    previous = log_handler.setStream(logs)
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(logs):
            response = handler.handler({}, FakeLambdaContext())
    finally:
        if previous is not None:
            log_handler.setStream(previous)
        observability.metrics.clear_metrics()
        cold_start.is_cold_start = True
    return Run((response,), _json_lines(stdout.getvalue(), "_aws"), _json_lines(logs.getvalue(), "level"))


def _json_lines(text: str, key: str) -> list[dict[str, Any]]:
    found = []
    for line in text.splitlines():
        if line.startswith("{"):
            document = json.loads(line)
            if key in document:
                found.append(document)
    return found


def _charted(default: Synthesized) -> set[MetricRef]:
    from tests.infra.cdk_support import dashboard_body

    return {ref for _, ref in dashboard_metrics(dashboard_body(default))}


def _watched(default: Synthesized) -> set[MetricRef]:
    return {ref for _, ref in alarm_metrics(default.json)}


def test_the_run_exercised_every_outcome(run: Run) -> None:
    blocked, cleaned = run.responses
    assert blocked["status"] == "failed"  # the refused region
    assert [f["region"] for f in blocked["regionFailures"]] == [FAILING_REGION]
    assert blocked["totals"]["inUseSourcesFailed"] == 1
    assert blocked["totals"]["repositoriesBlocked"] == 2  # team/api, and team/archive's archiving
    assert blocked["totals"]["imagesExpired"] == 0
    assert cleaned["status"] == "failed"  # the refused deletion
    assert cleaned["dryRun"] is False
    totals = cleaned["totals"]
    assert totals["imagesExpired"] == 3
    assert totals["deleteFailures"] == 1
    assert totals["imagesProtected"] >= 1
    assert totals["repositoriesSkipped"] == 1
    assert totals["imagesArchived"] == 1
    assert totals["archiveFailures"] == 1
    assert blocked["totals"]["imagesArchived"] == 0  # withheld with the deletions


def test_dashboard_and_alarm_metrics_are_declared_in_metrics_py(default: Synthesized) -> None:
    for ref in _charted(default) | _watched(default):
        if ref.namespace in AWS_NAMESPACES:
            continue  # the services' own metrics: Errors, Duration, queue depth
        assert ref in DECLARED, f"{ref} is not in ecr_janitor.metrics.ALL_METRICS with the service dimension"


def test_dashboard_and_alarm_metrics_are_really_emitted(default: Synthesized, run: Run) -> None:
    janitor = {ref for ref in _charted(default) | _watched(default) if ref.namespace == METRICS_NAMESPACE}
    assert janitor, "no janitor metric found on the dashboard or in the alarms"
    missing = janitor - set(run.emitted())
    assert not missing, f"charted or alarmed but never emitted (namespace, name and dimensions): {missing}"


def test_every_declared_metric_is_emitted_with_its_unit(run: Run) -> None:
    emitted = run.emitted()
    for spec in c.ALL_METRICS:
        ref = MetricRef.of(METRICS_NAMESPACE, spec.name, {SERVICE_DIMENSION: SERVICE_NAME})
        assert emitted.get(ref) == spec.unit, spec.name


def test_deletion_lines_carry_the_fields_the_audit_widget_shows(run: Run) -> None:
    deletions = run.lines(d.DELETION_EVENT)
    assert len(deletions) == 3
    for line in deletions:
        missing = [field for field in d.DELETION_FIELDS if field not in line]
        assert not missing, line
        assert line["tags"] == []  # flattened by Logs Insights as tags.0, tags.1, ...


def test_archive_lines_carry_the_fields_the_archive_widget_shows_and_the_run_id(run: Run) -> None:
    (archived,) = run.lines(*d.ARCHIVE_EVENTS)  # the other one was refused: an archive_failure line
    missing = [field for field in d.ARCHIVE_FIELDS if field not in archived]
    assert not missing, archived
    assert (archived["event"], archived["repository"], archived["tags"]) == (
        "archive",
        "team/archive",
        ["v1"],
    )
    request_id = FakeLambdaContext().aws_request_id
    assert archived["run_id"] == request_id
    assert {line.get("run_id") for line in run.logs if "event" in line} == {request_id}
    assert [response["runId"] for response in run.responses] == [request_id, request_id]


def test_repository_lines_carry_the_fields_the_top_widget_sums(run: Run) -> None:
    repositories = [line for line in run.lines(d.REPOSITORY_EVENT) if line["repository"] != "team/archive"]
    assert {line["repository"] for line in repositories} == {"team/api", "team/frozen"}
    for line in repositories:
        missing = [field for field in d.REPOSITORY_FIELDS if field not in line]
        assert not missing, line
    blocked, cleaned = [line for line in repositories if line["repository"] == "team/api"]
    assert blocked["status"] == "blocked"
    assert cleaned["images_expired"] == 3
    assert cleaned["status"] in d.FAILED_STATUSES  # one refused deletion: partial


def test_failure_lines_carry_the_fields_the_failures_widget_shows(run: Run) -> None:
    failures = run.lines(*d.FAILURE_EVENTS) + [
        line for line in run.lines(d.REPOSITORY_EVENT) if line.get("status") in d.FAILED_STATUSES
    ]
    assert {line["event"] for line in failures} == {*d.FAILURE_EVENTS, d.REPOSITORY_EVENT}
    written = set().union(*(line.keys() for line in failures))
    assert set(d.FAILURE_FIELDS) <= written


def test_log_lines_are_json_with_the_level_the_failures_query_reads(run: Run) -> None:
    assert run.logs
    assert {"ERROR", "WARNING", "INFO"} <= {line["level"] for line in run.logs}


def test_config_path_is_what_the_stack_sets(default: Synthesized) -> None:
    env = default.only("AWS::Lambda::Function")["Properties"]["Environment"]["Variables"]
    assert Path(env["ECR_JANITOR_CONFIG"]).name == "ecr-janitor.json"


# -- per-account metrics: a night that cleans two accounts' registries -------------------------------

OTHER_ACCOUNT = "111122223333"
EXTERNAL_ID = "ecr-janitor-contract"


@pytest.fixture(scope="module")
def accounts_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """The handler as deployed with `accounts: [home, other]`; other's listing is refused once."""
    config_file = tmp_path_factory.mktemp("contract-accounts") / "ecr-janitor.json"
    config_file.write_text(
        json.dumps(
            {
                **CONFIG,
                "regions": [REGION],
                "accounts": [ACCOUNT_ID, OTHER_ACCOUNT],
                "accessRole": {"externalId": EXTERNAL_ID},
            }
        )
    )
    ecr = LocalEcr().start()
    try:
        ecr.reset()
        _seed(ecr)
        other = Seeder(ecr, REGION, account=OTHER_ACCOUNT)
        other.repository("team/web")
        other.image("team/web", pushed_at=NOW - timedelta(days=30), size_bytes=7)
        other.repository("team/broken")
        ecr.strict.faults.append(
            Fault(
                "ListTagsForResource",
                "AccessDeniedException",
                "no",
                repository="team/broken",
                account=OTHER_ACCOUNT,
            )
        )
        with pytest.MonkeyPatch.context() as patch:
            _deployed(patch, ecr, config_file)
            accounts = LocalAccounts()
            for name, value in accounts.session_of(accounts.janitor_role()).items():
                patch.setenv(name, value)
            accounts.member_role(OTHER_ACCOUNT, external_id=EXTERNAL_ID)
            yield _invoke(patch)
    finally:
        ecr.reset()
        ecr.stop()


def _dimension_sets(blob: dict[str, Any]) -> list[set[str]]:
    return [set(dimensions) for d in blob["_aws"]["CloudWatchMetrics"] for dimensions in d["Dimensions"]]


def _one(value: Any) -> float:
    (single,) = value if isinstance(value, list) else [value]
    return float(single)


def test_per_account_metrics_have_their_own_blobs_with_the_account_dimension(accounts_run: Run) -> None:
    (response,) = accounts_run.responses
    by_account = {blob["Account"]: blob for blob in accounts_run.emf if "Account" in blob}
    assert set(by_account) == {ACCOUNT_ID, OTHER_ACCOUNT}
    for blob in by_account.values():
        assert _dimension_sets(blob) == [{SERVICE_DIMENSION, c.ACCOUNT_DIMENSION}]
        assert blob[SERVICE_DIMENSION] == SERVICE_NAME
        (directive,) = blob["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == METRICS_NAMESPACE
        assert {(m["Name"], m["Unit"]) for m in directive["Metrics"]} == {
            (spec.name, spec.unit) for spec in c.ACCOUNT_METRICS
        }
    assert _one(by_account[OTHER_ACCOUNT]["ImagesExpired"]) == 1
    assert _one(by_account[OTHER_ACCOUNT]["BytesReclaimed"]) == 7
    assert _one(by_account[OTHER_ACCOUNT]["RepositoriesFailed"]) == 1
    assert _one(by_account[ACCOUNT_ID]["RepositoriesFailed"]) == 0
    # They add up to the totals, which keep the single `service` dimension the dashboard reads.
    (totals,) = [blob for blob in accounts_run.emf if "Account" not in blob]
    assert _dimension_sets(totals) == [{SERVICE_DIMENSION}]
    for spec in c.ACCOUNT_METRICS:
        assert _one(totals[spec.name]) == sum(_one(blob[spec.name]) for blob in by_account.values())
        assert spec.total is not None
        assert _one(totals[spec.name]) == response["totals"][spec.total]


def test_a_run_without_accounts_publishes_no_per_account_metric(run: Run) -> None:
    assert all(_dimension_sets(blob) == [{SERVICE_DIMENSION}] for blob in run.emf)
