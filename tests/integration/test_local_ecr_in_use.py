"""The strict local ECR serves the in-use sources moto lacks as the botocore models describe them, and
refuses what AWS refuses: proof that no in-use test passes because the fake is lenient."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from devtools.local_ecr import LocalEcr
from devtools.seed import Seeder
from devtools.workloads import Workloads, image_uri


@pytest.fixture
def workloads(local_ecr: LocalEcr) -> Workloads:
    return Workloads(strict=local_ecr.strict)


def test_services_link_their_revisions_and_revisions_carry_resolved_digests(workloads: Workloads) -> None:
    digest = "sha256:" + "d" * 64
    cluster = workloads.cluster("prod")
    workloads.service(cluster, "web", workloads.task_definition("web", image_uri("svc/web", tag="v1")))
    arn = workloads.service_revision(cluster, "web", (image_uri("svc/web", tag="v1"), digest))
    ecs = workloads.client("ecs")
    (service,) = ecs.describe_services(cluster=cluster, services=["web"])["services"]
    assert [r["arn"] for r in service["currentServiceRevisions"]] == [arn]
    missing = arn[:-1] + "999"
    answer = ecs.describe_service_revisions(serviceRevisionArns=[arn, missing])
    assert answer["serviceRevisions"][0]["containerImages"][0]["imageDigest"] == digest
    assert answer["failures"] == [{"arn": missing, "reason": "MISSING"}]
    with pytest.raises(ClientError, match="1 to 20"):
        ecs.describe_service_revisions(serviceRevisionArns=[arn] * 21)


def test_services_and_tasks_are_described_ten_and_a_hundred_at_a_time(workloads: Workloads) -> None:
    cluster = workloads.cluster("prod")
    ecs = workloads.client("ecs")
    assert ecs.describe_services(cluster=cluster, services=[f"s{n}" for n in range(10)])["services"] == []
    with pytest.raises(ClientError, match="at most 10"):
        ecs.describe_services(cluster=cluster, services=[f"s{n}" for n in range(11)])
    with pytest.raises(ClientError, match="at most 100"):
        ecs.describe_tasks(cluster=cluster, tasks=[f"t{n}" for n in range(101)])


def test_multi_node_job_definitions_keep_every_field_moto_drops(workloads: Workloads) -> None:
    ranges = [
        {"targetNodes": "0:", "eksProperties": {"podProperties": {"containers": [{"image": "svc/a:1"}]}}}
    ]
    workloads.batch_multinode_job_definition("train", *ranges)
    (definition,) = workloads.client("batch").describe_job_definitions(status="ACTIVE")["jobDefinitions"]
    assert definition["nodeProperties"]["nodeRangeProperties"] == ranges


def test_batch_jobs_are_listed_by_queue_and_status_like_batch_does(workloads: Workloads) -> None:
    for status in ("RUNNABLE", "RUNNING", "SUCCEEDED"):
        workloads.batch_job("q", f"job-{status}", status, container={"image": "svc/a:1"})
    batch = workloads.client("batch")
    (queue,) = batch.describe_job_queues()["jobQueues"]

    def names(**kwargs: Any) -> list[str]:
        return [
            j["jobName"] for j in batch.list_jobs(jobQueue=queue["jobQueueArn"], **kwargs)["jobSummaryList"]
        ]

    assert names() == ["job-RUNNING"]  # documented: without a status, RUNNING jobs only
    assert names(jobStatus="RUNNABLE") == ["job-RUNNABLE"]
    with pytest.raises(ClientError, match="jobQueue"):
        batch.list_jobs(jobStatus="RUNNING")
    with pytest.raises(ClientError, match="at most 100"):
        batch.describe_jobs(jobs=[f"id-{n}" for n in range(101)])


def test_inspector_answers_the_account_status_and_pages_coverage(workloads: Workloads) -> None:
    inspector = workloads.client("inspector2")
    (account,) = inspector.batch_get_account_status()["accounts"]
    assert account["resourceState"]["ecr"]["status"] == "DISABLED"  # not enabled until asked for
    workloads.inspector("ENABLED")
    for n in range(5):
        workloads.inspector_coverage("svc/a", f"sha256:{n:064x}", in_use=n)
    first = inspector.list_coverage(maxResults=2)
    assert len(first["coveredResources"]) == 2
    rest = inspector.list_coverage(maxResults=200, nextToken=first["nextToken"])
    assert len(rest["coveredResources"]) == 3
    assert "nextToken" not in rest
    with pytest.raises(ClientError, match="ValidationException"):
        inspector.list_coverage(maxResults=201)
    with pytest.raises(ClientError, match="nextToken"):
        inspector.list_coverage(nextToken="not-a-token")
    other = {"resourceType": [{"comparison": "EQUALS", "value": "AWS_EC2_INSTANCE"}]}
    assert inspector.list_coverage(filterCriteria=other)["coveredResources"] == []


def test_lambda_resolves_a_digest_uri_as_lambda_does(seeder: Seeder, workloads: Workloads) -> None:
    seeder.repository("svc/fn")
    digest = seeder.image("svc/fn", pushed_at=datetime.now(UTC))
    workloads.lambda_function("fn", image_uri("svc/fn", digest=digest))
    code = boto3.client("lambda", region_name="us-east-1").get_function(FunctionName="fn")["Code"]
    assert code["ResolvedImageUri"] == image_uri("svc/fn", digest=digest)  # moto: `…@sha256@sha256:…`
