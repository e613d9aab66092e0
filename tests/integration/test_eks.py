"""EKS as an in-use source, through the CLI: the strict local ECR (with moto's EKS) and a local
Kubernetes API fake per cluster (devtools/kube_api.py), reached over TLS with the token EKS expects."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools.kube_api import KubeApiFake, item, pod, workload
from devtools.local_ecr import Fault, LocalEcr
from devtools.seed import Seeder
from devtools.workloads import Workloads, image_uri
from ecr_janitor.cli import main
from tests.integration.test_in_use import OLD, kept_reasons, run, write_config

CONTROLLERS = ["Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob"]
ALL_KINDS = ["Pod", *CONTROLLERS]
Cluster = Callable[..., KubeApiFake]


@pytest.fixture
def cluster(local_ecr: LocalEcr) -> Iterator[Cluster]:
    """Start a Kubernetes API fake and register it in the local EKS as the cluster's endpoint and CA."""
    started: list[KubeApiFake] = []

    def make(
        name: str = "prod",
        *,
        region: str = "us-east-1",
        status: str = "ACTIVE",
        ca_data: str | None = None,
        **options: Any,
    ) -> KubeApiFake:
        fake = KubeApiFake(name, region=region, **options).start()
        started.append(fake)
        Workloads(region).eks_cluster(fake, status=status, ca_data=ca_data)
        return fake

    yield make
    for fake in started:
        fake.stop()


def config(tmp_path: Path, *, regions: list[str] | None = None, **protect: Any) -> Path:
    path = write_config(tmp_path, protect=protect)
    if regions:
        path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), "regions": regions}))
    return path


def two_old_images(seeder: Seeder) -> tuple[str, str]:
    """svc/app with `named` (tag v1) and `unnamed` (tag v0), both past the 14-day rule."""
    seeder.repository("svc/app")
    return seeder.image("svc/app", pushed_at=OLD, tags=["v1"]), seeder.image(
        "svc/app", pushed_at=OLD, tags=["v0"]
    )


# -- what counts as in use -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", CONTROLLERS)
def test_a_controllers_pod_template_keeps_its_image_and_nothing_else(
    tmp_path: Path, seeder: Seeder, cluster: Cluster, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    named, unnamed = two_old_images(seeder)
    prod = cluster("prod")
    prod.add(kind, workload(kind, "payments", "api", [image_uri("svc/app", tag="v1"), "nginx:1.27"]))

    code, report = run(capsys, config(tmp_path))

    assert code == 0, report
    assert seeder.images_left("svc/app") == {named}
    assert kept_reasons(report, "svc/app")[named] == ("in-use", f"in use by EKS prod/payments {kind} api")
    assert unnamed not in seeder.images_left("svc/app")
    assert prod.lists(kind), "the kind was never listed"


@pytest.mark.parametrize("where", ["containers", "initContainers", "ephemeralContainers", "status.imageID"])
def test_a_pod_keeps_what_it_names_and_the_digest_it_pulled(
    tmp_path: Path, seeder: Seeder, cluster: Cluster, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    named, _ = two_old_images(seeder)
    by_tag = image_uri("svc/app", tag="v1")
    item = {
        "containers": pod("payments", "api-7d9f", [by_tag]),
        "initContainers": pod("payments", "api-7d9f", ["nginx:1.27"], init=[by_tag]),
        "ephemeralContainers": pod("payments", "api-7d9f", ["nginx:1.27"], ephemeral=[by_tag]),
        # The spec names a tag that has moved on; the node pulled (and runs) this digest.
        "status.imageID": pod(
            "payments",
            "api-7d9f",
            [image_uri("svc/app", tag="v9")],
            pulled=[f"docker-pullable://{image_uri('svc/app', digest=named)}"],
        ),
    }[where]
    cluster("prod").add("Pod", item)

    code, report = run(capsys, config(tmp_path))

    assert code == 0, report
    assert seeder.images_left("svc/app") == {named}
    assert kept_reasons(report, "svc/app")[named] == ("in-use", "in use by EKS prod/payments Pod api-7d9f")


def test_every_page_of_every_kind_is_read(
    tmp_path: Path, seeder: Seeder, cluster: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    seeder.repository("svc/app")
    images = {
        kind: [seeder.image("svc/app", pushed_at=OLD, tags=[f"{kind}-{n}"]) for n in range(5)]
        for kind in ALL_KINDS
    }
    unused = seeder.image("svc/app", pushed_at=OLD, tags=["unused"])
    prod = cluster("prod", page_cap=2)  # the server answers 2 objects a page, whatever the client asks
    for kind in ALL_KINDS:
        uris = [[image_uri("svc/app", tag=f"{kind}-{n}")] for n in range(5)]
        prod.add(kind, *(item(kind, "team", f"{kind.lower()}-{n}", uri) for n, uri in enumerate(uris)))

    code, _ = run(capsys, config(tmp_path))

    assert code == 0
    assert seeder.images_left("svc/app") == {digest for kept in images.values() for digest in kept}
    assert unused not in seeder.images_left("svc/app")
    for kind in ALL_KINDS:
        pages = prod.lists(kind)
        assert len(pages) == 3, kind
        assert [r.items for r in pages] == [2, 2, 1]
        assert all(r.query["limit"] == "500" for r in pages)
        assert [bool(r.query.get("continue")) for r in pages] == [False, True, True]


def test_clusters_of_every_configured_region_are_read(
    tmp_path: Path, seeder: Seeder, cluster: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    # A workload in eu-west-1 pulling from us-east-1.
    named, _ = two_old_images(seeder)
    cluster("dublin", region="eu-west-1").add(
        "CronJob", workload("CronJob", "ops", "report", [image_uri("svc/app", tag="v1")])
    )
    code, report = run(capsys, config(tmp_path, regions=["us-east-1", "eu-west-1"]))
    assert code == 0, report
    assert seeder.images_left("svc/app") == {named}
    assert kept_reasons(report, "svc/app")[named][1] == "in use by EKS dublin/ops CronJob report"


def test_listed_clusters_only_and_no_discovery(
    tmp_path: Path, local_ecr: LocalEcr, seeder: Seeder, cluster: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    named, _ = two_old_images(seeder)
    cluster("prod").add("Deployment", workload("Deployment", "a", "api", [image_uri("svc/app", tag="v1")]))
    dev = cluster("dev")
    dev.add("Deployment", workload("Deployment", "a", "api", [image_uri("svc/app", tag="v0")]))
    before = len(local_ecr.strict.calls)

    code, _ = run(capsys, config(tmp_path, eks=["prod"]))

    assert code == 0
    assert seeder.images_left("svc/app") == {named}
    assert dev.requests == []
    eks_calls = [c.operation for c in local_ecr.strict.calls[before:] if c.service == "eks"]
    assert eks_calls == ["GET /clusters/prod"]


def test_a_cluster_still_being_created_has_nothing_to_read(
    tmp_path: Path, seeder: Seeder, cluster: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    two_old_images(seeder)
    creating = cluster("new", status="CREATING")
    code, report = run(capsys, config(tmp_path))
    assert (code, report["inUseSourceFailures"]) == (0, [])
    assert creating.requests == []
    assert seeder.images_left("svc/app") == set()


def test_off_reads_no_cluster(
    tmp_path: Path, local_ecr: LocalEcr, seeder: Seeder, cluster: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    two_old_images(seeder)
    prod = cluster("prod")
    before = local_ecr.strict.count(service="eks")
    for protect in ({"eks": "off"}, {"inUse": False}):
        code, _ = run(capsys, config(tmp_path, **protect))
        assert code == 0
    assert local_ecr.strict.count(service="eks") == before
    assert prod.requests == []


# -- fail closed -----------------------------------------------------------------------------------------


def assert_withheld(report: dict[str, Any], seeder: Seeder, images: set[str], code: int) -> dict[str, str]:
    """Nothing deleted, the repository blocked, exit 1; returns the one failure."""
    assert code == 1
    assert seeder.images_left("svc/app") == images
    (repo,) = report["repositories"]
    assert repo["status"] == "blocked"
    assert repo["imagesExpirable"] >= 1
    assert report["totals"]["inUseSourcesFailed"] == 1
    (failure,) = report["inUseSourceFailures"]
    assert failure["source"] in repo["message"]
    return dict(failure)


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_a_cluster_that_forbids_one_kind_withholds_every_deletion(
    tmp_path: Path,
    local_ecr: LocalEcr,
    seeder: Seeder,
    cluster: Cluster,
    capsys: pytest.CaptureFixture[str],
    kind: str,
) -> None:
    named, unnamed = two_old_images(seeder)
    prod = cluster("prod")
    prod.add("Deployment", workload("Deployment", "a", "api", [image_uri("svc/app", tag="v1")]))
    prod.forbid(kind, "kube-system")  # one namespace is enough: the cluster-wide list is refused

    code, report = run(capsys, config(tmp_path))

    failure = assert_withheld(report, seeder, {named, unnamed}, code)
    assert local_ecr.strict.count("BatchDeleteImage") == 0
    assert (failure["region"], failure["source"], failure["code"]) == (
        "us-east-1",
        "EKS cluster prod",
        "Forbidden",
    )
    assert failure["message"].startswith(f"listing {kind}s: GET ")


def test_the_same_cluster_in_ignore_clusters_is_reported_and_deletions_go_on(
    tmp_path: Path, seeder: Seeder, cluster: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    named, _ = two_old_images(seeder)
    prod = cluster("prod")
    prod.add("Deployment", workload("Deployment", "a", "api", [image_uri("svc/app", tag="v1")]))
    prod.forbid("Job")
    path = config(tmp_path, eks={"clusters": "auto", "ignoreClusters": ["prod"]})

    code, report = run(capsys, path)

    assert code == 0, report
    assert report["inUseSourceFailures"] == []
    (warning,) = report["inUseSourceWarnings"]
    assert (warning["source"], warning["code"]) == ("EKS cluster prod", "Forbidden")
    # What was read before the refusal still protects; the rest of the cluster is unknown.
    assert seeder.images_left("svc/app") == {named}
    (repo,) = report["repositories"]
    assert repo["status"] == "cleaned"

    assert main(["plan", "--config", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "Warnings (protect.eks.ignoreClusters: these withhold no deletion):" in out
    assert "EKS cluster prod in us-east-1 could not be read (Forbidden: listing Jobs" in out
    assert "in_use_source_ignored" in err


def test_a_token_the_cluster_refuses_withholds_deletions(
    tmp_path: Path, seeder: Seeder, cluster: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    images = set(two_old_images(seeder))
    cluster("prod", secret_key="the-cluster-trusts-another-signer")
    code, report = run(capsys, config(tmp_path))
    failure = assert_withheld(report, seeder, images, code)
    assert (failure["code"], failure["message"]) == (
        "Unauthorized",
        "listing Pods: GET /api/v1/pods: Unauthorized",
    )


def test_a_certificate_not_signed_by_the_clusters_ca_withholds_deletions(
    tmp_path: Path, seeder: Seeder, cluster: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    images = set(two_old_images(seeder))
    prod = cluster("prod", ca_data=KubeApiFake("prod").ca_data)  # DescribeCluster names another CA
    code, report = run(capsys, config(tmp_path))
    failure = assert_withheld(report, seeder, images, code)
    assert failure["code"] == "SSLError"
    assert prod.requests == []


def test_an_unreachable_endpoint_withholds_deletions(
    tmp_path: Path, seeder: Seeder, cluster: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    images = set(two_old_images(seeder))
    cluster("prod").stop()
    code, report = run(capsys, config(tmp_path))
    assert assert_withheld(report, seeder, images, code)["code"] == "ConnectionError"


@pytest.mark.parametrize(
    ("operation", "source", "region"),
    [
        ("GET /clusters", "EKS clusters", "us-east-1"),  # ListClusters: which clusters exist is unknown
        ("GET /clusters/prod", "EKS cluster prod", "us-east-1"),  # DescribeCluster
    ],
)
def test_an_eks_api_refusal_withholds_deletions(
    tmp_path: Path,
    local_ecr: LocalEcr,
    seeder: Seeder,
    cluster: Cluster,
    capsys: pytest.CaptureFixture[str],
    operation: str,
    source: str,
    region: str,
) -> None:
    images = set(two_old_images(seeder))
    cluster("prod")
    local_ecr.strict.faults.append(
        Fault(operation, "AccessDeniedException", "not authorized", status=403, times=None, service="eks")
    )
    code, report = run(capsys, config(tmp_path))
    failure = assert_withheld(report, seeder, images, code)
    assert (failure["source"], failure["region"], failure["code"]) == (
        source,
        region,
        "AccessDeniedException",
    )


def test_ignore_clusters_cannot_ignore_that_the_clusters_are_unknown(
    tmp_path: Path, local_ecr: LocalEcr, seeder: Seeder, cluster: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    images = set(two_old_images(seeder))
    cluster("prod")
    local_ecr.strict.faults.append(
        Fault("GET /clusters", "AccessDeniedException", status=403, times=None, service="eks")
    )
    code, report = run(capsys, config(tmp_path, eks={"ignoreClusters": ["prod"]}))
    assert assert_withheld(report, seeder, images, code)["source"] == "EKS clusters"


def test_a_listed_cluster_found_in_no_region_withholds_deletions_unless_ignored(
    tmp_path: Path, seeder: Seeder, capsys: pytest.CaptureFixture[str]
) -> None:
    images = set(two_old_images(seeder))
    code, report = run(capsys, config(tmp_path, eks=["gone"]))
    failure = assert_withheld(report, seeder, images, code)
    assert (failure["region"], failure["code"], failure["message"]) == (
        "*",
        "ClusterNotFound",
        "not in us-east-1",
    )

    code, report = run(capsys, config(tmp_path, eks={"clusters": ["gone"], "ignoreClusters": ["gone"]}))
    assert code == 0
    assert report["inUseSourceWarnings"][0]["code"] == "ClusterNotFound"
    assert seeder.images_left("svc/app") == set()


def test_an_expired_continue_token_restarts_the_listing_once(
    tmp_path: Path, seeder: Seeder, cluster: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    seeder.repository("svc/app")
    kept = [seeder.image("svc/app", pushed_at=OLD, tags=[f"v{n}"]) for n in range(3)]
    prod = cluster("prod", page_cap=1)
    prod.add(
        "Deployment",
        *(workload("Deployment", "a", f"d{n}", [image_uri("svc/app", tag=f"v{n}")]) for n in range(3)),
    )
    prod.expire_continue = 1

    code, _ = run(capsys, config(tmp_path))

    assert code == 0
    assert seeder.images_left("svc/app") == set(kept)
    statuses = [(r.status, bool(r.query.get("continue"))) for r in prod.lists("Deployment")]
    assert statuses == [(200, False), (410, True), (200, False), (200, True), (200, True)]


def test_a_second_expired_continue_token_withholds_deletions(
    tmp_path: Path, seeder: Seeder, cluster: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    seeder.repository("svc/app")
    images = {seeder.image("svc/app", pushed_at=OLD, tags=["v1"])}
    prod = cluster("prod", page_cap=1)
    prod.add("Pod", *(pod("a", f"p{n}", ["nginx:1.27"]) for n in range(3)))
    prod.expire_continue = 2
    code, report = run(capsys, config(tmp_path))
    assert code == 1
    assert seeder.images_left("svc/app") == images
    assert report["inUseSourceFailures"][0]["code"] == "Expired"


@pytest.mark.parametrize("ignored", [False, True])
def test_an_ecr_looking_uri_that_does_not_parse_fails_its_cluster(
    tmp_path: Path, seeder: Seeder, cluster: Cluster, capsys: pytest.CaptureFixture[str], ignored: bool
) -> None:
    images = set(two_old_images(seeder))
    bad = "123456789012.dkr.ecr.us-east-1.amazonaws.com/svc/app:has space"
    cluster("prod").add("Deployment", workload("Deployment", "a", "api", [bad]))
    eks = {"clusters": "auto", "ignoreClusters": ["prod"] if ignored else []}

    code, report = run(capsys, config(tmp_path, eks=eks))

    problems = report["inUseSourceWarnings"] if ignored else report["inUseSourceFailures"]
    (problem,) = problems
    assert (problem["source"], problem["code"]) == ("EKS cluster prod", "UnreadableImageUri")
    assert "EKS prod/a Deployment api holds" in problem["message"]
    if ignored:
        assert (code, seeder.images_left("svc/app")) == (0, set())
    else:
        assert_withheld(report, seeder, images, code)


def test_a_cluster_deleted_between_listing_and_describing_runs_nothing(
    tmp_path: Path, local_ecr: LocalEcr, seeder: Seeder, cluster: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    two_old_images(seeder)
    cluster("gone")
    local_ecr.strict.faults.append(
        Fault(
            "GET /clusters/gone", "ResourceNotFoundException", "No cluster found", status=404, service="eks"
        )
    )
    code, report = run(capsys, config(tmp_path))
    assert (code, report["inUseSourceFailures"]) == (0, [])
    assert seeder.images_left("svc/app") == set()
