"""Organization-wide, against the strict local AWS (moto's accounts, STS that refuses what AWS refuses,
Organizations): a central registry whose images run in other accounts, and many registries.

The janitor runs as a session of its own role in the home account A (as the function does), and
reaches every other account only through the member role there, which trusts exactly that role with
the config's external id. Each "kept because used in B" has its control: the same image expires when
nothing uses it, or when B's reference can't point at A's registry.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from devtools.accounts import LocalAccounts, account_of_key, session_secret
from devtools.kube_api import KubeApiFake, workload
from devtools.local_ecr import ACCOUNT_ID, Fault, LocalEcr, scope
from devtools.seed import Seeder
from devtools.workloads import Workloads, image_uri
from ecr_janitor import constants as c
from ecr_janitor.cli import main
from ecr_janitor.constants import (
    ENV_CONFIG_PATH,
    ENV_FANOUT_CONCURRENCY,
    ENV_FANOUT_SLICE_SIZE,
    ENV_RUN_BUCKET,
)
from ecr_janitor.events import InvalidEventError
from ecr_janitor.handler import handler
from ecr_janitor.observability import metrics
from tests.factories import FakeLambdaContext, rule, transition
from tests.integration.test_fanout import BUCKET, Driver, _value
from tests.integration.test_in_use import run

A = ACCOUNT_ID
B = "111122223333"
C = "444455556666"
EXTERNAL_ID = "ecr-janitor-org-7f3a"
OLD = datetime.now(UTC) - timedelta(days=60)


@pytest.fixture
def accounts(local_ecr: LocalEcr, monkeypatch: pytest.MonkeyPatch) -> LocalAccounts:
    """The janitor runs with a session of its role in A, like the function."""
    accounts = LocalAccounts(A)
    for name, value in accounts.session_of(accounts.janitor_role()).items():
        monkeypatch.setenv(name, value)
    local_ecr.strict.calls.clear()  # count only what the janitor does
    return accounts


def member(accounts: LocalAccounts, account: str, *, external_id: str = EXTERNAL_ID) -> None:
    """The role stack EcrJanitorMemberRole creates in `account`, trusting the janitor's role."""
    accounts.member_role(account, external_id=external_id)


def write_config(tmp_path: Path, **keys: Any) -> Path:
    protect = {"inspector": "off", **keys.pop("protect", {})}
    document = {
        "dryRun": False,
        "protect": protect,
        "accessRole": {"externalId": EXTERNAL_ID},
        "targets": [
            {
                "repositories": ["*"],
                "mode": "retain",
                "policy": {"rules": [rule(1, "any", "sinceImagePushed", 14)]},
            }
        ],
        **keys,
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(document))
    return path


def kept(report: dict[str, Any], repository: str, account: str = A) -> dict[str, str]:
    (repo,) = [r for r in report["repositories"] if (r["account"], r["repository"]) == (account, repository)]
    return {image["digest"]: image["detail"] for image in repo["kept"]}


# -- 1. a central registry whose images run in other accounts ---------------------------------------


@pytest.mark.parametrize(
    ("reference", "is_kept"),
    [
        ("full URI", True),
        ("digest URI", True),
        ("no registry host", False),  # `app:v1` in B means B's own registry, never A's
        ("another account's host", False),  # B's own registry named explicitly
        ("unused", False),
    ],
)
def test_an_image_a_workload_in_another_account_runs_is_kept(
    tmp_path: Path,
    local_ecr: LocalEcr,
    accounts: LocalAccounts,
    capsys: pytest.CaptureFixture[str],
    reference: str,
    is_kept: bool,
) -> None:
    registry = Seeder(local_ecr)
    registry.repository("app")
    image = registry.image("app", pushed_at=OLD, tags=["v1"])
    member(accounts, B)
    uri = {
        "full URI": image_uri("app", tag="v1"),
        "digest URI": image_uri("app", digest=image),
        "no registry host": "app:v1",
        "another account's host": image_uri("app", tag="v1", account=B),
        "unused": None,
    }[reference]
    if uri is not None:
        Workloads(account=B).task_definition("web", uri)

    code, report = run(capsys, write_config(tmp_path, protect={"consumerAccounts": [B]}))

    assert code == 0, report["inUseSourceFailures"]
    assert report["consumerAccounts"] == [A, B]
    assert registry.images_left("app") == ({image} if is_kept else set())
    if is_kept:
        assert kept(report, "app")[image] == f"in use by ECS task definition web:1 in account {B}"
    # One AssumeRole for B; B's workloads read with B's credentials, B's registry never touched.
    assert local_ecr.strict.count("AssumeRole", service="sts") == 1
    assert local_ecr.strict.count("ListTaskDefinitionFamilies", service="ecs", account=B) == 1
    assert local_ecr.strict.count(service="ecr", account=B) == 0


def test_services_lambda_functions_and_unfinished_jobs_of_another_account_are_read(
    tmp_path: Path, local_ecr: LocalEcr, accounts: LocalAccounts, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = Seeder(local_ecr)
    registry.repository("svc/api")
    by_service, by_function, by_job, unused = (
        registry.image("svc/api", pushed_at=OLD, tags=[t]) for t in ("svc", "fn", "job", "old")
    )
    member(accounts, B)
    elsewhere = Workloads(account=B, strict=local_ecr.strict)
    elsewhere.service(
        elsewhere.cluster("prod"), "api", elsewhere.task_definition("api", image_uri("svc/api", tag="svc"))
    )
    elsewhere.lambda_function("fn", image_uri("svc/api", tag="fn"))
    elsewhere.batch_job("queue", "nightly", "RUNNABLE", container={"image": image_uri("svc/api", tag="job")})

    code, report = run(
        capsys, write_config(tmp_path, protect={"consumerAccounts": [B], "taskDefinitionRevisions": 0})
    )

    assert code == 0, report["inUseSourceFailures"]
    assert registry.images_left("svc/api") == {by_service, by_function, by_job}
    reasons = kept(report, "svc/api")
    assert reasons[by_service].startswith("in use by ECS service prod/api in account 111122223333")
    assert reasons[by_function] == f"in use by Lambda fn:$LATEST in account {B}"
    assert reasons[by_job] == f"in use by Batch job queue/nightly (RUNNABLE) in account {B}"
    assert unused not in reasons


@pytest.mark.parametrize("refusal", ["no role", "wrong external id", None])
def test_an_account_that_cannot_be_assumed_withholds_every_deletion(
    tmp_path: Path,
    local_ecr: LocalEcr,
    accounts: LocalAccounts,
    capsys: pytest.CaptureFixture[str],
    refusal: str | None,
) -> None:
    registry = Seeder(local_ecr)
    registry.repository("app")
    old = registry.image("app", pushed_at=OLD)
    member(accounts, B)
    if refusal == "wrong external id":
        member(accounts, C, external_id="an-older-id")
    elif refusal is None:  # the control: C reachable, nothing withheld
        member(accounts, C)

    code, report = run(capsys, write_config(tmp_path, protect={"consumerAccounts": [B, C]}))

    if refusal is None:
        assert code == 0, report["inUseSourceFailures"]
        assert registry.images_left("app") == set()
        return
    assert code == 1
    assert registry.images_left("app") == {old}
    assert local_ecr.strict.count("BatchDeleteImage") == 0
    (failure,) = report["inUseSourceFailures"]
    assert (failure["account"], failure["code"], failure["region"]) == (C, "AccessDenied", "*")
    assert failure["source"] == f"role arn:aws:iam::{C}:role/ecr-janitor-reader"
    (repository,) = report["repositories"]
    assert repository["status"] == "blocked"
    assert f"of account {C}" in repository["message"]
    # The account is asked once, and the reachable one is still read.
    assert local_ecr.strict.count("AssumeRole", service="sts") == 2
    assert local_ecr.strict.count("ListClusters", service="ecs", account=B) == 1


def test_inspector_is_read_where_a_registry_is_cleaned_not_in_consumer_accounts(
    tmp_path: Path, local_ecr: LocalEcr, accounts: LocalAccounts, capsys: pytest.CaptureFixture[str]
) -> None:
    """Inspector's coverage is of an account's own registry: a consumer's says nothing about this one,
    so it is not asked (and `inspector: required` doesn't require it there)."""
    registry = Seeder(local_ecr)
    registry.repository("app")
    running = registry.image("app", pushed_at=OLD, tags=["v1"])
    home = Workloads(strict=local_ecr.strict)
    home.inspector("ENABLED")
    home.inspector_coverage("app", running, in_use=1)
    member(accounts, B)  # Inspector's ECR scanning is off in B

    code, report = run(
        capsys, write_config(tmp_path, protect={"consumerAccounts": [B], "inspector": "required"})
    )

    assert code == 0, report["inUseSourceFailures"]
    assert registry.images_left("app") == {running}
    assert [(use["account"], use["used"]) for use in report["inspector"]] == [(A, True)]
    assert local_ecr.strict.count(service="inspector2", account=B) == 0
    assert local_ecr.strict.count(service="inspector2", account=A) == 2  # status, one coverage page


def test_an_eks_cluster_in_another_account_is_read_with_that_accounts_role(
    tmp_path: Path, local_ecr: LocalEcr, accounts: LocalAccounts, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same sources in every account: B's clusters, through B's role, with tokens B's role signed
    (the cluster's access entry names B's member role, not the hub's)."""
    registry = Seeder(local_ecr)
    registry.repository("app")
    used, unused = (registry.image("app", pushed_at=OLD, tags=[t]) for t in ("v1", "v0"))
    member(accounts, B)
    cluster = KubeApiFake("prod", secret_for=session_secret).start()
    try:
        Workloads(account=B).eks_cluster(cluster)
        cluster.add("Deployment", workload("Deployment", "payments", "api", [image_uri("app", tag="v1")]))

        code, report = run(capsys, write_config(tmp_path, protect={"consumerAccounts": [B], "eks": "auto"}))
    finally:
        cluster.stop()

    assert code == 0, report["inUseSourceFailures"]
    assert registry.images_left("app") == {used}
    assert unused not in registry.images_left("app")
    assert kept(report, "app")[used] == f"in use by EKS prod/payments Deployment api in account {B}"
    assert cluster.signers
    assert {account_of_key(key) for key in cluster.signers} == {B}
    assert local_ecr.strict.count("GET /clusters/prod", service="eks", account=B) == 1  # DescribeCluster


def test_the_text_report_names_the_unreachable_account(
    tmp_path: Path, local_ecr: LocalEcr, accounts: LocalAccounts, capsys: pytest.CaptureFixture[str]
) -> None:
    Seeder(local_ecr).repository("app")
    code = main(["plan", "--config", str(write_config(tmp_path, protect={"consumerAccounts": [C]}))])
    out, _ = capsys.readouterr()
    assert code == 1
    assert (
        f"role arn:aws:iam::{C}:role/ecr-janitor-reader of account {C} could not be read (AccessDenied" in out
    )
    assert "workloads read in 2 account(s)" in out


# -- 2. the organization, and OUs ----------------------------------------------------------------


def test_an_account_added_to_the_organization_is_read_on_the_next_run(
    tmp_path: Path, local_ecr: LocalEcr, accounts: LocalAccounts, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = Seeder(local_ecr)
    registry.repository("app")
    v1, v2 = (registry.image("app", pushed_at=OLD, tags=[t]) for t in ("v1", "v2"))
    accounts.organization()
    first = accounts.new_account("first")
    member(accounts, first)
    Workloads(account=first).task_definition("web", image_uri("app", tag="v1"))
    config = write_config(tmp_path, protect={"consumerAccounts": "organization"})

    code, before = run(capsys, config, "plan")
    assert code == 0, before["inUseSourceFailures"]
    assert before["consumerAccounts"] == [A, first]
    assert {image["digest"] for image in before["repositories"][0]["expired"]} == {v2}

    # A new account joins (the StackSet's auto-deployment gives it the role) and runs v2.
    joined = accounts.new_account("joined")
    member(accounts, joined)
    Workloads(account=joined).lambda_function("fn", image_uri("app", tag="v2"))

    code, after = run(capsys, config)
    assert code == 0, after["inUseSourceFailures"]
    assert after["consumerAccounts"] == [A, *sorted([first, joined])]
    assert registry.images_left("app") == {v1, v2}
    assert kept(after, "app")[v2] == f"in use by Lambda fn:$LATEST in account {joined}"


def test_only_the_accounts_under_the_listed_ous_are_read_nested_ones_included(
    tmp_path: Path, local_ecr: LocalEcr, accounts: LocalAccounts, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = Seeder(local_ecr)
    registry.repository("app")
    used = registry.image("app", pushed_at=OLD, tags=["v1"])
    accounts.organization()
    workloads = accounts.unit("workloads")
    nested = accounts.new_account("nested", unit=accounts.unit("team-a", parent=workloads))
    member(accounts, nested)
    Workloads(account=nested).task_definition("web", image_uri("app", tag="v1"))
    outside = accounts.new_account("sandbox", unit=accounts.unit("sandbox"))  # no role: reading it would fail
    suspended = accounts.new_account("closed", unit=workloads)
    accounts.close(suspended)  # no longer ACTIVE: not read (it has no role either)

    config = write_config(tmp_path, protect={"consumerAccounts": {"organization": {"ous": [workloads]}}})
    code, report = run(capsys, config)

    assert code == 0, report["inUseSourceFailures"]
    assert report["consumerAccounts"] == [A, nested]
    assert outside not in report["consumerAccounts"]
    assert registry.images_left("app") == {used}


def test_an_organization_that_cannot_be_listed_withholds_every_deletion(
    tmp_path: Path, local_ecr: LocalEcr, accounts: LocalAccounts, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = Seeder(local_ecr)
    registry.repository("app")
    old = registry.image("app", pushed_at=OLD)
    accounts.organization()
    local_ecr.strict.faults.append(
        Fault("ListAccounts", "AccessDeniedException", "not the management account", service="organizations")
    )

    code, report = run(capsys, write_config(tmp_path, protect={"consumerAccounts": "organization"}))

    assert code == 1
    assert registry.images_left("app") == {old}
    (failure,) = report["inUseSourceFailures"]
    assert (failure["source"], failure["code"], failure["account"]) == (
        "AWS Organizations (consumerAccounts)",
        "AccessDeniedException",
        A,
    )


# -- 3. many registries ----------------------------------------------------------------------------


def test_each_listed_registry_is_cleaned_through_its_role_and_reads_its_own_workloads(
    tmp_path: Path, local_ecr: LocalEcr, accounts: LocalAccounts, capsys: pytest.CaptureFixture[str]
) -> None:
    home, other = Seeder(local_ecr), Seeder(local_ecr, account=B)
    for registry in (home, other):
        registry.repository("app")
    home_v1, home_v0 = (home.image("app", pushed_at=OLD, tags=[t]) for t in ("v1", "v0"))
    other_v1, other_v0 = (other.image("app", pushed_at=OLD, tags=[t]) for t in ("v1", "v0"))
    member(accounts, B)
    # B runs its own `app:v1` (no host: B's registry). It keeps B's v1 and not A's.
    Workloads(account=B).task_definition("web", "app:v1")

    code, report = run(capsys, write_config(tmp_path, accounts=[A, B]))

    assert code == 0, (report["inUseSourceFailures"], report["regionFailures"])
    assert report["accounts"] == [A, B]
    assert home.images_left("app") == set()
    assert other.images_left("app") == {other_v1}
    assert kept(report, "app", B)[other_v1] == f"in use by ECS task definition web:1 in account {B}"
    assert {home_v1, home_v0, other_v0}.isdisjoint(home.images_left("app") | other.images_left("app"))
    # B's registry through B's role, A's with the janitor's own credentials: one AssumeRole in all.
    assert local_ecr.strict.count("BatchDeleteImage", account=B) == 1
    assert local_ecr.strict.count("BatchDeleteImage", account=A) == 1
    assert local_ecr.strict.count("AssumeRole", service="sts") == 1


def test_a_registry_that_fails_is_reported_and_the_others_are_still_cleaned(
    tmp_path: Path,
    local_ecr: LocalEcr,
    accounts: LocalAccounts,
    capsys: pytest.CaptureFixture[str],
    instant_retries: None,
) -> None:
    cleaned, failing = Seeder(local_ecr, account=B), Seeder(local_ecr, account=C)
    for registry in (cleaned, failing):
        registry.repository("app")
    old_b, old_c = cleaned.image("app", pushed_at=OLD), failing.image("app", pushed_at=OLD)
    member(accounts, B)
    member(accounts, C)
    local_ecr.strict.faults.append(
        Fault("DescribeRepositories", "ThrottlingException", "Rate exceeded", times=None, account=C)
    )

    code, report = run(capsys, write_config(tmp_path, accounts=[C, B]))

    assert code == 1
    assert cleaned.images_left("app") == set()
    assert failing.images_left("app") == {old_c}
    (failure,) = report["regionFailures"]
    assert (failure["account"], failure["region"], failure["code"]) == (C, "us-east-1", "ThrottlingException")
    assert [(r["account"], r["status"]) for r in report["repositories"]] == [(B, "cleaned")]
    assert old_b not in cleaned.images_left("app")


def test_a_registry_whose_role_cannot_be_assumed_is_reported_and_nothing_is_deleted(
    tmp_path: Path, local_ecr: LocalEcr, accounts: LocalAccounts, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unreachable registry's account is also an unreadable consumer: its workloads may run any of
    these images, so deletions are withheld everywhere (fail closed); the rest is still evaluated."""
    reachable = Seeder(local_ecr, account=B)
    reachable.repository("app")
    old = reachable.image("app", pushed_at=OLD)
    member(accounts, B)

    code, report = run(capsys, write_config(tmp_path, accounts=[B, C]))

    assert code == 1
    assert reachable.images_left("app") == {old}
    assert [(r["account"], r["status"]) for r in report["repositories"]] == [(B, "blocked")]
    assert [(f["account"], f["code"]) for f in report["regionFailures"]] == [(C, "AccessDenied")]
    assert [(f["account"], f["code"]) for f in report["inUseSourceFailures"]] == [(C, "AccessDenied")]
    assert local_ecr.strict.count("AssumeRole", service="sts") == 2  # C asked once for both purposes


def test_the_text_report_has_an_account_column_with_many_registries(
    tmp_path: Path, local_ecr: LocalEcr, accounts: LocalAccounts, capsys: pytest.CaptureFixture[str]
) -> None:
    Seeder(local_ecr, account=B).repository("team/api")
    member(accounts, B)
    code = main(["plan", "--config", str(write_config(tmp_path, accounts=[B]))])
    out, _ = capsys.readouterr()
    assert code == 0
    header = next(line for line in out.splitlines() if "REPOSITORY" in line)
    assert header.split()[:3] == ["ACCOUNT", "REGION", "REPOSITORY"]
    assert f"{B}  us-east-1  team/api" in out
    assert f"registries of 1 account(s): {B}" in out


# -- 4. fan-out: a slice is one registry, and its worker reaches it through the account's role --------


def test_fan_out_slices_each_registry_and_its_worker_cleans_it_through_the_role(
    tmp_path: Path,
    local_ecr: LocalEcr,
    accounts: LocalAccounts,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home, other, failing = Seeder(local_ecr), Seeder(local_ecr, account=B), Seeder(local_ecr, account=C)
    for registry in (home, other, failing):
        registry.repository("app")
        registry.image("app", pushed_at=OLD, size_bytes=10)
    member(accounts, B)
    member(accounts, C)
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    for name, value in {
        ENV_RUN_BUCKET: BUCKET,
        ENV_FANOUT_SLICE_SIZE: "10",
        ENV_FANOUT_CONCURRENCY: "2",
        ENV_CONFIG_PATH: str(write_config(tmp_path, accounts=[A, B, C], regions=["us-east-1"])),
    }.items():
        monkeypatch.setenv(name, value)
    metrics.clear_metrics()
    driver = Driver(capsys)

    prepared = driver.prepare()
    slices = driver.get(prepared["slicesKey"])
    assert [(s.get("account"), s["region"], len(s["repositories"])) for s in slices] == [
        (A, "us-east-1", 1),
        (B, "us-east-1", 1),
        (C, "us-east-1", 1),
    ]
    assert driver.get(f"runs/{driver.run_id}/run.json")["accounts"] == [A, B, C]
    local_ecr.strict.faults.append(Fault("BatchDeleteImage", "AccessDeniedException", "no", account=C))
    summary = driver.summary(prepared, driver.map_run(prepared))

    assert summary["status"] == "failed"  # C's deletion was refused
    assert (home.images_left("app"), other.images_left("app")) == (set(), set())
    assert len(failing.images_left("app")) == 1
    assert local_ecr.strict.count("BatchDeleteImage", account=B) == 1
    assert summary["totals"]["imagesExpired"] == 2
    # The totals keep their single dimension; each account gets its own blob {service, Account}.
    per_account = {}
    for blob in driver.emf():
        (dimensions,) = blob["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
        if "Account" in dimensions:
            assert sorted(dimensions) == ["Account", "service"]
            per_account[blob["Account"]] = {
                spec.name: _value(blob, spec)
                for spec in (c.IMAGES_EXPIRED, c.BYTES_RECLAIMED, c.REPOSITORIES_FAILED)
            }
        else:
            assert dimensions == ["service"]
            assert _value(blob, c.IMAGES_EXPIRED) == 2
    assert per_account == {
        A: {"ImagesExpired": 1, "BytesReclaimed": 10, "RepositoriesFailed": 0},
        B: {"ImagesExpired": 1, "BytesReclaimed": 10, "RepositoriesFailed": 0},
        C: {"ImagesExpired": 0, "BytesReclaimed": 0, "RepositoriesFailed": 0},
    }
    metrics.clear_metrics()


def test_a_worker_refuses_a_slice_of_an_account_the_config_does_not_clean(
    tmp_path: Path,
    local_ecr: LocalEcr,
    accounts: LocalAccounts,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    member(accounts, C)
    monkeypatch.setenv(ENV_RUN_BUCKET, BUCKET)
    monkeypatch.setenv(ENV_CONFIG_PATH, str(write_config(tmp_path, accounts=[B])))
    event = {
        "fanOut": {
            "step": "worker",
            "runId": "run-1",
            "sliceIndex": 0,
            "slice": {
                "account": C,
                "region": "us-east-1",
                "repositories": [{"name": "app", "arn": f"arn:aws:ecr:us-east-1:{C}:repository/app"}],
            },
        }
    }
    with pytest.raises(
        InvalidEventError, match=f"slice 0 is in account {C}, which the config does not clean"
    ):
        handler(event, FakeLambdaContext())
    assert local_ecr.strict.count("AssumeRole", service="sts") == 0
    assert local_ecr.strict.count(service="ecr") == 0


# -- 3. restore after a run over many registries ------------------------------------------------------


@pytest.mark.parametrize("source", ["report", "audit"])
def test_restore_of_a_many_account_run_restores_the_callers_account_and_names_the_others(
    tmp_path: Path,
    local_ecr: LocalEcr,
    accounts: LocalAccounts,
    capsys: pytest.CaptureFixture[str],
    source: str,
) -> None:
    """One night archived `app:v1` in A and in B. Restoring it with A's credentials restores A's image and
    says B's needs B's credentials, rather than looking for B's image in A's registry."""
    home, other = Seeder(local_ecr), Seeder(local_ecr, account=B)
    for registry in (home, other):
        registry.repository("app")
    home_v1, other_v1 = (registry.image("app", pushed_at=OLD, tags=["v1"]) for registry in (home, other))
    member(accounts, B)
    archive = transition(rule(1, "any", "sinceImagePushed", 14))
    target = {"repositories": ["*"], "mode": "retain", "policy": {"rules": [archive]}}
    config = write_config(tmp_path, accounts=[A, B], targets=[target])
    assert main(["run", "--config", str(config), "--json"]) == 0
    out, err = capsys.readouterr()
    trail = tmp_path / ("report.json" if source == "report" else "audit.jsonl")
    trail.write_text(out if source == "report" else err)
    run_id = json.loads(out)["runId"]
    local_ecr.strict.calls.clear()

    code = main(["restore", "--run", run_id, "--from", str(trail), "--json"])
    out, _ = capsys.readouterr()

    assert code == 1  # the run is not undone until B's image is restored too
    result = {i["digest"]: i for i in json.loads(out)["images"]}
    assert result[home_v1]["outcome"] == "restored"
    assert (result[other_v1]["outcome"], result[other_v1]["detail"]) == (
        "other-account",
        f"in account {B}: run restore with that account's credentials",
    )
    assert json.loads(out)["totals"]["other-account"] == 1
    assert local_ecr.strict.count("UpdateImageStorageClass", account=A) == 1
    assert local_ecr.strict.count("GetCallerIdentity", service="sts") == 1
    assert local_ecr.strict.image_status((scope(B, "us-east-1"), "app", other_v1)) == "ARCHIVED"
    assert main(["restore", "--run", run_id, "--from", str(trail)]) == 1
    out, _ = capsys.readouterr()
    assert f"images of account(s) {B} were not asked for: these credentials are in account {A}" in out
    assert "Totals [INCOMPLETE]: 1 already-active, 1 other-account" in out
