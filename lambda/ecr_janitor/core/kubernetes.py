"""What Kubernetes runs, and what it will run when it scales back up: the images that Pods and the pod
templates of workload controllers name (pure, no I/O).

A Pod names images in its spec and reports, in its status, the digest the node really pulled. The
controllers (Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob) hold a pod template that
names the images their next Pod will pull, also while they are scaled to zero or between runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
STATUS_LISTS = ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses")
_RUNTIME_PREFIXES = ("docker-pullable://", "docker://")


@dataclass(frozen=True, slots=True)
class WorkloadKind:
    """A kind the janitor lists in every namespace, and where its objects keep their pod spec."""

    kind: str
    path: str
    """The cluster-wide list endpoint."""
    pod_spec: tuple[str, ...]
    """The keys from an object to its PodSpec."""


_TEMPLATE = ("spec", "template", "spec")
WORKLOAD_KINDS = (
    WorkloadKind("Pod", "/api/v1/pods", ("spec",)),
    WorkloadKind("Deployment", "/apis/apps/v1/deployments", _TEMPLATE),
    WorkloadKind("ReplicaSet", "/apis/apps/v1/replicasets", _TEMPLATE),
    WorkloadKind("StatefulSet", "/apis/apps/v1/statefulsets", _TEMPLATE),
    WorkloadKind("DaemonSet", "/apis/apps/v1/daemonsets", _TEMPLATE),
    WorkloadKind("Job", "/apis/batch/v1/jobs", _TEMPLATE),
    WorkloadKind("CronJob", "/apis/batch/v1/cronjobs", ("spec", "jobTemplate", *_TEMPLATE)),
)


def images_of(kind: WorkloadKind, item: Mapping[str, Any]) -> list[str]:
    """Every image the object names, and for a Pod the `repository@digest` its containers pulled.

    An object without the pod spec its kind must have raises KeyError: it is not understood, and a
    cluster the janitor doesn't understand must withhold deletions, not look empty."""
    spec: Any = item
    for key in kind.pod_spec:
        spec = spec[key]
    images = [c.get("image") for key in CONTAINER_LISTS for c in spec.get(key) or []]
    if kind.kind == "Pod":
        status = item.get("status") or {}
        images += [pulled_image(s.get("imageID")) for key in STATUS_LISTS for s in status.get(key) or []]
    return [image for image in images if image]


def pulled_image(image_id: str | None) -> str | None:
    """`status.containerStatuses[].imageID` as an image reference: `[docker-pullable://]repo@sha256:…`.

    A bare `sha256:…` is the image's config id on some runtimes, not a manifest digest: no reference."""
    if not image_id:
        return None
    for prefix in _RUNTIME_PREFIXES:
        image_id = image_id.removeprefix(prefix)
    return image_id if "@" in image_id else None


def holder(cluster: str, kind: WorkloadKind, item: Mapping[str, Any]) -> str:
    """Who uses the images, as the report shows it: `EKS prod/payments Deployment api`."""
    metadata = item.get("metadata") or {}
    return f"EKS {cluster}/{metadata.get('namespace', '')} {kind.kind} {metadata.get('name', '?')}"
