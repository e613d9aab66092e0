"""The janitor's Kubernetes client (adapters/kube.py) against the local API fake: TLS as EKS needs it,
and listings that are complete or an error."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest

from devtools.kube_api import KubeApiFake, workload
from ecr_janitor.adapters.eks import cluster_token, presigner
from ecr_janitor.adapters.kube import KubeApi, KubeError, cluster_tls

DEPLOYMENTS = "/apis/apps/v1/deployments"


@pytest.fixture
def fake() -> Iterator[KubeApiFake]:
    server = KubeApiFake("prod", page_cap=1).start()
    server.add("Deployment", *(workload("Deployment", "a", f"d{n}", ["svc/x:1"]) for n in range(3)))
    yield server
    server.stop()


def client(fake: KubeApiFake, ca_pem: str | None = None) -> KubeApi:
    return KubeApi(
        fake.endpoint, ca_pem or fake.ca_pem, partial(cluster_token, presigner(fake.region), fake.cluster)
    )


def names(api: KubeApi) -> list[str]:
    return [item["metadata"]["name"] for item in api.items(DEPLOYMENTS)]


def test_tls_trusts_only_the_cluster_ca_and_checks_the_host_name(fake: KubeApiFake) -> None:
    context = cluster_tls(fake.ca_pem)
    assert context.verify_mode is ssl.VerifyMode.CERT_REQUIRED
    assert context.check_hostname is True
    assert [ca["subject"] for ca in context.get_ca_certs()] == [((("commonName", "kubernetes"),),)]
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert not context.verify_flags & ssl.VERIFY_X509_STRICT


def test_eks_shaped_certificates_verify_even_where_python_defaults_to_strict_mode(
    fake: KubeApiFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    default_context = ssl.create_default_context

    def as_python_3_13(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        context = default_context(*args, **kwargs)
        context.verify_flags |= ssl.VERIFY_X509_STRICT | ssl.VERIFY_X509_PARTIAL_CHAIN
        return context

    monkeypatch.setattr(ssl, "create_default_context", as_python_3_13)
    assert names(client(fake)) == ["d0", "d1", "d2"]


def test_another_ca_is_a_tls_error_not_an_empty_cluster(fake: KubeApiFake) -> None:
    with pytest.raises(KubeError) as refused:
        names(client(fake, KubeApiFake("other").ca_pem))
    assert refused.value.code == "SSLError"
    assert fake.requests == []


def test_only_https_endpoints(fake: KubeApiFake) -> None:
    with pytest.raises(KubeError, match="is not an https:// endpoint") as refused:
        KubeApi(fake.endpoint.replace("https://", "http://"), fake.ca_pem, lambda: "token")
    assert refused.value.code == "InsecureEndpoint"


def test_every_page_is_followed(fake: KubeApiFake) -> None:
    assert names(client(fake)) == ["d0", "d1", "d2"]
    assert [r.items for r in fake.lists("Deployment")] == [1, 1, 1]


def test_an_expired_continue_token_restarts_the_listing_once_then_fails(fake: KubeApiFake) -> None:
    fake.expire_continue = 1
    assert set(names(client(fake))) == {"d0", "d1", "d2"}
    fake.expire_continue = 2
    with pytest.raises(KubeError) as gone:
        names(client(fake))
    assert (gone.value.code, gone.value.status) == ("Expired", 410)


def test_a_server_repeating_its_continue_token_is_an_error_not_a_loop(
    fake: KubeApiFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fake, "_encode_continue", lambda offset, path: "same-token")
    monkeypatch.setattr(fake, "_decode_continue", lambda token, path: 1)
    with pytest.raises(KubeError, match="the continue token repeats"):
        names(client(fake))


def test_an_answer_without_items_is_an_error(fake: KubeApiFake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fake, "_page", lambda path, query, items: (200, {"kind": "List", "metadata": {}}))
    with pytest.raises(KubeError, match="no items list") as refused:
        names(client(fake))
    assert refused.value.code == "InvalidResponse"
