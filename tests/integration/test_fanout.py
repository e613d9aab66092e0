"""Fan-out steps through the real handler against the strict local ECR (moto serves S3, ECS and Step
Functions too): prepare's slices, a worker on exactly its slice, and the summary of a whole run.

`Driver` plays the state machine's part with the payloads infra/fanout.py builds; tests/infra checks
that the synthesized definition produces exactly these events.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from devtools.kube_api import KubeApiFake
from devtools.local_ecr import ACCOUNT_ID, Fault, LocalEcr
from devtools.seed import Seeder
from devtools.workloads import Workloads, image_uri
from ecr_janitor import constants as c
from ecr_janitor.constants import (
    ENV_CONFIG_PATH,
    ENV_FANOUT_CONCURRENCY,
    ENV_FANOUT_SLICE_SIZE,
    ENV_RUN_BUCKET,
)
from ecr_janitor.core.model import SourceFailure
from ecr_janitor.core.references import InUseSnapshot
from ecr_janitor.events import InvalidEventError
from ecr_janitor.handler import handler
from ecr_janitor.observability import metrics
from ecr_janitor.run.fanout.overlap import RunInProgressError
from ecr_janitor.run.fanout.store import DEFERRED_KEY
from tests.factories import FakeLambdaContext, rule

REGION = "us-east-1"
BUCKET = "janitor-runs"
NOW = datetime.now(UTC)
OLD = NOW - timedelta(days=30)
YOUNG = NOW - timedelta(days=1)
COVERED = ["svc/a", "svc/b", "svc/c", "svc/d", "svc/e"]
UNCOVERED = ["other/x", "other/y"]
SLICE_SIZE = 2


@pytest.fixture(autouse=True)
def _fresh_metrics() -> Iterator[None]:
    metrics.clear_metrics()
    yield
    metrics.clear_metrics()


def write_config(path: Path, *, dry_run: bool, in_use: bool = True, workers: int | None = None) -> None:
    execution = {} if workers is None else {"execution": {"workers": workers}}
    path.write_text(
        json.dumps(
            {
                "dryRun": dry_run,
                "regions": [REGION],
                **execution,
                "protect": {"inUse": in_use},
                "targets": [
                    {
                        "repositories": ["svc/*"],
                        "mode": "retain",
                        "policy": {"rules": [rule(1, "any", "sinceImagePushed", 14)]},
                    }
                ],
            }
        )
    )


@dataclass
class Registry:
    old: dict[str, set[str]] = field(default_factory=dict)
    young: dict[str, set[str]] = field(default_factory=dict)
    in_use: str = ""
    """The old svc/a image an ECS task definition names: protected."""
    task_definition: str = ""


@pytest.fixture
def registry(local_ecr: LocalEcr, seeder: Seeder) -> Registry:
    seeded = Registry()
    for name in COVERED + UNCOVERED:
        seeder.repository(name)
        seeded.old[name] = {seeder.image(name, pushed_at=OLD, size_bytes=10)}
        seeded.young[name] = {seeder.image(name, pushed_at=YOUNG, tags=["fresh"])}
    seeded.in_use = seeder.image("svc/a", pushed_at=OLD, tags=["live"], size_bytes=10)
    seeded.task_definition = Workloads(REGION).task_definition("api", image_uri("svc/a", tag="live"))
    return seeded


@dataclass
class Driver:
    """Invokes the handler with the events the state machine sends, and writes the Distributed Map's
    ResultWriter files (manifest + SUCCEEDED/FAILED arrays) as Step Functions does."""

    capsys: pytest.CaptureFixture[str]
    run_id: str = "run-2026-11-25"
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)

    @property
    def s3(self) -> Any:
        return boto3.client("s3", region_name=REGION)

    def invoke(self, event: dict[str, Any], context: FakeLambdaContext | None = None) -> dict[str, Any]:
        try:
            result: dict[str, Any] = handler(event, context or FakeLambdaContext())
        finally:
            out, err = self.capsys.readouterr()
            self.out.append(out)
            self.err.append(err)
        return result

    def prepare(self, execution_input: dict[str, Any] | None = None, **step: Any) -> dict[str, Any]:
        fan_out = {
            "step": "prepare",
            "runId": self.run_id,
            "startedAt": NOW.isoformat(),
            "input": execution_input if execution_input is not None else {},
            **step,
        }
        return self.invoke({"fanOut": fan_out})

    def get(self, key: str) -> Any:
        return json.loads(self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())

    def worker_event(self, prepared: dict[str, Any], index: int) -> dict[str, Any]:
        item = self.get(prepared["slicesKey"])[index]
        return {
            "dryRun": prepared["dryRun"],
            "fanOut": {
                "step": "worker",
                "runId": prepared["runId"],
                "startedAt": prepared["startedAt"],
                "sliceIndex": index,
                "slice": item,
            },
        }

    def worker(self, prepared: dict[str, Any], index: int, **context: Any) -> dict[str, Any]:
        return self.invoke(self.worker_event(prepared, index), FakeLambdaContext(**context))

    def map_run(
        self, prepared: dict[str, Any], fail: Callable[[int], bool] = lambda _: False, **context: Any
    ) -> str:
        """Run every slice's worker (those `fail` picks raise), then write what ResultWriter writes."""
        succeeded, failed = [], []
        for index in range(prepared["slices"]):
            event = self.worker_event(prepared, index)
            execution = {
                "ExecutionArn": f"arn:aws:states:{REGION}:{ACCOUNT_ID}:execution:janitor/Slices:{index}",
                "Input": json.dumps(event),
                "InputDetails": {"Included": True},
                "Name": str(uuid.uuid4()),
                "StartDate": NOW.isoformat(),
                "StateMachineArn": f"arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:janitor/Slices",
                "StopDate": NOW.isoformat(),
                "RedriveCount": 0,
            }
            if fail(index):
                cause = {
                    "errorMessage": "Task timed out after 900.00 seconds",
                    "errorType": "Sandbox.Timedout",
                }
                failed.append(
                    {**execution, "Status": "FAILED", "Error": "Sandbox.Timedout", "Cause": json.dumps(cause)}
                )
                continue
            output = self.invoke(event, FakeLambdaContext(**context))
            succeeded.append({**execution, "Status": "SUCCEEDED", "Output": json.dumps(output)})
        return self.write_results(prepared, succeeded=succeeded, failed=failed)

    def write_results(
        self, prepared: dict[str, Any], *, succeeded: list[dict[str, Any]], failed: list[dict[str, Any]]
    ) -> str:
        folder = f"{prepared['resultsPrefix']}/{uuid.uuid4()}"
        files: dict[str, list[dict[str, Any]]] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
        for status, executions in (("SUCCEEDED", succeeded), ("FAILED", failed)):
            if executions:
                key = f"{folder}/{status}_0.json"
                body = json.dumps(executions).encode()
                self.s3.put_object(Bucket=BUCKET, Key=key, Body=body)
                files[status].append({"Key": key, "Size": len(body)})
        manifest = f"{folder}/manifest.json"
        document = {
            "DestinationBucket": BUCKET,
            "MapRunArn": f"arn:aws:states:{REGION}:{ACCOUNT_ID}:mapRun:janitor/Slices:{uuid.uuid4()}",
            "ResultFiles": files,
        }
        self.s3.put_object(Bucket=BUCKET, Key=manifest, Body=json.dumps(document).encode())
        return manifest

    def summary(self, prepared: dict[str, Any], manifest_key: str | None) -> dict[str, Any]:
        results = {"manifestKey": manifest_key} if manifest_key else {}
        return self.invoke(
            {
                "dryRun": prepared["dryRun"],
                "fanOut": {"step": "summary", "runId": prepared["runId"], "results": results},
            }
        )

    def emf(self) -> list[dict[str, Any]]:
        blobs = []
        for out in self.out:
            for line in out.splitlines():
                if line.startswith("{") and "_aws" in (parsed := json.loads(line)):
                    blobs.append(parsed)
        return blobs

    def logged(self, event: str) -> list[dict[str, Any]]:
        lines = [json.loads(line) for err in self.err for line in err.splitlines() if line.startswith("{")]
        return [line for line in lines if line.get("event") == event]


@pytest.fixture
def deploy(local_ecr: LocalEcr, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    monkeypatch.setenv(ENV_RUN_BUCKET, BUCKET)
    monkeypatch.setenv(ENV_FANOUT_SLICE_SIZE, str(SLICE_SIZE))
    monkeypatch.setenv(ENV_FANOUT_CONCURRENCY, "2")
    config = tmp_path / "ecr-janitor.json"
    monkeypatch.setenv(ENV_CONFIG_PATH, str(config))

    def write(*, dry_run: bool, in_use: bool = True, workers: int | None = None) -> None:
        write_config(config, dry_run=dry_run, in_use=in_use, workers=workers)

    return write


@pytest.fixture
def driver(capsys: pytest.CaptureFixture[str]) -> Driver:
    return Driver(capsys)


def ecr_calls(local_ecr: LocalEcr) -> list[tuple[str, str | None]]:
    """(operation, repository) of every ECR call so far."""
    found = []
    for call in local_ecr.strict.calls:
        if call.service == "ecr":
            name = call.body.get("repositoryName")
            if name is None and "resourceArn" in call.body:
                name = str(call.body["resourceArn"]).split(":repository/", 1)[-1]
            found.append((call.operation, name))
    return found


def images_left(seeder: Seeder) -> dict[str, set[str]]:
    return {name: seeder.images_left(name) for name in COVERED + UNCOVERED}


# -- prepare ------------------------------------------------------------------------------------------


def test_prepare_writes_slices_of_covered_repositories_and_the_in_use_snapshot(
    local_ecr: LocalEcr, registry: Registry, deploy: Callable[..., None], driver: Driver
) -> None:
    deploy(dry_run=False)
    prepared = driver.prepare()

    # What the state machine reads from prepare's result (tests/infra/test_cdk_fanout.py checks that side).
    assert {"runId", "dryRun", "startedAt", "slices", "slicesKey", "resultsPrefix"} <= prepared.keys()
    assert prepared["runId"] == driver.run_id
    assert prepared["bucket"] == BUCKET
    assert prepared["slicesKey"] == f"runs/{driver.run_id}/slices.json"
    assert prepared["resultsPrefix"] == f"runs/{driver.run_id}/results"
    assert (prepared["slices"], prepared["repositories"], prepared["unmatched"]) == (3, 5, 2)
    assert prepared["dryRun"] is False
    assert prepared["regionFailures"] == []

    slices = driver.get(prepared["slicesKey"])
    assert [len(s["repositories"]) for s in slices] == [2, 2, 1]  # more repositories than one slice holds
    assert {s["region"] for s in slices} == {REGION}
    listed = [r["name"] for s in slices for r in s["repositories"]]
    assert sorted(listed) == COVERED  # uncovered ones are left out, each covered one exactly once
    for entry in (r for s in slices for r in s["repositories"]):
        assert entry["arn"] == f"arn:aws:ecr:{REGION}:{ACCOUNT_ID}:repository/{entry['name']}"

    in_use = driver.get(prepared["inUseKey"])
    assert in_use["failures"] == []
    assert {(r["repository"], r["tag"]) for r in in_use["references"]} == {("svc/a", "live")}

    record = driver.get(f"runs/{driver.run_id}/run.json")
    assert record["slices"] == [{"account": None, "region": REGION, "repositories": n} for n in (2, 2, 1)]
    assert record["unmatched"] == 2

    # It only lists: in-use sources are read once, and no repository's images are read.
    assert {op for op, _ in ecr_calls(local_ecr)} == {"DescribeRepositories"}
    assert local_ecr.strict.count("ListClusters", service="ecs") == 1
    assert driver.emf() == []  # prepare publishes no metrics


def test_prepare_passes_a_dry_run_on_from_the_execution_input(
    registry: Registry, deploy: Callable[..., None], driver: Driver
) -> None:
    deploy(dry_run=False)
    prepared = driver.prepare({"dryRun": True})
    assert prepared["dryRun"] is True
    assert prepared["dryRunReason"] == "the execution input asked for a dry run"


def test_prepare_refuses_a_bad_execution_input_before_any_aws_call(
    local_ecr: LocalEcr, registry: Registry, deploy: Callable[..., None], driver: Driver
) -> None:
    deploy(dry_run=False)
    local_ecr.strict.calls.clear()
    with pytest.raises(
        InvalidEventError, match=r"fanOut\.prepare\.input\.dryrun: Extra inputs are not permitted"
    ):
        driver.prepare({"dryrun": True})
    assert local_ecr.strict.calls == []


def test_prepare_records_a_region_it_could_not_list(
    local_ecr: LocalEcr, registry: Registry, deploy: Callable[..., None], driver: Driver
) -> None:
    deploy(dry_run=False)
    local_ecr.strict.faults.append(Fault("DescribeRepositories", "AccessDeniedException", "no", times=None))
    prepared = driver.prepare()
    assert prepared["slices"] == 0
    assert [(f["region"], f["code"]) for f in prepared["regionFailures"]] == [
        (REGION, "AccessDeniedException")
    ]
    assert driver.get(prepared["slicesKey"]) == []


def test_runs_never_overlap(
    local_ecr: LocalEcr, registry: Registry, deploy: Callable[..., None], driver: Driver
) -> None:
    deploy(dry_run=False)
    states = boto3.client("stepfunctions", region_name=REGION)
    machine = states.create_state_machine(
        name="janitor",
        definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
        roleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/janitor",
    )["stateMachineArn"]
    first = states.start_execution(stateMachineArn=machine, name="first")["executionArn"]
    second = states.start_execution(stateMachineArn=machine, name="second")["executionArn"]
    local_ecr.strict.calls.clear()

    with pytest.raises(RunInProgressError, match=r"run first, started .* is still running"):
        driver.prepare(executionArn=second, stateMachineArn=machine)
    assert ecr_calls(local_ecr) == []  # stopped before reading or listing anything
    assert driver.prepare(executionArn=first, stateMachineArn=machine)["slices"] == 3


# -- worker -------------------------------------------------------------------------------------------


def test_a_worker_cleans_exactly_its_slice(
    local_ecr: LocalEcr, seeder: Seeder, registry: Registry, deploy: Callable[..., None], driver: Driver
) -> None:
    deploy(dry_run=False)
    prepared = driver.prepare()
    before = images_left(seeder)
    item = driver.get(prepared["slicesKey"])[1]
    mine = {r["name"] for r in item["repositories"]}
    local_ecr.strict.calls.clear()

    result = driver.worker(prepared, 1)

    calls = ecr_calls(local_ecr)
    assert {name for _, name in calls} == mine
    assert "DescribeRepositories" not in {op for op, _ in calls}  # the slice is the listing
    assert local_ecr.strict.count(service="ecs") == 0  # in use comes from the run's snapshot
    after = images_left(seeder)
    for name in COVERED + UNCOVERED:
        expected = before[name] - registry.old[name] if name in mine else before[name]
        assert after[name] == expected, name

    assert (result["runId"], result["sliceIndex"], result["region"]) == (driver.run_id, 1, REGION)
    assert result["status"] == "ok"
    assert result["dryRun"] is False
    assert result["repositories"] == 2
    totals = result["totals"]
    assert (totals["repositories"], totals["imagesExpired"], totals["bytesReclaimed"]) == (2, 2, 20)
    assert totals["imagesScanned"] == 4
    assert result["deferred"] == []
    assert driver.emf() == []  # workers publish no metrics: the summary does, once
    assert {line["repository"] for line in driver.logged("repository")} == mine
    assert len(driver.logged("deletion")) == 2
    # Every audit line names the run: the execution's name, which `restore --run` takes.
    assert {line["run_id"] for line in driver.logged("deletion") + driver.logged("repository")} == {
        driver.run_id
    }


def test_a_worker_keeps_what_the_runs_snapshot_says_is_in_use(
    local_ecr: LocalEcr, seeder: Seeder, registry: Registry, deploy: Callable[..., None], driver: Driver
) -> None:
    deploy(dry_run=False)
    prepared = driver.prepare()
    # The workload goes away after prepare: the worker must still use the run's snapshot.
    Workloads(REGION).retire_task_definition(registry.task_definition)
    index = next(
        i
        for i, s in enumerate(driver.get(prepared["slicesKey"]))
        if "svc/a" in {r["name"] for r in s["repositories"]}
    )
    result = driver.worker(prepared, index)
    assert registry.in_use in seeder.images_left("svc/a")
    assert registry.old["svc/a"].isdisjoint(seeder.images_left("svc/a"))
    assert result["totals"]["imagesProtected"] == 1


def test_a_worker_withholds_deletions_when_the_snapshot_is_incomplete(
    local_ecr: LocalEcr, seeder: Seeder, registry: Registry, deploy: Callable[..., None], driver: Driver
) -> None:
    deploy(dry_run=False)
    local_ecr.strict.faults.append(Fault("*", "AccessDeniedException", "no", times=None, service="batch"))
    prepared = driver.prepare()
    assert prepared["inUseSourcesFailed"] == 1
    local_ecr.strict.faults.clear()  # Batch is readable again: the worker must not read it itself

    result = driver.worker(prepared, 0)
    assert local_ecr.strict.count("BatchDeleteImage") == 0
    assert result["status"] == "failed"
    assert result["totals"]["repositoriesBlocked"] == 2
    assert {f["status"] for f in result["failedRepositories"]} == {"blocked"}


def test_a_worker_applies_the_snapshots_blocking_rule_to_other_regions_failures(
    local_ecr: LocalEcr, registry: Registry, deploy: Callable[..., None], driver: Driver
) -> None:
    """The worker defers to InUseSnapshot.blocking: a source unreadable in another region withholds
    deletions here exactly when the single run would withhold them."""
    deploy(dry_run=False)
    prepared = driver.prepare()
    failure = SourceFailure("eu-west-1", "ECS", "AccessDeniedException", "no")
    snapshot = driver.get(prepared["inUseKey"])
    snapshot["failures"] = [asdict(failure)]
    driver.s3.put_object(Bucket=BUCKET, Key=prepared["inUseKey"], Body=json.dumps(snapshot).encode())

    result = driver.worker(prepared, 0)
    withheld = bool(InUseSnapshot(failures=[failure]).withholds_deletions)
    assert (local_ecr.strict.count("BatchDeleteImage") == 0) is withheld
    assert result["totals"]["repositoriesBlocked"] == (2 if withheld else 0)


@pytest.mark.parametrize(("config_dry_run", "event_dry_run"), [(True, False), (False, True), (True, None)])
def test_a_worker_never_deletes_in_a_dry_run(
    local_ecr: LocalEcr,
    seeder: Seeder,
    registry: Registry,
    deploy: Callable[..., None],
    driver: Driver,
    config_dry_run: bool,
    event_dry_run: bool | None,
) -> None:
    deploy(dry_run=config_dry_run)
    prepared = driver.prepare()
    event = driver.worker_event(prepared, 0)
    if event_dry_run is None:
        del event["dryRun"]
    else:
        event["dryRun"] = event_dry_run
    before = images_left(seeder)
    result = driver.invoke(event)
    assert result["dryRun"] is True
    assert result["totals"]["imagesExpirable"] == 2
    assert local_ecr.strict.count("BatchDeleteImage") == 0
    assert images_left(seeder) == before


def test_a_worker_refuses_a_slice_of_a_region_the_config_does_not_walk(
    local_ecr: LocalEcr, registry: Registry, deploy: Callable[..., None], driver: Driver
) -> None:
    deploy(dry_run=False)
    prepared = driver.prepare()
    event = driver.worker_event(prepared, 0)
    event["fanOut"]["slice"] = {
        "region": "eu-west-1",
        "repositories": [{"name": "svc/a", "arn": f"arn:aws:ecr:eu-west-1:{ACCOUNT_ID}:repository/svc/a"}],
    }
    local_ecr.strict.calls.clear()
    with pytest.raises(InvalidEventError, match="slice 0 is in eu-west-1, a region the config does not walk"):
        driver.invoke(event)
    assert ecr_calls(local_ecr) == []


def test_a_worker_out_of_time_returns_what_it_deferred_and_the_next_run_starts_with_it(
    local_ecr: LocalEcr, registry: Registry, deploy: Callable[..., None], driver: Driver
) -> None:
    deploy(dry_run=False)
    prepared = driver.prepare()
    slices = driver.get(prepared["slicesKey"])
    short = driver.worker(prepared, 0, remaining_ms=100_000)  # under the 120 s reserve: nothing starts
    deferred = [r["name"] for r in slices[0]["repositories"]]
    assert short["deferred"] == deferred
    assert short["totals"]["repositoriesDeferred"] == 2
    assert local_ecr.strict.count("BatchDeleteImage") == 0

    manifest = driver.write_results(
        prepared,
        succeeded=[{"Status": "SUCCEEDED", "Output": json.dumps(short)}]
        + [
            {"Status": "SUCCEEDED", "Output": json.dumps(driver.worker(prepared, i))}
            for i in range(1, prepared["slices"])
        ],
        failed=[],
    )
    summary = driver.summary(prepared, manifest)
    assert summary["totals"]["repositoriesDeferred"] == 2
    assert summary["deferredToNextRun"] == 2
    assert driver.get(DEFERRED_KEY) == {REGION: sorted(deferred)}

    # The next run gives them a slice of their own, after the region's others.
    driver.run_id = "run-2026-11-26"
    following = driver.prepare()
    assert following["carriedOver"] == 2
    slices = driver.get(following["slicesKey"])
    assert [r["name"] for r in slices[-1]["repositories"]] == deferred
    assert sorted(r["name"] for s in slices for r in s["repositories"]) == COVERED


def test_a_worker_that_runs_out_of_time_mid_slice_returns_exactly_what_it_did_not_start(
    local_ecr: LocalEcr, seeder: Seeder, registry: Registry, deploy: Callable[..., None], driver: Driver
) -> None:
    deploy(dry_run=False, workers=1)
    prepared = driver.prepare()
    first, second = (r["name"] for r in driver.get(prepared["slicesKey"])[0]["repositories"])
    # A repository takes >= 3 s (tags, images, delete at 1 s each); the budget ends 2 s after the worker
    # starts, which leaves its set-up (the run's files, clients) ample time even on a loaded machine.
    local_ecr.strict.latency_seconds = 1.0
    try:
        result = driver.worker(prepared, 0, remaining_ms=120_000 + 2_000)
    finally:
        local_ecr.strict.latency_seconds = 0.0
    assert result["deferred"] == [second]
    assert (result["totals"]["repositories"], result["totals"]["repositoriesDeferred"]) == (1, 1)
    assert registry.old[first].isdisjoint(seeder.images_left(first))
    assert registry.old[second] <= seeder.images_left(second)


# -- the whole run ------------------------------------------------------------------------------------


def test_a_fan_out_run_cleans_like_one_invocation_and_publishes_the_totals_once(
    local_ecr: LocalEcr, seeder: Seeder, registry: Registry, deploy: Callable[..., None], driver: Driver
) -> None:
    deploy(dry_run=True)
    single = driver.invoke({})  # the one-invocation run, as a dry run: the reference
    driver.out.clear()

    deploy(dry_run=False)
    prepared = driver.prepare()
    summary = driver.summary(prepared, driver.map_run(prepared))

    assert summary["status"] == "ok"
    assert summary["dryRun"] is False
    assert summary["workersFailed"] == 0  # read by the state machine, with `message`
    assert summary["message"] == "all 3 workers finished"
    assert summary["slices"] == 3
    expected = {**single["totals"], "imagesExpired": 5, "bytesReclaimed": 50}
    assert summary["totals"] == expected
    assert summary["totals"]["repositoriesUnmatched"] == 2
    assert summary["totals"]["imagesProtected"] == 1
    left = images_left(seeder)
    for name in COVERED:
        assert left[name] == registry.young[name] | ({registry.in_use} if name == "svc/a" else set())
    for name in UNCOVERED:
        assert left[name] == registry.old[name] | registry.young[name]

    (blob,) = driver.emf()  # one EMF blob for the whole run
    assert {d["Name"] for d in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]} == {
        s.name for s in c.ALL_METRICS
    }
    assert _value(blob, c.IMAGES_EXPIRED) == 5
    assert _value(blob, c.BYTES_RECLAIMED) == 50
    assert _value(blob, c.REPOSITORIES_PROCESSED) == 5
    assert _value(blob, c.REPOSITORIES_FAILED) == 0
    assert _value(blob, c.DRY_RUN) == 0
    assert _value(blob, c.RUN_DURATION) >= 0
    stored = driver.get(summary["summaryKey"])
    assert stored["totals"] == summary["totals"]


def test_a_fan_out_dry_run_deletes_nothing_and_says_so(
    local_ecr: LocalEcr, seeder: Seeder, registry: Registry, deploy: Callable[..., None], driver: Driver
) -> None:
    deploy(dry_run=False)
    before = images_left(seeder)
    prepared = driver.prepare({"dryRun": True})
    summary = driver.summary(prepared, driver.map_run(prepared))
    assert summary["dryRun"] is True
    assert summary["totals"]["imagesExpirable"] == 5
    assert summary["totals"]["imagesExpired"] == 0
    assert images_left(seeder) == before
    assert local_ecr.strict.count("BatchDeleteImage") == 0
    (blob,) = driver.emf()
    assert _value(blob, c.DRY_RUN) == 1


def test_a_failed_worker_is_reported_never_ignored(
    local_ecr: LocalEcr, registry: Registry, deploy: Callable[..., None], driver: Driver
) -> None:
    deploy(dry_run=False)
    prepared = driver.prepare()
    summary = driver.summary(prepared, driver.map_run(prepared, fail=lambda index: index == 1))

    assert summary["status"] == "failed"
    assert summary["workersFailed"] == 1
    (failed,) = summary["failedWorkers"]
    assert failed == {
        "sliceIndex": 1,
        "region": REGION,
        "account": None,
        "repositories": 2,
        "error": "Sandbox.Timedout: Task timed out after 900.00 seconds",
    }
    assert summary["message"].startswith(
        "1 of 3 workers failed; their 2 repositories count in RepositoriesFailed"
    )
    assert summary["totals"]["repositoriesFailed"] == 2
    assert summary["totals"]["repositories"] == 3  # what the other two workers processed
    (blob,) = driver.emf()
    assert _value(blob, c.REPOSITORIES_FAILED) == 2
    (line,) = driver.logged("worker_failure")
    assert (line["level"], line["slice"], line["repositories"]) == ("ERROR", 1, 2)


def test_a_worker_that_raised_counts_as_failed(
    local_ecr: LocalEcr, registry: Registry, deploy: Callable[..., None], driver: Driver
) -> None:
    """A real Lambda error: the worker can't read the run's in-use snapshot, so it must not clean."""
    deploy(dry_run=False)
    prepared = driver.prepare()
    event = driver.worker_event(prepared, 0)
    local_ecr.strict.faults.append(Fault("*", "AccessDenied", "no", status=403, times=1, service="s3"))
    with pytest.raises(Exception, match="AccessDenied") as raised:
        driver.invoke(event)
    assert local_ecr.strict.count("BatchDeleteImage") == 0
    cause = {"errorMessage": str(raised.value), "errorType": type(raised.value).__name__}
    failed = {
        "Status": "FAILED",
        "Input": json.dumps(event),
        "Error": cause["errorType"],
        "Cause": json.dumps(cause),
    }
    succeeded = [{"Status": "SUCCEEDED", "Output": json.dumps(driver.worker(prepared, i))} for i in (1, 2)]
    summary = driver.summary(prepared, driver.write_results(prepared, succeeded=succeeded, failed=[failed]))
    assert summary["workersFailed"] == 1
    assert summary["failedWorkers"][0]["error"].startswith(
        "AccessDenied: An error occurred (AccessDenied) when calling the GetObject operation"
    )
    assert summary["totals"]["repositoriesFailed"] == 2


def test_a_slice_without_any_result_counts_as_failed(
    registry: Registry, deploy: Callable[..., None], driver: Driver
) -> None:
    """The map stopped early (aborted, or the results of a slice are missing): still counted."""
    deploy(dry_run=False)
    prepared = driver.prepare()
    output = driver.worker(prepared, 0)
    summary = driver.summary(
        prepared,
        driver.write_results(
            prepared, succeeded=[{"Status": "SUCCEEDED", "Output": json.dumps(output)}], failed=[]
        ),
    )
    assert summary["workersFailed"] == 2
    assert summary["totals"]["repositoriesFailed"] == 3
    assert {w["error"] for w in summary["failedWorkers"]} == {"no result: the worker failed or never ran"}


def test_a_run_with_nothing_to_clean_still_reports_once(
    local_ecr: LocalEcr, registry: Registry, deploy: Callable[..., None], driver: Driver
) -> None:
    deploy(dry_run=False)
    local_ecr.strict.faults.append(Fault("DescribeRepositories", "AccessDeniedException", "no", times=None))
    prepared = driver.prepare()
    summary = driver.summary(prepared, None)  # the state machine skips the map when there is no slice
    assert summary["status"] == "failed"
    assert summary["workersFailed"] == 0
    assert summary["totals"]["repositoriesFailed"] == 1  # the region that could not be listed
    assert len(summary["regionFailures"]) == 1
    (blob,) = driver.emf()
    assert _value(blob, c.REPOSITORIES_FAILED) == 1


def test_the_summary_refuses_results_of_another_run(
    registry: Registry, deploy: Callable[..., None], driver: Driver
) -> None:
    deploy(dry_run=False)
    prepared = driver.prepare()
    with pytest.raises(
        InvalidEventError, match=r"manifestKey 'runs/other/results/m/manifest\.json' is not under"
    ):
        driver.summary(prepared, "runs/other/results/m/manifest.json")
    assert driver.emf() == []


def test_the_in_use_snapshot_is_read_once_per_run_not_per_worker(
    local_ecr: LocalEcr, registry: Registry, deploy: Callable[..., None], driver: Driver
) -> None:
    deploy(dry_run=False)
    prepared = driver.prepare()
    driver.summary(prepared, driver.map_run(prepared))
    assert local_ecr.strict.count("ListClusters", service="ecs") == 1
    assert local_ecr.strict.count("DescribeRepositories") == 1  # one page: listed once, by prepare


def _value(blob: dict[str, Any], spec: c.MetricSpec) -> float:
    value = blob[spec.name]
    (single,) = value if isinstance(value, list) else [value]
    return float(single)


# -- EKS: an unreadable cluster in ignoreClusters is a warning of the run, not a failure -----------------


@pytest.mark.parametrize("ignored", [True, False])
def test_an_unreadable_eks_cluster_reaches_the_summary(
    local_ecr: LocalEcr,
    seeder: Seeder,
    registry: Registry,
    deploy: Callable[..., None],
    driver: Driver,
    tmp_path: Path,
    ignored: bool,
) -> None:
    deploy(dry_run=False)
    config = tmp_path / "ecr-janitor.json"
    document = json.loads(config.read_text())
    document["protect"]["eks"] = {"clusters": "auto", "ignoreClusters": ["prod"] if ignored else []}
    config.write_text(json.dumps(document))
    api = KubeApiFake("prod").start()
    try:
        Workloads(REGION).eks_cluster(api)
        api.forbid("Pod")
        prepared = driver.prepare()
        summary = driver.summary(prepared, driver.map_run(prepared))
    finally:
        api.stop()

    (problem,) = summary["inUseSourceWarnings"] if ignored else summary["inUseSourceFailures"]
    assert (problem["source"], problem["code"]) == ("EKS cluster prod", "Forbidden")
    assert summary["status"] == ("ok" if ignored else "failed")
    assert prepared["inUseSourcesFailed"] == (0 if ignored else 1)
    assert (local_ecr.strict.count("BatchDeleteImage") > 0) is ignored
    assert len(driver.logged("in_use_source_ignored" if ignored else "in_use_source_failure")) == 1
