"""Which workload references the reader collects, checked call by call with botocore's Stubber.

moto models neither the digest ECS reports for a running task nor per-version Lambda images, so these
paths are pinned down here against the real API shapes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from ecr_janitor.adapters.workloads import Found, InspectorNotEnabled, InUseReader, SourceUnreadable
from ecr_janitor.config import Protect
from ecr_janitor.core.model import InspectorUse
from ecr_janitor.core.references import ImageReference, InUseSnapshot

HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
D1 = "sha256:" + "1" * 64


@pytest.fixture
def clients() -> Iterator[dict[str, tuple[Any, Stubber]]]:
    made: dict[str, tuple[Any, Stubber]] = {}
    for service in ("ecs", "lambda", "batch", "inspector2"):
        client = boto3.client(service, region_name="us-east-1")
        made[service] = (client, Stubber(client))
    for _, stubber in made.values():
        stubber.activate()
    yield made
    for _, stubber in made.values():
        stubber.assert_no_pending_responses()
        stubber.deactivate()


def reader(clients: dict[str, tuple[Any, Stubber]], **settings: Any) -> InUseReader:
    def client_for(service: str, _region: str, *, configured_endpoint: bool = True) -> Any:
        return clients[service][0]

    return InUseReader(client_for, Protect(**settings))


def parsed(found: list[Found]) -> list[ImageReference]:
    assert all(isinstance(r, ImageReference) for r in found), found
    return [r for r in found if isinstance(r, ImageReference)]


def test_ecs_tasks_pin_the_digest_they_really_run(clients: dict[str, tuple[Any, Stubber]]) -> None:
    ecs = clients["ecs"][1]
    cluster = "arn:aws:ecs:us-east-1:123456789012:cluster/prod"
    task = "arn:aws:ecs:us-east-1:123456789012:task/prod/abc"
    definition = "arn:aws:ecs:us-east-1:123456789012:task-definition/api:7"
    ecs.add_response("list_clusters", {"clusterArns": [cluster]})
    ecs.add_response("list_tasks", {"taskArns": [task]}, {"cluster": cluster, "desiredStatus": "RUNNING"})
    ecs.add_response(
        "describe_tasks",
        {
            "tasks": [
                {
                    "taskArn": task,
                    "taskDefinitionArn": definition,
                    "containers": [{"name": "app", "image": f"{HOST}/svc/api:latest", "imageDigest": D1}],
                }
            ]
        },
        {"cluster": cluster, "tasks": [task]},
    )
    ecs.add_response(
        "describe_task_definition",
        {"taskDefinition": {"containerDefinitions": [{"name": "app", "image": f"{HOST}/svc/api:latest"}]}},
        {"taskDefinition": definition},
    )
    ecs.add_response("list_services", {"serviceArns": []}, {"cluster": cluster})
    ecs.add_response("list_task_definition_families", {"families": []}, {"status": "ACTIVE"})
    references = parsed(reader(clients)._ecs("us-east-1"))
    assert {(r.repository, r.tag, r.digest, r.holder) for r in references} == {
        ("svc/api", "latest", None, "ECS task prod/abc"),
        ("svc/api", None, D1, "ECS task prod/abc"),
    }


def test_lambda_counts_latest_the_newest_versions_and_every_alias_target(
    clients: dict[str, tuple[Any, Stubber]],
) -> None:
    stub = clients["lambda"][1]
    stub.add_response(
        "list_functions",
        {
            "Functions": [
                {"FunctionName": "zip-fn", "PackageType": "Zip"},
                {"FunctionName": "fn", "PackageType": "Image"},
            ]
        },
    )
    versions = ["$LATEST", "1", "2", "3", "4", "5", "6", "7"]
    stub.add_response(
        "list_versions_by_function", {"Versions": [{"Version": v} for v in versions]}, {"FunctionName": "fn"}
    )
    stub.add_response(
        "list_aliases",
        {
            "Aliases": [
                {
                    "Name": "live",
                    "FunctionVersion": "2",
                    "RoutingConfig": {"AdditionalVersionWeights": {"3": 0.1}},
                }
            ]
        },
        {"FunctionName": "fn"},
    )
    for qualifier in ["$LATEST", "2", "3", "6", "7"]:
        stub.add_response(
            "get_function",
            {
                "Code": {
                    "ImageUri": f"{HOST}/svc/fn:v{qualifier.strip('$')}",
                    "ResolvedImageUri": f"{HOST}/svc/fn@{D1}",
                }
            },
            {"FunctionName": "fn", "Qualifier": qualifier},
        )
    references = parsed(reader(clients, lambda_versions=2)._lambda("us-east-1"))
    assert {r.holder for r in references} == {f"Lambda fn:{q}" for q in ["$LATEST", "2", "3", "6", "7"]}
    assert {r.digest for r in references} == {None, D1}


def test_batch_reads_every_container_shape(clients: dict[str, tuple[Any, Stubber]]) -> None:
    stub = clients["batch"][1]
    stub.add_response(
        "describe_job_definitions",
        {
            "jobDefinitions": [
                {
                    "jobDefinitionName": "multi",
                    "jobDefinitionArn": "arn:aws:batch:us-east-1:123456789012:job-definition/multi:3",
                    "revision": 3,
                    "type": "multinode",
                    "nodeProperties": {
                        "numNodes": 2,
                        "mainNode": 0,
                        "nodeRangeProperties": [{"targetNodes": "0:", "container": {"image": "svc/node:1"}}],
                    },
                    "ecsProperties": {"taskProperties": [{"containers": [{"image": "svc/ecs:2"}]}]},
                    "eksProperties": {
                        "podProperties": {
                            "containers": [{"image": "svc/eks:3"}],
                            "initContainers": [{"image": "svc/init:4"}],
                        }
                    },
                }
            ]
        },
        {"status": "ACTIVE"},
    )
    stub.add_response("describe_job_queues", {"jobQueues": []})
    references = parsed(reader(clients)._batch("us-east-1"))
    assert {r.repository for r in references} == {"svc/node", "svc/ecs", "svc/eks", "svc/init"}
    assert {r.holder for r in references} == {"Batch job definition multi:3"}


CLUSTER = "arn:aws:ecs:us-east-1:123456789012:cluster/prod"
REVISION = "arn:aws:ecs:us-east-1:123456789012:service-revision/prod/web/4312345"
D2 = "sha256:" + "2" * 64


def _one_service(ecs: Stubber, service: dict[str, Any]) -> None:
    service_arn = "arn:aws:ecs:us-east-1:123456789012:service/prod/web"
    ecs.add_response("list_clusters", {"clusterArns": [CLUSTER]})
    ecs.add_response("list_tasks", {"taskArns": []}, {"cluster": CLUSTER, "desiredStatus": "RUNNING"})
    ecs.add_response("list_services", {"serviceArns": [service_arn]}, {"cluster": CLUSTER})
    ecs.add_response(
        "describe_services",
        {"services": [{"serviceName": "web", **service}]},
        {"cluster": CLUSTER, "services": [service_arn]},
    )


def test_a_service_pins_the_digests_its_revisions_resolved_in_batches_of_20(
    clients: dict[str, tuple[Any, Stubber]],
) -> None:
    ecs = clients["ecs"][1]
    arns = [f"{REVISION[:-1]}{n:02d}" for n in range(25)]  # more than one call's worth
    _one_service(ecs, {"currentServiceRevisions": [{"arn": arn} for arn in arns]})
    for chunk in (sorted(arns)[:20], sorted(arns)[20:]):
        ecs.add_response(
            "describe_service_revisions",
            {
                "serviceRevisions": [
                    {
                        "serviceRevisionArn": arn,
                        "containerImages": [
                            {"containerName": "app", "image": f"{HOST}/svc/web:latest", "imageDigest": D2}
                        ],
                    }
                    for arn in chunk
                ],
                "failures": [],
            },
            {"serviceRevisionArns": chunk},
        )
    ecs.add_response("list_task_definition_families", {"families": []}, {"status": "ACTIVE"})
    references = parsed(reader(clients)._ecs("us-east-1"))
    pinned = {r.holder for r in references if r.digest == D2 and r.repository == "svc/web"}
    assert pinned == {f"ECS service prod/web revision {arn.rsplit('/', 1)[-1]}" for arn in arns}


def test_a_revision_ecs_cannot_describe_fails_the_source(clients: dict[str, tuple[Any, Stubber]]) -> None:
    ecs = clients["ecs"][1]
    _one_service(ecs, {"currentServiceRevisions": [{"arn": REVISION}]})
    ecs.add_response(
        "describe_service_revisions",
        {"serviceRevisions": [], "failures": [{"arn": REVISION, "reason": "MISSING"}]},
        {"serviceRevisionArns": [REVISION]},
    )
    with pytest.raises(SourceUnreadable, match="MISSING"):
        reader(clients)._ecs("us-east-1")


def test_queued_and_running_batch_jobs_count_with_every_image_field(
    clients: dict[str, tuple[Any, Stubber]],
) -> None:
    stub = clients["batch"][1]
    queue = "arn:aws:batch:us-east-1:123456789012:job-queue/nightly"
    stub.add_response("describe_job_definitions", {"jobDefinitions": []}, {"status": "ACTIVE"})
    stub.add_response("describe_job_queues", {"jobQueues": [_queue(queue)]})
    statuses = ["SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING"]
    for status in statuses:
        jobs = (
            [{"jobId": f"job-{status}", "jobName": f"n-{status}"}]
            if status in ("RUNNABLE", "RUNNING")
            else []
        )
        stub.add_response("list_jobs", {"jobSummaryList": jobs}, {"jobQueue": queue, "jobStatus": status})
    node = {
        "targetNodes": "0:",
        "ecsProperties": {"taskProperties": [{"containers": [{"image": "svc/mnp-ecs:1"}]}]},
        "eksProperties": {"podProperties": {"initContainers": [{"image": "svc/mnp-init:1"}]}},
    }
    stub.add_response(
        "describe_jobs",
        {
            "jobs": [
                _job("job-RUNNABLE", "RUNNABLE", container={"image": "svc/queued:1"}),
                _job(
                    "job-RUNNING",
                    "RUNNING",
                    nodeProperties={"numNodes": 2, "mainNode": 0, "nodeRangeProperties": [node]},
                ),
            ]
        },
        {"jobs": ["job-RUNNABLE", "job-RUNNING"]},
    )
    references = parsed(reader(clients)._batch("us-east-1"))
    assert {(r.repository, r.holder) for r in references} == {
        ("svc/queued", "Batch job nightly/n-RUNNABLE (RUNNABLE)"),
        ("svc/mnp-ecs", "Batch job nightly/n-RUNNING (RUNNING)"),
        ("svc/mnp-init", "Batch job nightly/n-RUNNING (RUNNING)"),
    }


def test_unfinished_jobs_are_described_100_at_a_time(clients: dict[str, tuple[Any, Stubber]]) -> None:
    stub = clients["batch"][1]
    queue = "arn:aws:batch:us-east-1:123456789012:job-queue/nightly"
    stub.add_response("describe_job_definitions", {"jobDefinitions": []}, {"status": "ACTIVE"})
    stub.add_response("describe_job_queues", {"jobQueues": [_queue(queue)]})
    ids = [f"job-{n:03}" for n in range(101)]
    for status in ["SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING"]:
        jobs = [{"jobId": i, "jobName": i} for i in ids] if status == "RUNNABLE" else []
        stub.add_response("list_jobs", {"jobSummaryList": jobs}, {"jobQueue": queue, "jobStatus": status})
    for batch in (ids[:100], ids[100:]):  # Batch describes at most 100 jobs a call
        described = [_job(i, "RUNNABLE", container={"image": f"svc/{i}:1"}) for i in batch]
        stub.add_response("describe_jobs", {"jobs": described}, {"jobs": batch})
    references = parsed(reader(clients)._batch("us-east-1"))
    assert {r.repository for r in references} == {f"svc/{i}" for i in ids}


def test_multi_node_job_definitions_with_ecs_and_eks_ranges(clients: dict[str, tuple[Any, Stubber]]) -> None:
    stub = clients["batch"][1]
    ranges = [
        {"targetNodes": "0", "ecsProperties": {"taskProperties": [{"containers": [{"image": "svc/a:1"}]}]}},
        {
            "targetNodes": "1:",
            "eksProperties": {
                "podProperties": {
                    "containers": [{"image": "svc/b:1"}],
                    "initContainers": [{"image": "svc/c:1"}],
                }
            },
        },
    ]
    stub.add_response(
        "describe_job_definitions",
        {
            "jobDefinitions": [
                {
                    "jobDefinitionName": "mnp",
                    "jobDefinitionArn": "arn:aws:batch:us-east-1:123456789012:job-definition/mnp:2",
                    "revision": 2,
                    "type": "multinode",
                    "nodeProperties": {"numNodes": 2, "mainNode": 0, "nodeRangeProperties": ranges},
                }
            ]
        },
        {"status": "ACTIVE"},
    )
    stub.add_response("describe_job_queues", {"jobQueues": []})
    references = parsed(reader(clients)._batch("us-east-1"))
    assert {r.repository for r in references} == {"svc/a", "svc/b", "svc/c"}


def _queue(arn: str) -> dict[str, Any]:
    return {
        "jobQueueName": arn.rsplit("/", 1)[-1],
        "jobQueueArn": arn,
        "state": "ENABLED",
        "priority": 1,
        "computeEnvironmentOrder": [],
    }


def _job(job_id: str, status: str, **properties: Any) -> dict[str, Any]:
    return {
        "jobId": job_id,
        "jobName": f"n-{status}",
        "jobQueue": "nightly",
        "status": status,
        "startedAt": 0,
        "jobDefinition": "arn:aws:batch:us-east-1:123456789012:job-definition/old:1",
        **properties,
    }


NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
ECR_ONLY = {"resourceType": [{"comparison": "EQUALS", "value": "AWS_ECR_CONTAINER_IMAGE"}]}


def _status(stub: Stubber, ecr: str) -> None:
    stub.add_response(
        "batch_get_account_status",
        {
            "accounts": [
                {
                    "accountId": "123456789012",
                    "state": _state("ENABLED"),
                    "resourceState": {"ec2": _state("ENABLED"), "ecr": _state(ecr)},
                }
            ],
            "failedAccounts": [],
        },
    )


def _state(status: str) -> dict[str, str]:
    return {"status": status, "errorCode": "ALREADY_ENABLED", "errorMessage": "-"}


def _covered(name: str, digest: str, count: int, last: datetime | None) -> dict[str, Any]:
    image: dict[str, Any] = {"inUseCount": count}
    if last is not None:
        image["lastInUseAt"] = last
    return {
        "resourceType": "AWS_ECR_CONTAINER_IMAGE",
        "resourceId": f"arn:aws:ecr:us-east-1:123456789012:repository/{name}/{digest}",
        "accountId": "123456789012",
        "scanType": "PACKAGE",
        "resourceMetadata": {"ecrRepository": {"name": name}, "ecrImage": image},
    }


def test_inspector_pages_through_coverage_and_pins_what_ecs_and_eks_run(
    clients: dict[str, tuple[Any, Stubber]],
) -> None:
    stub = clients["inspector2"][1]
    _status(stub, "ENABLED")
    stub.add_response(
        "list_coverage",
        {"coveredResources": [_covered("svc/a", D1, 4, NOW - timedelta(days=1))], "nextToken": "page-2"},
        {"filterCriteria": ECR_ONLY, "maxResults": 200},
    )
    stub.add_response(
        "list_coverage",
        {
            "coveredResources": [
                _covered("svc/b", D2, 0, NOW - timedelta(days=3)),  # seen 3 days ago
                _covered("svc/c", D2, 0, NOW - timedelta(days=30)),  # a month ago: not kept
                _covered("svc/d", D2, 0, None),  # never seen in use
            ]
        },
        {"filterCriteria": ECR_ONLY, "maxResults": 200, "nextToken": "page-2"},
    )
    target = InUseSnapshot()
    found = reader(clients, recently_in_use_days=7)._inspector("us-east-1", NOW, target)
    assert {(r.repository, r.digest, r.holder) for r in parsed(found)} == {
        ("svc/a", D1, "Inspector: 4 in use, last 2026-11-30"),
        ("svc/b", D2, "Inspector: 0 in use, last 2026-11-28"),
    }
    assert target.inspector == [InspectorUse("us-east-1", True, "ENABLED", covered=4, pinned=2)]


@pytest.mark.parametrize(("mode", "fails"), [("auto", False), ("required", True)])
def test_inspector_not_enabled(clients: dict[str, tuple[Any, Stubber]], mode: str, fails: bool) -> None:
    _status(clients["inspector2"][1], "DISABLED")
    target = InUseSnapshot()
    inspector = reader(clients, inspector=mode)
    if fails:
        with pytest.raises(InspectorNotEnabled, match="DISABLED"):
            inspector._inspector("us-east-1", NOW, target)
    else:
        assert inspector._inspector("us-east-1", NOW, target) == []
        assert target.inspector == [InspectorUse("us-east-1", False, "DISABLED")]


def test_inspector_status_unreadable_is_a_failure(clients: dict[str, tuple[Any, Stubber]]) -> None:
    clients["inspector2"][1].add_client_error(
        "batch_get_account_status", service_error_code="AccessDeniedException", http_status_code=403
    )
    clients["inspector2"][1].add_response(
        "batch_get_account_status",
        {
            "accounts": [],
            "failedAccounts": [
                {"accountId": "123456789012", "errorCode": "ACCESS_DENIED", "errorMessage": "not allowed"}
            ],
        },
    )
    with pytest.raises(ClientError, match="AccessDenied"):
        reader(clients)._inspector("us-east-1", NOW, InUseSnapshot())
    with pytest.raises(SourceUnreadable, match="not allowed"):
        reader(clients)._inspector("us-east-1", NOW, InUseSnapshot())


@pytest.mark.parametrize(("reason", "fails"), [("MISSING", False), ("INTERNAL_ERROR", True)])
def test_a_service_ecs_could_not_describe_fails_the_source_unless_it_is_gone(
    clients: dict[str, tuple[Any, Stubber]], reason: str, fails: bool
) -> None:
    ecs = clients["ecs"][1]
    service_arn = "arn:aws:ecs:us-east-1:123456789012:service/prod/web"
    ecs.add_response("list_clusters", {"clusterArns": [CLUSTER]})
    ecs.add_response("list_tasks", {"taskArns": []}, {"cluster": CLUSTER, "desiredStatus": "RUNNING"})
    ecs.add_response("list_services", {"serviceArns": [service_arn]}, {"cluster": CLUSTER})
    ecs.add_response(
        "describe_services",
        {"services": [], "failures": [{"arn": service_arn, "reason": reason}]},
        {"cluster": CLUSTER, "services": [service_arn]},
    )
    if fails:
        with pytest.raises(SourceUnreadable, match=f"could not describe service {service_arn} \\({reason}"):
            reader(clients)._ecs("us-east-1")
    else:
        ecs.add_response("list_task_definition_families", {"families": []}, {"status": "ACTIVE"})
        assert reader(clients)._ecs("us-east-1") == []


@pytest.mark.parametrize(("reason", "fails"), [("MISSING", False), ("INTERNAL_ERROR", True)])
def test_a_task_ecs_could_not_describe_fails_the_source_unless_it_is_gone(
    clients: dict[str, tuple[Any, Stubber]], reason: str, fails: bool
) -> None:
    ecs = clients["ecs"][1]
    task = "arn:aws:ecs:us-east-1:123456789012:task/prod/abc"
    ecs.add_response("list_clusters", {"clusterArns": [CLUSTER]})
    ecs.add_response("list_tasks", {"taskArns": [task]}, {"cluster": CLUSTER, "desiredStatus": "RUNNING"})
    ecs.add_response(
        "describe_tasks",
        {"tasks": [], "failures": [{"arn": task, "reason": reason}]},
        {"cluster": CLUSTER, "tasks": [task]},
    )
    if fails:
        with pytest.raises(SourceUnreadable, match=f"could not describe task {task} \\({reason}"):
            reader(clients)._ecs("us-east-1")
    else:
        ecs.add_response("list_services", {"serviceArns": []}, {"cluster": CLUSTER})
        ecs.add_response("list_task_definition_families", {"families": []}, {"status": "ACTIVE"})
        assert reader(clients)._ecs("us-east-1") == []


def _source(
    name: str, *, wait: Callable[[], Any] = lambda: None, fails: bool = False
) -> Callable[..., list[Found]]:
    def read(region: str) -> list[Found]:
        wait()
        if fails:
            raise SourceUnreadable("Broken", f"{name} broke")
        return [ImageReference(name.lower(), "v1", None, None, region, name)]

    return read


def workloads_only(clients: dict[str, tuple[Any, Stubber]]) -> InUseReader:
    return reader(clients, inspector="off", eks="off")


def test_the_sources_are_read_at_once(clients: dict[str, tuple[Any, Stubber]]) -> None:
    # Each source waits until all three have started: read one after another, they would time out.
    all_started = threading.Barrier(3, timeout=5)
    sources = workloads_only(clients)
    for name in ("ECS", "Lambda", "Batch"):
        setattr(sources, f"_{name.lower()}", _source(name, wait=all_started.wait))
    snapshot = sources.read(["us-east-1"], "us-east-1", datetime.now(UTC))
    assert snapshot.failures == []
    assert [r.holder for r in snapshot.references] == ["ECS", "Lambda", "Batch"]


def test_what_the_sources_found_comes_in_one_order_whichever_answered_first(
    clients: dict[str, tuple[Any, Stubber]],
) -> None:
    lambda_answered = threading.Event()
    sources = workloads_only(clients)
    sources._ecs = _source("ECS", wait=lambda: lambda_answered.wait(5), fails=True)  # type: ignore[method-assign]
    sources._lambda = _source("Lambda", wait=lambda_answered.set)  # type: ignore[method-assign]
    sources._batch = _source("Batch", fails=True)  # type: ignore[method-assign]
    snapshot = sources.read(["us-east-1", "eu-west-1"], "us-east-1", datetime.now(UTC))
    assert [(f.region, f.source) for f in snapshot.failures] == [
        ("us-east-1", "ECS"),
        ("us-east-1", "Batch"),
        ("eu-west-1", "ECS"),
        ("eu-west-1", "Batch"),
    ]
    found = [(r.region, r.holder) for r in snapshot.references]
    assert found == [("us-east-1", "Lambda"), ("eu-west-1", "Lambda")]


def test_an_eks_client_that_cannot_be_made_is_a_failure_of_its_region(
    clients: dict[str, tuple[Any, Stubber]],
) -> None:
    sources = reader(clients, inspector="off")  # no "eks" client among the fixture's: making one raises
    for name in ("ECS", "Lambda", "Batch"):
        setattr(sources, f"_{name.lower()}", _source(name))
    snapshot = sources.read(["us-east-1"], "us-east-1", datetime.now(UTC))
    failures = [(f.region, f.source, f.code) for f in snapshot.failures]
    assert failures == [("us-east-1", "EKS clusters", "KeyError")]
    assert [r.holder for r in snapshot.references] == ["ECS", "Lambda", "Batch"]


def test_a_surprise_while_reading_eks_withholds_deletions_and_the_other_sources_still_count(
    clients: dict[str, tuple[Any, Stubber]],
) -> None:
    sources = reader(clients, inspector="off")
    for name in ("ECS", "Lambda", "Batch"):
        setattr(sources, f"_{name.lower()}", _source(name))

    def broken(_regions: Any, _snapshot: InUseSnapshot) -> None:
        raise RuntimeError("unexpected")

    sources._eks = broken  # type: ignore[method-assign,assignment]
    snapshot = sources.read(["us-east-1"], "us-east-1", datetime.now(UTC))
    assert [(f.region, f.source, f.code) for f in snapshot.failures] == [("*", "EKS", "RuntimeError")]
    assert snapshot.withholds_deletions
    assert [r.holder for r in snapshot.references] == ["ECS", "Lambda", "Batch"]
