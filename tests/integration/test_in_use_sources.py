"""The second wave of in-use sources against the strict local ECR: service revisions, Batch jobs and
multi-node ranges, Amazon Inspector, and URIs that look like ECR but don't parse. Each "kept because
used" has its control: the same image expires when nothing uses it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from devtools.local_ecr import Fault, LocalEcr
from devtools.seed import Seeder
from devtools.workloads import Workloads, image_uri
from ecr_janitor.cli import main
from tests.integration.test_in_use import OLD, kept_reasons, run, withheld, write_config


@pytest.fixture
def workloads(local_ecr: LocalEcr) -> Workloads:
    return Workloads(strict=local_ecr.strict)


# -- 1. ECS: a service's revisions pin the digests its deployments resolved ------------------------


@pytest.mark.parametrize("still_running", [True, False])
def test_a_service_keeps_the_digest_its_revision_resolved_after_the_tag_moved(
    tmp_path: Path,
    seeder: Seeder,
    workloads: Workloads,
    capsys: pytest.CaptureFixture[str],
    still_running: bool,
) -> None:
    seeder.repository("svc/web")
    deployed = seeder.image("svc/web", pushed_at=OLD)  # what `latest` was when the service deployed
    latest = seeder.image("svc/web", pushed_at=OLD, tags=["latest"])  # the tag moved since
    cluster = workloads.cluster("prod")
    workloads.service(cluster, "web", workloads.task_definition("web", image_uri("svc/web", tag="latest")))
    revision = workloads.service_revision(cluster, "web", (image_uri("svc/web", tag="latest"), deployed))
    if not still_running:  # the control: the service no longer runs that revision
        workloads.retire_service_revisions(cluster, "web")

    code, report = run(capsys, write_config(tmp_path, protect={"inspector": "off"}))

    assert code == 0, report["inUseSourceFailures"]
    if still_running:
        assert seeder.images_left("svc/web") == {deployed, latest}
        holder = f"ECS service prod/web revision {revision.rsplit('/', 1)[-1]}"
        assert kept_reasons(report, "svc/web")[deployed] == ("in-use", f"in use by {holder}")
    else:
        assert seeder.images_left("svc/web") == {latest}


def test_a_cluster_of_more_services_than_one_describe_call_takes_keeps_each_ones_image(
    tmp_path: Path, seeder: Seeder, workloads: Workloads, capsys: pytest.CaptureFixture[str]
) -> None:
    seeder.repository("svc/many")
    cluster = workloads.cluster("prod")
    pinned = []
    for n in range(11):  # ECS describes 10 services a call; the local ECR refuses more, as ECS does
        digest = seeder.image("svc/many", pushed_at=OLD)
        uri = image_uri("svc/many", digest=digest)
        workloads.service(cluster, f"svc-{n}", workloads.task_definition(f"svc-{n}", uri))
        workloads.service_revision(cluster, f"svc-{n}", (uri, digest))
        pinned.append(digest)
    unused = seeder.image("svc/many", pushed_at=OLD)  # the control

    code, report = run(capsys, write_config(tmp_path, protect={"inspector": "off"}))

    assert code == 0, report["inUseSourceFailures"]
    assert seeder.images_left("svc/many") == set(pinned)
    assert unused not in seeder.images_left("svc/many")


def test_a_revision_ecs_cannot_describe_withholds_deletions(
    tmp_path: Path,
    local_ecr: LocalEcr,
    seeder: Seeder,
    workloads: Workloads,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seeder.repository("svc/web")
    images = {seeder.image("svc/web", pushed_at=OLD)}
    cluster = workloads.cluster("prod")
    workloads.service(cluster, "web", workloads.task_definition("web", image_uri("svc/web", tag="v1")))
    arn = workloads.service_revision(cluster, "web", (image_uri("svc/web", tag="v1"), next(iter(images))))
    del local_ecr.strict.revisions[arn]  # listed by the service, unknown to DescribeServiceRevisions

    code, report = run(capsys, write_config(tmp_path, protect={"inspector": "off"}))

    failure = withheld(code, report, seeder.images_left("svc/web"), images)
    assert (failure["source"], failure["code"]) == ("ECS", "ServiceRevisionUnreadable")
    assert arn in failure["message"]


# -- 2. Batch: multi-node ranges and jobs still queued or running ---------------------------------


@pytest.mark.parametrize("used", [True, False])
def test_multi_node_ranges_with_ecs_and_eks_containers_are_read(
    tmp_path: Path, seeder: Seeder, workloads: Workloads, capsys: pytest.CaptureFixture[str], used: bool
) -> None:
    seeder.repository("svc/mnp")
    leader, init = (seeder.image("svc/mnp", pushed_at=OLD, tags=[t]) for t in ("main", "init"))
    if used:
        workloads.batch_multinode_job_definition(
            "train",
            {
                "targetNodes": "0",
                "ecsProperties": {
                    "taskProperties": [
                        {"containers": [{"name": "m", "image": image_uri("svc/mnp", tag="main")}]}
                    ]
                },
            },
            {
                "targetNodes": "1:",
                "eksProperties": {
                    "podProperties": {
                        "containers": [{"image": "public.ecr.aws/docker/library/busybox:1"}],
                        "initContainers": [{"image": image_uri("svc/mnp", digest=init)}],
                    }
                },
            },
        )

    code, report = run(capsys, write_config(tmp_path, protect={"inspector": "off"}))

    assert code == 0, report["inUseSourceFailures"]
    assert seeder.images_left("svc/mnp") == ({leader, init} if used else set())
    if used:
        assert kept_reasons(report, "svc/mnp")[init][1] == "in use by Batch job definition train:1"


@pytest.mark.parametrize(("status", "kept"), [("RUNNABLE", True), ("STARTING", True), ("SUCCEEDED", False)])
def test_a_queued_job_keeps_an_image_no_job_definition_names_any_more(
    tmp_path: Path,
    seeder: Seeder,
    workloads: Workloads,
    capsys: pytest.CaptureFixture[str],
    status: str,
    kept: bool,
) -> None:
    seeder.repository("svc/jobs")
    old_build = seeder.image("svc/jobs", pushed_at=OLD)
    current = seeder.image("svc/jobs", pushed_at=OLD, tags=["v2"])
    workloads.batch_job_definition("nightly", image_uri("svc/jobs", tag="v2"))  # the newest revision
    workloads.batch_job(
        "nightly-queue", "nightly", status, container={"image": image_uri("svc/jobs", digest=old_build)}
    )

    code, report = run(capsys, write_config(tmp_path, protect={"inspector": "off"}))

    assert code == 0, report["inUseSourceFailures"]
    assert seeder.images_left("svc/jobs") == ({old_build, current} if kept else {current})
    if kept:
        assert (
            kept_reasons(report, "svc/jobs")[old_build][1]
            == f"in use by Batch job nightly-queue/nightly ({status})"
        )


# -- 3. URIs that point here: ports, and the fail-closed rule --------------------------------------


def test_a_uri_with_an_explicit_port_pins_its_image(
    tmp_path: Path, seeder: Seeder, workloads: Workloads, capsys: pytest.CaptureFixture[str]
) -> None:
    seeder.repository("svc/app")
    used, unused = (seeder.image("svc/app", pushed_at=OLD, tags=[t]) for t in ("v1", "v0"))
    host = image_uri("svc/app").split("/", 1)[0]
    workloads.task_definition("app", f"{host}:443/svc/app:v1")

    code, report = run(capsys, write_config(tmp_path, protect={"inspector": "off"}))

    assert code == 0, report["inUseSourceFailures"]
    assert seeder.images_left("svc/app") == {used}
    assert unused not in kept_reasons(report, "svc/app")


@pytest.mark.parametrize(
    ("uri", "blocked"),
    [
        ("000000000000.dkr.ecr.us-east-1.amazonaws.com:https/svc/app:v1", True),
        ("https://000000000000.dkr.ecr.us-east-1.amazonaws.com/svc/app:v1", True),
        ("docker.io/library/nginx:1", False),  # the control: another registry is ignored
    ],
)
def test_a_uri_that_looks_like_ecr_but_does_not_parse_withholds_deletions(
    tmp_path: Path,
    local_ecr: LocalEcr,
    seeder: Seeder,
    workloads: Workloads,
    capsys: pytest.CaptureFixture[str],
    uri: str,
    blocked: bool,
) -> None:
    seeder.repository("svc/app")
    image = seeder.image("svc/app", pushed_at=OLD, tags=["v1"])
    workloads.task_definition("app", uri)

    code, report = run(capsys, write_config(tmp_path, protect={"inspector": "off"}))

    if blocked:
        assert code == 1
        assert seeder.images_left("svc/app") == {image}
        assert local_ecr.strict.count("BatchDeleteImage") == 0
        (failure,) = report["inUseSourceFailures"]
        assert (failure["region"], failure["source"], failure["code"]) == (
            "us-east-1",
            "ECS",
            "UnreadableImageUri",
        )
        assert uri in failure["message"]
        assert "ECS task definition app:1" in failure["message"]
        assert report["repositories"][0]["status"] == "blocked"
    else:
        assert code == 0
        assert seeder.images_left("svc/app") == set()


# -- 4. Amazon Inspector ----------------------------------------------------------------------------

NOW = datetime.now(UTC)


@pytest.mark.parametrize(
    ("in_use", "days_ago", "recent_days", "kept"),
    [
        (4, 0, 0, True),  # running now
        (0, 3, 7, True),  # seen 3 days ago, kept for 7
        (0, 10, 7, False),  # seen 10 days ago: gone
        (0, 3, 0, False),  # recentlyInUseDays 0: in use now only
    ],
)
def test_inspector_keeps_what_ecs_tasks_and_eks_pods_run(
    tmp_path: Path,
    seeder: Seeder,
    workloads: Workloads,
    capsys: pytest.CaptureFixture[str],
    in_use: int,
    days_ago: int,
    recent_days: int,
    kept: bool,
) -> None:
    seeder.repository("svc/eks")
    image = seeder.image("svc/eks", pushed_at=OLD)
    workloads.inspector("ENABLED")
    for n in range(450):  # more than two pages of 200 before the one that matters
        workloads.inspector_coverage("svc/other", f"sha256:{n:064x}")
    workloads.inspector_coverage("svc/eks", image, in_use=in_use, last_in_use=NOW - timedelta(days=days_ago))

    code, report = run(
        capsys, write_config(tmp_path, protect={"recentlyInUseDays": recent_days} if recent_days else {})
    )

    assert code == 0, report["inUseSourceFailures"]
    assert seeder.images_left("svc/eks") == ({image} if kept else set())
    last = (NOW - timedelta(days=days_ago)).strftime("%Y-%m-%d")
    if kept:
        assert kept_reasons(report, "svc/eks")[image] == (
            "in-use",
            f"in use by Inspector: {in_use} in use, last {last}",
        )
    (use,) = report["inspector"]
    assert use == {
        "region": "us-east-1",
        "used": True,
        "status": "ENABLED",
        "imagesCovered": 451,
        "imagesInUse": int(kept),
        "account": None,
    }


def test_inspector_auto_without_ecr_scanning_goes_on_and_says_so(
    tmp_path: Path, local_ecr: LocalEcr, seeder: Seeder, capsys: pytest.CaptureFixture[str]
) -> None:
    seeder.repository("svc/api")
    seeder.image("svc/api", pushed_at=OLD)
    code, report = run(capsys, write_config(tmp_path))
    assert code == 0
    assert seeder.images_left("svc/api") == set()
    assert report["inspector"] == [
        {
            "region": "us-east-1",
            "used": False,
            "status": "DISABLED",
            "imagesCovered": 0,
            "imagesInUse": 0,
            "account": None,
        }
    ]
    assert local_ecr.strict.operations("inspector2") == {"POST /status/batch/get": 1}
    assert main(["plan", "--config", str(write_config(tmp_path))]) == 0
    out, _ = capsys.readouterr()
    assert "Inspector in us-east-1: not used (ECR scanning is DISABLED for the account)" in out


def test_inspector_required_without_ecr_scanning_deletes_nothing(
    tmp_path: Path, local_ecr: LocalEcr, seeder: Seeder, capsys: pytest.CaptureFixture[str]
) -> None:
    seeder.repository("svc/api")
    images = {seeder.image("svc/api", pushed_at=OLD)}
    code, report = run(capsys, write_config(tmp_path, protect={"inspector": "required"}))
    failure = withheld(code, report, seeder.images_left("svc/api"), images)
    assert (failure["source"], failure["code"]) == ("Inspector", "InspectorNotEnabled")
    assert "DISABLED" in failure["message"]


def test_inspector_off_asks_nothing(
    tmp_path: Path,
    local_ecr: LocalEcr,
    seeder: Seeder,
    workloads: Workloads,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seeder.repository("svc/api")
    image = seeder.image("svc/api", pushed_at=OLD)
    workloads.inspector("ENABLED")
    workloads.inspector_coverage("svc/api", image, in_use=2)
    code, report = run(capsys, write_config(tmp_path, protect={"inspector": "off"}))
    assert code == 0
    assert seeder.images_left("svc/api") == set()
    assert local_ecr.strict.count(service="inspector2") == 0
    assert report["inspector"] == [
        {
            "region": "us-east-1",
            "used": False,
            "status": "OFF",
            "imagesCovered": 0,
            "imagesInUse": 0,
            "account": None,
        }
    ]


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
def test_inspector_unreadable_withholds_deletions_in_every_region(
    tmp_path: Path, local_ecr: LocalEcr, seeder: Seeder, capsys: pytest.CaptureFixture[str], region: str
) -> None:
    seeder.repository("svc/api")
    images = {seeder.image("svc/api", pushed_at=OLD)}
    local_ecr.strict.faults.append(
        Fault("*", "AccessDeniedException", "no", times=None, service="inspector2", region=region)
    )
    config = write_config(tmp_path)
    config.write_text(
        yaml.safe_dump({**yaml.safe_load(config.read_text()), "regions": ["us-east-1", "eu-west-1"]})
    )
    code, report = run(capsys, config)
    failure = withheld(code, report, seeder.images_left("svc/api"), images)
    assert (failure["region"], failure["source"], failure["code"]) == (
        region,
        "Inspector",
        "AccessDeniedException",
    )


def test_plan_lists_who_uses_each_protected_image(
    tmp_path: Path, seeder: Seeder, workloads: Workloads, capsys: pytest.CaptureFixture[str]
) -> None:
    seeder.repository("svc/web")
    by_revision, by_inspector, unused = (seeder.image("svc/web", pushed_at=OLD) for _ in range(3))
    cluster = workloads.cluster("prod")
    workloads.service(cluster, "web", workloads.task_definition("web", image_uri("svc/web", tag="gone")))
    arn = workloads.service_revision(cluster, "web", (image_uri("svc/web", tag="gone"), by_revision))
    workloads.inspector("ENABLED")
    seen = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    workloads.inspector_coverage("svc/web", by_inspector, in_use=4, last_in_use=seen)
    workloads.inspector_coverage("svc/web", unused)

    assert main(["plan", "--config", str(write_config(tmp_path))]) == 0
    out, _ = capsys.readouterr()

    protected = out.split("Protected: kept although a rule would expire or archive them (2):", 1)[1]
    assert (
        f"{by_revision[:19]}…: in use by ECS service prod/web revision {arn.rsplit('/', 1)[-1]}" in protected
    )
    assert f"{by_inspector[:19]}…: in use by Inspector: 4 in use, last 2026-11-30" in protected
    assert unused[:19] not in protected
    assert "Inspector in us-east-1: used, 2 images covered, 1 in use or recently in use" in out
