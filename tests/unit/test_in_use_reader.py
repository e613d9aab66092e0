"""Which workload references the reader collects, checked call by call with botocore's Stubber.

moto models neither the digest ECS reports for a running task nor per-version Lambda images, so these
paths are pinned down here against the real API shapes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from ecr_janitor.adapters.workloads import InUseReader
from ecr_janitor.config import Protect

HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
D1 = "sha256:" + "1" * 64


@pytest.fixture
def clients() -> Iterator[dict[str, tuple[Any, Stubber]]]:
    made: dict[str, tuple[Any, Stubber]] = {}
    for service in ("ecs", "lambda", "batch"):
        client = boto3.client(service, region_name="us-east-1")
        made[service] = (client, Stubber(client))
    for _, stubber in made.values():
        stubber.activate()
    yield made
    for _, stubber in made.values():
        stubber.assert_no_pending_responses()
        stubber.deactivate()


def reader(clients: dict[str, tuple[Any, Stubber]], **settings: Any) -> InUseReader:
    return InUseReader(lambda service, _region: clients[service][0], Protect(**settings))


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
    references = reader(clients)._ecs("us-east-1")
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
            {"Code": {"ImageUri": f"{HOST}/svc/fn:v{qualifier}", "ResolvedImageUri": f"{HOST}/svc/fn@{D1}"}},
            {"FunctionName": "fn", "Qualifier": qualifier},
        )
    references = reader(clients, lambda_versions=2)._lambda("us-east-1")
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
    references = reader(clients)._batch("us-east-1")
    assert {r.repository for r in references} == {"svc/node", "svc/ecs", "svc/eks", "svc/init"}
    assert {r.holder for r in references} == {"Batch job definition multi:3"}
