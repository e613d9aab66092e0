"""The EKS bearer token, decoded and checked against what EKS documents, with fixed credentials.

The signature is recomputed by devtools/kube_api.py's own SigV4 code (not botocore's), so the test
shows that the `x-k8s-aws-id` header was signed with this cluster's name and no other.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import botocore.auth
import pytest

from devtools.kube_api import KubeApiFake, sigv4_query_signature
from ecr_janitor.adapters.eks import cluster_token, presigner

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SIGNED_AT = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fixed_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    # The token is for EKS to present to STS: a local endpoint must not leak into it.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    # botocore's SigV4 reads the clock here (naive UTC).
    monkeypatch.setattr(
        botocore.auth, "get_current_datetime", lambda *_, **__: SIGNED_AT.replace(tzinfo=None)
    )


def decoded(token: str) -> tuple[str, dict[str, str]]:
    assert token.startswith("k8s-aws-v1.")
    encoded = token.removeprefix("k8s-aws-v1.")
    assert "=" not in encoded, "EKS expects base64url without padding"
    url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    return url, {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def token(cluster: str = "prod", region: str = "eu-west-1") -> str:
    return cluster_token(presigner(region), cluster)


def test_the_token_is_a_presigned_get_caller_identity_of_the_regional_sts_endpoint() -> None:
    url, query = decoded(token(region="eu-west-1"))
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "sts.eu-west-1.amazonaws.com", "/")
    assert query["Action"] == "GetCallerIdentity"
    assert query["Version"] == "2011-06-15"
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Credential"] == "AKIDEXAMPLE/20261125/eu-west-1/sts/aws4_request"
    assert query["X-Amz-Date"] == "20261125T030000Z"
    assert query["X-Amz-Expires"] == "60"
    assert query["X-Amz-SignedHeaders"].split(";") == ["host", "x-k8s-aws-id"]
    assert "x-k8s-aws-id" not in query, "the cluster name is a signed header, not a parameter"


def test_the_signature_covers_the_cluster_name_and_no_other() -> None:
    url, query = decoded(token("prod"))
    assert sigv4_query_signature(url, {"x-k8s-aws-id": "prod"}, SECRET) == query["X-Amz-Signature"]
    assert sigv4_query_signature(url, {"x-k8s-aws-id": "staging"}, SECRET) != query["X-Amz-Signature"]
    assert sigv4_query_signature(url, {"x-k8s-aws-id": "prod"}, "another") != query["X-Amz-Signature"]


def test_session_credentials_travel_in_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SESSION_TOKEN", "FwoGZXIvYXdzEXAMPLE")
    url, query = decoded(token())
    assert query["X-Amz-Security-Token"] == "FwoGZXIvYXdzEXAMPLE"
    assert sigv4_query_signature(url, {"x-k8s-aws-id": "prod"}, SECRET) == query["X-Amz-Signature"]


def test_the_fake_api_server_accepts_exactly_this_clusters_fresh_token() -> None:
    fake = KubeApiFake("prod", region="eu-west-1", secret_key=SECRET)
    fake.now = lambda: SIGNED_AT + timedelta(minutes=1)
    assert fake.token_problem(f"Bearer {token('prod')}") == ""
    assert "signature" in fake.token_problem(f"Bearer {token('staging')}")
    assert "regional STS endpoint" in fake.token_problem(f"Bearer {token('prod', region='us-west-2')}")
    fake.now = lambda: SIGNED_AT + timedelta(minutes=16)
    assert fake.token_problem(f"Bearer {token('prod')}") == "expired"


def test_each_presigner_adds_the_header_only_to_get_caller_identity() -> None:
    url = presigner("us-east-1").generate_presigned_url("get_caller_identity", ExpiresIn=60)
    assert parse_qs(urlsplit(url).query)["X-Amz-SignedHeaders"] == ["host"]
