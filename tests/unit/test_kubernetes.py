"""Where Kubernetes objects name their images, from the API reference's object shapes (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from devtools.kube_api import pod, workload
from ecr_janitor.core.kubernetes import WORKLOAD_KINDS, WorkloadKind, holder, images_of, pulled_image
from tests.factories import KUBERNETES_LIST_PATHS

KINDS = {kind.kind: kind for kind in WORKLOAD_KINDS}
HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
DIGEST = "sha256:" + "a" * 64


def test_every_workload_kind_is_listed_cluster_wide_at_its_documented_path() -> None:
    assert {kind.kind: kind.path for kind in WORKLOAD_KINDS} == KUBERNETES_LIST_PATHS


def test_a_pod_names_its_containers_init_and_ephemeral_containers_and_what_it_pulled() -> None:
    item = pod(
        "payments",
        "api-7d9f",
        [f"{HOST}/svc/api:v1", "nginx:1.27"],
        init=[f"{HOST}/svc/migrate:v1"],
        ephemeral=[f"{HOST}/tools/debug:v2"],
        pulled=[f"docker-pullable://{HOST}/svc/api@{DIGEST}", f"{HOST}/svc/side@{DIGEST}"],
    )
    assert images_of(KINDS["Pod"], item) == [
        f"{HOST}/svc/api:v1",
        "nginx:1.27",
        f"{HOST}/svc/migrate:v1",
        f"{HOST}/tools/debug:v2",
        f"{HOST}/svc/api@{DIGEST}",
        f"{HOST}/svc/side@{DIGEST}",
    ]


def test_init_and_ephemeral_container_statuses_count_too() -> None:
    item = pod("ns", "p", ["a:1"])
    item["status"]["initContainerStatuses"] = [{"name": "i", "imageID": f"{HOST}/svc/init@{DIGEST}"}]
    item["status"]["ephemeralContainerStatuses"] = [{"name": "d", "imageID": f"docker://{HOST}/d@{DIGEST}"}]
    assert images_of(KINDS["Pod"], item) == ["a:1", f"{HOST}/svc/init@{DIGEST}", f"{HOST}/d@{DIGEST}"]


@pytest.mark.parametrize("kind", ["Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob"])
def test_a_controller_names_the_images_of_its_pod_template(kind: str) -> None:
    item = workload(kind, "payments", "api", [f"{HOST}/svc/api:v1"], init=[f"{HOST}/svc/migrate:v1"])
    assert images_of(KINDS[kind], item) == [f"{HOST}/svc/api:v1", f"{HOST}/svc/migrate:v1"]
    assert holder("prod", KINDS[kind], item) == f"EKS prod/payments {kind} api"


def test_a_cronjob_template_is_under_its_job_template() -> None:
    item = workload("CronJob", "ns", "nightly", ["svc/report:1"])
    assert "template" not in item["spec"]
    assert images_of(KINDS["CronJob"], item) == ["svc/report:1"]
    # Read as if it were a Deployment, the same object names nothing: the path matters.
    with pytest.raises(KeyError):
        images_of(KINDS["Deployment"], item)


@pytest.mark.parametrize(
    ("image_id", "expected"),
    [
        (f"docker-pullable://{HOST}/svc/api@{DIGEST}", f"{HOST}/svc/api@{DIGEST}"),
        (f"docker://{HOST}/svc/api@{DIGEST}", f"{HOST}/svc/api@{DIGEST}"),
        (f"{HOST}/svc/api@{DIGEST}", f"{HOST}/svc/api@{DIGEST}"),
        (DIGEST, None),  # the image's config id on some runtimes, not a manifest digest
        ("", None),
        (None, None),
    ],
)
def test_pulled_image(image_id: str | None, expected: str | None) -> None:
    assert pulled_image(image_id) == expected


def test_containers_without_an_image_and_pods_without_status_name_nothing_more() -> None:
    item: dict[str, Any] = {
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {"containers": [{"name": "c"}, {"name": "d", "image": "svc/a:1"}]},
    }
    assert images_of(KINDS["Pod"], item) == ["svc/a:1"]


@pytest.mark.parametrize("kind", list(KINDS.values()), ids=list(KINDS))
def test_an_object_without_the_pod_spec_its_kind_must_have_is_an_error_not_empty(kind: WorkloadKind) -> None:
    with pytest.raises(KeyError):
        images_of(kind, {"metadata": {"name": "x", "namespace": "ns"}})
