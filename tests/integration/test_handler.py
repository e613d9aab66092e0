"""The Lambda handler against the strict local ECR: same behaviour as `run`, EMF metrics, audit logs."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from devtools.local_ecr import Fault, LocalEcr
from devtools.seed import Seeder
from ecr_janitor import constants as c
from ecr_janitor.config import ConfigError
from ecr_janitor.constants import (
    ENV_CONFIG_PATH,
    ENV_STATE_PARAMETER,
    METRICS_NAMESPACE,
    SERVICE_DIMENSION,
    SERVICE_NAME,
)
from ecr_janitor.events import InvalidEventError
from ecr_janitor.handler import handler
from ecr_janitor.observability import metrics
from tests.factories import FakeLambdaContext, config_document

NOW = datetime.now(UTC)
SCHEDULED_EVENT = {
    "version": "0",
    "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2026-11-25T03:00:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:events:us-east-1:123456789012:rule/nightly"],
    "detail": {},
}


@pytest.fixture(autouse=True)
def _fresh_metrics() -> Iterator[None]:
    metrics.clear_metrics()
    yield
    metrics.clear_metrics()


@pytest.fixture
def deploy_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    def write(*, dry_run: bool, document: dict[str, Any] | None = None) -> Path:
        path = tmp_path / "ecr-janitor.json"
        path.write_text(json.dumps(document or config_document(dry_run=dry_run)))
        monkeypatch.setenv(ENV_CONFIG_PATH, str(path))
        return path

    return write


@pytest.fixture
def registry(seeder: Seeder) -> dict[str, set[str]]:
    seeder.repository("svc/api")
    old = {seeder.image("svc/api", pushed_at=NOW - timedelta(days=30 + n), size_bytes=10) for n in range(4)}
    young = {seeder.image("svc/api", pushed_at=NOW - timedelta(days=1))}
    return {"old": old, "young": young}


def emf(out: str) -> list[dict[str, Any]]:
    blobs = []
    for line in out.splitlines():
        if line.startswith("{"):
            parsed = json.loads(line)
            if "_aws" in parsed:
                blobs.append(parsed)
    return blobs


def value(blob: dict[str, Any], name: str) -> float:
    """Powertools writes each metric as a list of values; a run emits one."""
    (single,) = blob[name]
    return float(single)


def logged(err: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


def test_the_nightly_event_runs_like_run_and_emits_every_metric(
    local_ecr: LocalEcr,
    seeder: Seeder,
    registry: dict[str, set[str]],
    deploy_config: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    deploy_config(dry_run=False)
    result = handler(SCHEDULED_EVENT, FakeLambdaContext())
    out, err = capsys.readouterr()
    assert result["status"] == "ok"
    assert result["dryRun"] is False
    assert seeder.images_left("svc/api") == registry["young"]

    (blob,) = emf(out)
    (directive,) = blob["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == METRICS_NAMESPACE
    assert directive["Dimensions"] == [[SERVICE_DIMENSION]]
    assert blob[SERVICE_DIMENSION] == SERVICE_NAME
    assert {d["Name"]: d["Unit"] for d in directive["Metrics"]} == {s.name: s.unit for s in c.ALL_METRICS}
    assert value(blob, c.IMAGES_EXPIRED.name) == 4
    assert value(blob, c.BYTES_RECLAIMED.name) == 40
    assert value(blob, c.DRY_RUN.name) == 0
    assert value(blob, c.REPOSITORIES_FAILED.name) == 0

    lines = logged(err)
    assert sum(line.get("event") == "deletion" for line in lines) == 4
    (outcome,) = [line for line in lines if line.get("event") == "repository"]
    assert (outcome["repository"], outcome["status"], outcome["images_expired"]) == ("svc/api", "cleaned", 4)
    assert outcome["function_request_id"] == FakeLambdaContext.aws_request_id


@pytest.mark.parametrize(
    ("event", "config_dry_run"),
    [({"dryRun": True}, False), ({"dryRun": False}, True), ({}, True), (SCHEDULED_EVENT, True)],
)
def test_an_event_can_force_a_dry_run_but_never_cancel_one(
    local_ecr: LocalEcr,
    registry: dict[str, set[str]],
    deploy_config: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    event: dict[str, Any],
    config_dry_run: bool,
) -> None:
    deploy_config(dry_run=config_dry_run)
    result = handler(event, FakeLambdaContext())
    out, _ = capsys.readouterr()
    assert result["dryRun"] is True
    assert result["totals"]["imagesExpirable"] == 4
    assert local_ecr.strict.count("BatchDeleteImage") == 0
    (blob,) = emf(out)
    assert value(blob, c.DRY_RUN.name) == 1
    assert value(blob, c.IMAGES_EXPIRED.name) == 0
    assert value(blob, c.IMAGES_EXPIRABLE.name) == 4


NOTHING_RAN = pytest.mark.filterwarnings("ignore:No application metrics to publish")


@NOTHING_RAN
@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"dryrun": True}, "dryrun: Extra inputs are not permitted"),
        ({"dryRun": "yes"}, "dryRun: Input should be a valid boolean"),
        (["dryRun"], "the event must be a JSON object, not list"),
    ],
)
def test_a_bad_event_is_refused_before_any_aws_call(
    local_ecr: LocalEcr,
    registry: dict[str, set[str]],
    deploy_config: Callable[..., Path],
    event: Any,
    message: str,
) -> None:
    deploy_config(dry_run=False)
    with pytest.raises(InvalidEventError, match=message):
        handler(event, FakeLambdaContext())
    assert local_ecr.strict.count() == 0


@NOTHING_RAN
def test_an_invalid_deployed_config_fails_the_invocation_before_any_aws_call(
    local_ecr: LocalEcr, deploy_config: Callable[..., Path]
) -> None:
    document = config_document(dry_run=False)
    document["targets"][0]["policy"]["rules"][0]["rulePriority"] = 0
    deploy_config(dry_run=False, document=document)
    with pytest.raises(ConfigError, match="rulePriority must be at least 1"):
        handler({}, FakeLambdaContext())
    assert local_ecr.strict.count() == 0


@NOTHING_RAN
def test_a_deployed_config_with_a_repeated_key_fails_the_invocation(
    local_ecr: LocalEcr, deploy_config: Callable[..., Path]
) -> None:
    path = deploy_config(dry_run=True)
    text = path.read_text()
    path.write_text(text[: text.rindex("}")] + ', "dryRun": false}\n')
    with pytest.raises(ConfigError, match="key 'dryRun' appears twice"):
        handler({}, FakeLambdaContext())
    assert local_ecr.strict.count() == 0


def test_failures_are_reported_in_the_result_and_the_metrics(
    local_ecr: LocalEcr,
    seeder: Seeder,
    registry: dict[str, set[str]],
    deploy_config: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    seeder.repository("svc/locked")
    local_ecr.strict.faults.append(
        Fault("DescribeImages", "AccessDeniedException", "no", times=None, repository="svc/locked")
    )
    local_ecr.strict.refused_deletions[sorted(registry["old"])[0]] = (
        "ImageReferencedByManifestList",
        "in an index",
    )
    deploy_config(dry_run=False)
    result = handler({}, FakeLambdaContext())
    out, _ = capsys.readouterr()
    assert result["status"] == "failed"
    assert {r["repository"] for r in result["failedRepositories"]} == {"svc/api", "svc/locked"}
    (blob,) = emf(out)
    assert value(blob, c.REPOSITORIES_FAILED.name) == 1
    assert value(blob, c.DELETE_FAILURES.name) == 1
    assert value(blob, c.IMAGES_EXPIRED.name) == 3


def test_propagated_policies_are_counted_and_audited(
    local_ecr: LocalEcr,
    seeder: Seeder,
    deploy_config: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    seeder.repository("sandbox/a")
    seeder.repository("sandbox/b")
    document = config_document(dry_run=False, mode="propagate")
    deploy_config(dry_run=False, document=document)
    policy_text = json.dumps(document["targets"][0]["policy"])
    local_ecr.strict.lifecycle_policies[("us-east-1", "sandbox/b")] = policy_text
    handler({}, FakeLambdaContext())
    out, err = capsys.readouterr()
    (blob,) = emf(out)
    assert value(blob, c.POLICIES_CREATED.name) == 1
    assert value(blob, c.POLICIES_UNCHANGED.name) == 1
    assert value(blob, c.POLICIES_UPDATED.name) == 0
    assert value(blob, c.POLICY_DRIFT.name) == 0
    (written,) = [line for line in logged(err) if line.get("event") == "policy_written"]
    assert (written["repository"], written["policy_status"]) == ("sandbox/a", "created")
    assert "previous_policy" not in written  # there was none; Powertools leaves out empty fields
    assert written["policy"] == document["targets"][0]["policy"]


def test_a_run_out_of_time_defers_and_the_next_one_resumes(
    local_ecr: LocalEcr,
    seeder: Seeder,
    deploy_config: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENV_STATE_PARAMETER, "/ecr-janitor/test/resume")
    for name in ("svc/a", "svc/b", "svc/c"):
        seeder.repository(name)
        seeder.image(name, pushed_at=NOW - timedelta(days=30))
    deploy_config(dry_run=False)

    short = handler(
        {}, FakeLambdaContext(remaining_ms=100_000)
    )  # less than the 120 s reserve: nothing starts
    out, _ = capsys.readouterr()
    assert short["totals"]["repositoriesDeferred"] == 3
    assert short["resume"] == {"us-east-1": "svc/a"}
    assert value(emf(out)[0], c.REPOSITORIES_DEFERRED.name) == 3
    assert local_ecr.strict.count("BatchDeleteImage") == 0
    stored = boto3.client("ssm").get_parameter(Name="/ecr-janitor/test/resume")["Parameter"]["Value"]
    assert json.loads(stored) == {"us-east-1": "svc/a"}

    full = handler({}, FakeLambdaContext())
    capsys.readouterr()
    assert full["totals"]["repositoriesDeferred"] == 0
    assert full["totals"]["imagesExpired"] == 3
    assert (
        json.loads(boto3.client("ssm").get_parameter(Name="/ecr-janitor/test/resume")["Parameter"]["Value"])
        == {}
    )
