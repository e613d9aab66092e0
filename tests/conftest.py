"""Fixtures shared by every test: a clean AWS environment and, on demand, the strict local ECR."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devtools.local_ecr import LocalEcr
from devtools.seed import Seeder

REGION = "us-east-1"


@pytest.fixture(autouse=True)
def _isolated_aws_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No test may reach a real account or read the developer's AWS config."""
    empty = tmp_path_factory.getbasetemp() / "no-aws-config"
    empty.touch()
    for name in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
        "ECR_JANITOR_CONFIG",
        "ECR_JANITOR_STATE_PARAMETER",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")


@pytest.fixture(scope="session")
def _ecr_server() -> Iterator[LocalEcr]:
    server = LocalEcr().start()
    yield server
    server.stop()


@pytest.fixture
def local_ecr(_ecr_server: LocalEcr, monkeypatch: pytest.MonkeyPatch) -> LocalEcr:
    """The strict local ECR, emptied, with boto3 pointed at it through AWS_ENDPOINT_URL."""
    _ecr_server.reset()
    monkeypatch.setenv("AWS_ENDPOINT_URL", _ecr_server.endpoint)
    return _ecr_server


@pytest.fixture
def seeder(local_ecr: LocalEcr) -> Seeder:
    return Seeder(local_ecr, REGION)


@pytest.fixture
def instant_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep botocore's retry decisions but skip its waiting: backoff sleeps and the adaptive token bucket."""
    import time

    import botocore.retries.bucket

    monkeypatch.setattr(time, "sleep", lambda _seconds: None)
    monkeypatch.setattr(
        botocore.retries.bucket.TokenBucket, "acquire", lambda self, amount=1, block=True: True
    )
