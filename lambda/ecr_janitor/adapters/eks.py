"""EKS clusters as an in-use source: find them, authenticate as EKS expects from an IAM role, and list
what Kubernetes runs and what it will run when it scales back up (core/kubernetes.py says where the
images are).

Every cluster is its own source. One that can't be read (DescribeCluster denied, TLS, a 401 or a 403 on
any kind, a timeout) is a SourceFailure, which withholds deletions, unless `protect.eks.ignoreClusters`
names it: then it is only reported.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from ecr_janitor.adapters import clients
from ecr_janitor.adapters.clients import ClientFactory, error_code, error_message
from ecr_janitor.adapters.kube import KubeApi, KubeError, TokenSource
from ecr_janitor.config import Eks
from ecr_janitor.core.kubernetes import WORKLOAD_KINDS, holder, images_of
from ecr_janitor.core.model import ALL_REGIONS, SourceFailure

TOKEN_PREFIX = "k8s-aws-v1."
CLUSTER_ID_HEADER = "x-k8s-aws-id"
TOKEN_EXPIRES_SECONDS = 60
"""What `aws eks get-token` asks for. EKS accepts a token for 15 minutes after it was signed; a fresh one
is made for every request anyway (presigning is local: no call to STS)."""
NOTHING_RUNS = frozenset({"CREATING", "FAILED"})
"""Cluster states without an API server that ever ran a workload: there is nothing to read."""
CLUSTER_NOT_FOUND = "ResourceNotFoundException"

ApiFactory = Callable[[str, str, TokenSource], KubeApi]


def presigner(region: str, *, client_for: ClientFactory = clients.client) -> Any:
    """An STS client of the cluster's region that presigns tokens, with the credentials of `client_for`'s
    account. It never sends a request, and its URL is STS's regional endpoint even when AWS_ENDPOINT_URL
    points elsewhere: the token is for EKS to present to STS."""
    sts = client_for("sts", region, configured_endpoint=False)
    sts.meta.events.register("provide-client-params.sts.GetCallerIdentity", _take_cluster_id)
    sts.meta.events.register("before-sign.sts.GetCallerIdentity", _sign_cluster_id)
    return sts


def _take_cluster_id(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    """GetCallerIdentity has no parameters; the cluster name travels in the request context instead."""
    if CLUSTER_ID_HEADER in params:
        context[CLUSTER_ID_HEADER] = params.pop(CLUSTER_ID_HEADER)


def _sign_cluster_id(request: Any, **_: Any) -> None:
    if CLUSTER_ID_HEADER in request.context:
        request.headers[CLUSTER_ID_HEADER] = request.context[CLUSTER_ID_HEADER]


def cluster_token(sts: Any, cluster: str) -> str:
    """The bearer token EKS expects: `k8s-aws-v1.` + the base64url (unpadded) of a presigned STS
    GetCallerIdentity URL whose signature covers the `x-k8s-aws-id: <cluster>` header."""
    url = sts.generate_presigned_url(
        "get_caller_identity",
        Params={CLUSTER_ID_HEADER: cluster},
        ExpiresIn=TOKEN_EXPIRES_SECONDS,
        HttpMethod="GET",
    )
    return TOKEN_PREFIX + base64.urlsafe_b64encode(str(url).encode()).decode().rstrip("=")


@dataclass(frozen=True, slots=True)
class Cluster:
    name: str
    region: str
    status: str
    endpoint: str
    ca_pem: str


@dataclass
class ClusterWorkloads:
    """What one cluster's workloads name, as far as it could be read."""

    region: str
    name: str
    ignored: bool
    """In ignoreClusters: what is wrong with it warns, and withholds nothing."""
    workloads: list[tuple[str, list[str]]] = field(default_factory=list)
    """(who, the image URIs it names): `EKS prod/payments Deployment api`."""

    @property
    def source(self) -> str:
        return f"EKS cluster {self.name}"


@dataclass
class EksFindings:
    clusters: list[ClusterWorkloads] = field(default_factory=list)
    failures: list[SourceFailure] = field(default_factory=list)
    ignored: list[SourceFailure] = field(default_factory=list)
    """Clusters in ignoreClusters that could not be read: reported, deletions go on."""


class EksReader:
    def __init__(
        self,
        client_for: ClientFactory,
        settings: Eks,
        *,
        presigner_for: Callable[[str], Any] = presigner,
        api_for: ApiFactory = KubeApi,
    ) -> None:
        self._client_for = client_for
        self._settings = settings
        self._presigner_for = presigner_for
        self._api_for = api_for

    def read(self, regions: Sequence[str]) -> EksFindings:
        findings = EksFindings()
        found: set[str] = set()
        for region in regions:
            try:
                eks = self._client_for("eks", region)
                names = self._names(eks)
            # Any surprise while finding clusters must withhold deletions, never crash the run.
            except Exception as error:
                findings.failures.append(
                    SourceFailure(region, "EKS clusters", error_code(error), error_message(error))
                )
                continue
            for name in names:
                try:
                    cluster = self._describe(eks, region, name)
                    if cluster is None:
                        continue
                    found.add(name)
                    if cluster.status not in NOTHING_RUNS:
                        read = ClusterWorkloads(region, name, name in self._settings.ignore_clusters)
                        findings.clusters.append(read)
                        read.workloads += self._workloads(cluster)
                except Exception as error:
                    code, message = _explained(error)
                    self._failed(findings, name, SourceFailure(region, f"EKS cluster {name}", code, message))
        for name in self._settings.names:
            if name not in found:
                where = ", ".join(regions)
                failure = SourceFailure(
                    ALL_REGIONS, f"EKS cluster {name}", "ClusterNotFound", f"not in {where}"
                )
                self._failed(findings, name, failure)
        return findings

    def _failed(self, findings: EksFindings, name: str, failure: SourceFailure) -> None:
        (findings.ignored if name in self._settings.ignore_clusters else findings.failures).append(failure)

    def _names(self, eks: Any) -> list[str]:
        if not self._settings.discover:
            return list(self._settings.names)
        return [name for page in eks.get_paginator("list_clusters").paginate() for name in page["clusters"]]

    def _describe(self, eks: Any, region: str, name: str) -> Cluster | None:
        """The cluster, or None when there is no such cluster in this region: a name the config lists
        may be in another region, and a listed cluster may have been deleted since (it runs nothing)."""
        try:
            cluster = eks.describe_cluster(name=name)["cluster"]
        except clients.AWS_ERRORS as error:
            if error_code(error) == CLUSTER_NOT_FOUND:
                return None
            raise
        status = str(cluster.get("status", ""))
        if status in NOTHING_RUNS:
            return Cluster(name, region, status, "", "")
        endpoint, ca = cluster.get("endpoint"), (cluster.get("certificateAuthority") or {}).get("data")
        if not endpoint or not ca:
            raise KubeError("NoEndpoint", f"DescribeCluster gives no endpoint or CA (status {status})")
        return Cluster(name, region, status, str(endpoint), base64.b64decode(ca, validate=True).decode())

    def _workloads(self, cluster: Cluster) -> Iterator[tuple[str, list[str]]]:
        """Kind by kind; what was read before a failure still counts (it can only keep more)."""
        sts = self._presigner_for(cluster.region)
        api = self._api_for(cluster.endpoint, cluster.ca_pem, partial(cluster_token, sts, cluster.name))
        for kind in WORKLOAD_KINDS:
            try:
                for item in api.items(kind.path):
                    images = images_of(kind, item)
                    if images:
                        yield holder(cluster.name, kind, item), images
            except KubeError as error:
                raise KubeError(error.code, f"listing {kind.kind}s: {error.message}", error.status) from error
            except (KeyError, TypeError, AttributeError) as error:
                raise KubeError("UnexpectedObject", f"a {kind.kind} without a pod spec: {error!r}") from error


def _explained(error: Exception) -> tuple[str, str]:
    if isinstance(error, KubeError):
        return error.code, error.message
    return error_code(error), error_message(error)
