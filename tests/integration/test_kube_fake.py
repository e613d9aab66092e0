"""The local Kubernetes API fake is not lenient: each behaviour the EKS tests rely on, proven on its own
with plain HTTPS requests (not the janitor's client)."""

from __future__ import annotations

import base64
import json
import ssl
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import urllib3

from devtools.kube_api import KubeApiFake, item, pod, workload
from ecr_janitor.adapters.eks import cluster_token, presigner
from tests.factories import KUBERNETES_LIST_PATHS

KINDS = KUBERNETES_LIST_PATHS


@pytest.fixture
def fake() -> Iterator[KubeApiFake]:
    server = KubeApiFake("prod").start()
    yield server
    server.stop()


def token(cluster: str = "prod", region: str = "us-east-1") -> str:
    return cluster_token(presigner(region), cluster)


def get(
    fake: KubeApiFake, path: str, *, bearer: str | None = None, ca: str | None = None, **query: str
) -> tuple[int, dict[str, Any]]:
    pool = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_cert_data=ca or fake.ca_pem, retries=False)
    url = fake.endpoint + path + (f"?{urlencode(query)}" if query else "")
    headers = {"Authorization": f"Bearer {token() if bearer is None else bearer}"}
    response = pool.request("GET", url, headers=headers)
    return response.status, json.loads(response.data)


def resigned(original: str, **changes: str | None) -> str:
    """The token with query parameters of its URL changed (None removes one)."""
    encoded = original.removeprefix("k8s-aws-v1.")
    parts = urlsplit(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode())
    query = dict(parse_qsl(parts.query))
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = value
    url = urlunsplit(parts._replace(query=urlencode(query)))
    return "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_is_served_cluster_wide_and_per_namespace(fake: KubeApiFake, kind: str) -> None:
    fake.add(kind, item(kind, "a", "one", ["svc/x:1"]), item(kind, "b", "two", ["svc/y:1"]))
    status, body = get(fake, KINDS[kind])
    assert status == 200
    assert [i["metadata"]["name"] for i in body["items"]] == ["one", "two"]
    prefix, plural = KINDS[kind].rsplit("/", 1)
    status, body = get(fake, f"{prefix}/namespaces/b/{plural}")
    assert [i["metadata"]["name"] for i in body["items"]] == ["two"]


def test_an_unknown_path_is_404(fake: KubeApiFake) -> None:
    assert get(fake, "/apis/apps/v1/replicationcontrollers")[0] == 404


@pytest.mark.parametrize(
    ("bearer", "why"),
    [
        (lambda: "", "no token"),
        (lambda: "not-a-token", "no k8s-aws-v1 prefix"),
        (lambda: token() + "==", "padded"),
        (lambda: token("staging"), "another cluster's token"),
        (lambda: token(region="eu-west-1"), "another region's STS"),
        (lambda: resigned(token(), **{"X-Amz-SignedHeaders": "host"}), "x-k8s-aws-id not signed"),
        (lambda: resigned(token(), Action="GetSessionToken"), "not GetCallerIdentity"),
        (lambda: resigned(token(), **{"X-Amz-Date": "20200101T000000Z"}), "too old"),
        (lambda: resigned(token(), **{"X-Amz-Expires": "30"}), "changed after signing"),
        (lambda: resigned(token(), **{"X-Amz-Signature": "0" * 64}), "bad signature"),
        (lambda: resigned(token(), **{"X-Amz-Credential": None}), "no credential"),
    ],
)
def test_anything_but_this_clusters_token_is_401(
    fake: KubeApiFake, bearer: Callable[[], str], why: str
) -> None:
    status, body = get(fake, "/api/v1/pods", bearer=bearer())
    assert (status, body["reason"], body["kind"]) == (401, "Unauthorized", "Status"), why
    assert get(fake, "/api/v1/pods")[0] == 200


def test_a_token_signed_with_other_credentials_is_401(fake: KubeApiFake) -> None:
    fake.secret_key = "not-the-callers-secret"
    assert get(fake, "/api/v1/pods")[0] == 401


def test_per_key_secrets_accept_only_tokens_signed_with_that_keys_secret(fake: KubeApiFake) -> None:
    """`secret_for` (a cluster in another account, read with a role session): the token's own access key
    decides which secret its signature must be made with; an unknown key is refused."""
    fake.secret_for = {"testing": "testing"}.get  # tests/conftest.py's key and secret
    assert get(fake, "/api/v1/pods")[0] == 200
    assert fake.signers == ["testing"]
    fake.secret_for = {"testing": "another-secret"}.get
    assert get(fake, "/api/v1/pods")[0] == 401
    fake.secret_for = lambda _key: None
    assert get(fake, "/api/v1/pods")[0] == 401
    assert fake.signers == ["testing"]


def test_a_forbidden_kind_is_403_everywhere(fake: KubeApiFake) -> None:
    fake.forbid("Job")
    assert get(fake, "/apis/batch/v1/jobs")[0] == 403
    assert get(fake, "/apis/batch/v1/namespaces/a/jobs")[0] == 403
    assert get(fake, "/apis/batch/v1/cronjobs")[0] == 200


def test_a_forbidden_namespace_is_403_there_and_for_the_cluster_wide_list(fake: KubeApiFake) -> None:
    fake.forbid("Pod", "kube-system")
    status, body = get(fake, "/api/v1/pods")
    assert (status, body["reason"]) == (403, "Forbidden")
    assert "cannot list resource" in body["message"]
    assert get(fake, "/api/v1/namespaces/kube-system/pods")[0] == 403
    assert get(fake, "/api/v1/namespaces/default/pods")[0] == 200


def test_paging_never_returns_more_than_the_limit_and_continues(fake: KubeApiFake) -> None:
    fake.add("Deployment", *(workload("Deployment", "a", f"d{n}", ["svc/x:1"]) for n in range(5)))
    names: list[str] = []
    status, body = get(fake, "/apis/apps/v1/deployments", limit="2")
    pages = 1
    while True:
        assert status == 200
        assert len(body["items"]) <= 2
        names += [i["metadata"]["name"] for i in body["items"]]
        if not body["metadata"].get("continue"):
            break
        status, body = get(
            fake, "/apis/apps/v1/deployments", limit="2", **{"continue": body["metadata"]["continue"]}
        )
        pages += 1
    assert (names, pages) == ([f"d{n}" for n in range(5)], 3)


def test_a_page_cap_answers_fewer_than_asked_with_a_continue_token(fake: KubeApiFake) -> None:
    fake.page_cap = 1
    fake.add("Job", workload("Job", "a", "one", ["x:1"]), workload("Job", "a", "two", ["x:1"]))
    status, body = get(fake, "/apis/batch/v1/jobs", limit="500")
    assert (status, len(body["items"])) == (200, 1)
    assert body["metadata"]["continue"]


@pytest.mark.parametrize("limit", ["0", "-1", "many"])
def test_a_bad_limit_is_400(fake: KubeApiFake, limit: str) -> None:
    assert get(fake, "/api/v1/pods", limit=limit)[0] == 400


def test_a_forged_or_foreign_continue_token_is_400(fake: KubeApiFake) -> None:
    fake.add("Pod", *(pod("a", f"p{n}", ["x:1"]) for n in range(3)))
    fake.add("Job", *(workload("Job", "a", f"j{n}", ["x:1"]) for n in range(3)))
    _, body = get(fake, "/api/v1/pods", limit="1")
    genuine = body["metadata"]["continue"]
    assert get(fake, "/api/v1/pods", limit="1", **{"continue": genuine})[0] == 200
    assert get(fake, "/apis/batch/v1/jobs", limit="1", **{"continue": genuine})[0] == 400
    forged = base64.urlsafe_b64encode(b'{"offset": 2, "path": "/api/v1/pods"}').decode() + ".0000"
    assert get(fake, "/api/v1/pods", limit="1", **{"continue": forged})[0] == 400


def test_an_expired_continue_token_is_410_gone(fake: KubeApiFake) -> None:
    fake.add("Pod", *(pod("a", f"p{n}", ["x:1"]) for n in range(3)))
    _, body = get(fake, "/api/v1/pods", limit="1")
    fake.expire_continue = 1
    status, gone = get(fake, "/api/v1/pods", limit="1", **{"continue": body["metadata"]["continue"]})
    assert (status, gone["reason"]) == (410, "Expired")
    assert get(fake, "/api/v1/pods", limit="1", **{"continue": body["metadata"]["continue"]})[0] == 200


def test_tls_verifies_only_against_the_clusters_own_ca(fake: KubeApiFake) -> None:
    other = KubeApiFake("other")
    with pytest.raises(urllib3.exceptions.SSLError):
        get(fake, "/api/v1/pods", ca=other.ca_pem)
    assert get(fake, "/api/v1/pods")[0] == 200  # the server goes on serving after a refused handshake


def test_every_request_is_recorded(fake: KubeApiFake) -> None:
    get(fake, "/api/v1/pods", limit="5")
    get(fake, "/api/v1/pods", bearer="bad")
    assert [(r.path, r.query, r.status) for r in fake.lists("Pod")] == [
        ("/api/v1/pods", {"limit": "5"}, 200),
        ("/api/v1/pods", {}, 401),
    ]


def test_its_certificates_are_shaped_like_eks_ones_which_x509_strict_mode_refuses(fake: KubeApiFake) -> None:
    # Python 3.13+ and urllib3 2 verify in strict mode by default; EKS's certificates fail it.
    strict = ssl.create_default_context(cadata=fake.ca_pem)
    strict.verify_flags |= ssl.VERIFY_X509_STRICT
    pool = urllib3.PoolManager(ssl_context=strict, retries=False)
    with pytest.raises(urllib3.exceptions.SSLError, match="Authority Key Identifier"):
        pool.request("GET", fake.endpoint + "/api/v1/pods", headers={"Authorization": f"Bearer {token()}"})
