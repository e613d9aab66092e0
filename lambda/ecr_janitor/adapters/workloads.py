"""The image references workloads hold: ECS, Lambda, Batch, EKS, and lists of extra image URIs.

Read once per run, before any deletion, from every configured region. A source that can't be read
is reported as a failure; the janitor then deletes nothing in any region, because a partial view of
what runs could make an image in use look unused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from typing import Any

from aws_lambda_powertools.utilities.parameters import SSMProvider

from ecr_janitor.adapters.clients import error_code, error_message
from ecr_janitor.adapters.eks import EksReader
from ecr_janitor.config import Protect
from ecr_janitor.core.model import ALL_REGIONS, SourceFailure
from ecr_janitor.core.references import ImageReference, InUseSnapshot, parse_image_list, parse_image_uri

ClientFactory = Callable[[str, str], Any]
DESCRIBE_TASKS_BATCH = 100
DESCRIBE_SERVICES_BATCH = 10


class InUseReader:
    def __init__(self, client_for: ClientFactory, settings: Protect) -> None:
        self._client_for = client_for
        self._settings = settings

    def read(self, regions: Sequence[str], home_region: str) -> InUseSnapshot:
        snapshot = InUseSnapshot()
        sources: list[tuple[str, str, Callable[[], Iterable[ImageReference]]]] = []
        if self._settings.in_use:
            for region in regions:
                sources += [
                    (region, "ECS", partial(self._ecs, region)),
                    (region, "Lambda", partial(self._lambda, region)),
                    (region, "Batch", partial(self._batch, region)),
                ]
        for location in self._settings.extra_image_lists:
            sources.append(
                (ALL_REGIONS, f"image list {location}", partial(self._extra, location, home_region))
            )
        for region, source, read in sources:
            try:
                snapshot.references.extend(read())
            # Any surprise while reading a source must withhold deletions, never crash the run or be ignored.
            except Exception as error:
                snapshot.failures.append(
                    SourceFailure(region, source, error_code(error), error_message(error))
                )
        if self._settings.reads_eks:
            self._eks(regions, snapshot)
        return snapshot

    # -- EKS (adapters/eks.py): one source per cluster; an unreadable cluster in ignoreClusters warns ---

    def _eks(self, regions: Sequence[str], snapshot: InUseSnapshot) -> None:
        findings = EksReader(self._client_for, self._settings.eks).read(regions)
        for holder, images in findings.workloads:
            snapshot.references.extend(_parsed(images, holder))
        snapshot.failures.extend(findings.failures)
        snapshot.ignored.extend(findings.ignored)

    # -- ECS ------------------------------------------------------------------------------------------

    def _ecs(self, region: str) -> list[ImageReference]:
        ecs = self._client_for("ecs", region)
        definitions: dict[str, dict[str, Any]] = {}

        def definition(arn: str) -> dict[str, Any]:
            if arn not in definitions:
                definitions[arn] = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
            return definitions[arn]

        def from_definition(arn: str, holder: str) -> Iterator[ImageReference]:
            for container in definition(arn).get("containerDefinitions", []):
                yield from _parsed([container.get("image")], holder)

        references: list[ImageReference] = []
        for cluster in _pages(ecs, "list_clusters", "clusterArns"):
            cluster_name = cluster.rsplit("/", 1)[-1]
            tasks = list(_pages(ecs, "list_tasks", "taskArns", cluster=cluster, desiredStatus="RUNNING"))
            for chunk in _chunks(tasks, DESCRIBE_TASKS_BATCH):
                for task in ecs.describe_tasks(cluster=cluster, tasks=chunk)["tasks"]:
                    holder = f"ECS task {cluster_name}/{task['taskArn'].rsplit('/', 1)[-1]}"
                    for container in task.get("containers", []):
                        references += _parsed([container.get("image")], holder)
                        references += _pinned_digest(
                            container.get("image"), container.get("imageDigest"), holder
                        )
                    references += from_definition(task["taskDefinitionArn"], holder)
            services = list(_pages(ecs, "list_services", "serviceArns", cluster=cluster))
            for chunk in _chunks(services, DESCRIBE_SERVICES_BATCH):
                for service in ecs.describe_services(cluster=cluster, services=chunk)["services"]:
                    holder = f"ECS service {cluster_name}/{service['serviceName']}"
                    arns = {
                        d["taskDefinition"] for d in service.get("deployments", []) if d.get("taskDefinition")
                    }
                    arns |= {
                        t["taskDefinition"] for t in service.get("taskSets", []) if t.get("taskDefinition")
                    }
                    for arn in sorted(arns):
                        references += from_definition(arn, holder)
        keep = self._settings.task_definition_revisions
        for family in _pages(ecs, "list_task_definition_families", "families", status="ACTIVE"):
            newest: list[str] = []
            pages = _pages(
                ecs,
                "list_task_definitions",
                "taskDefinitionArns",
                familyPrefix=family,
                status="ACTIVE",
                sort="DESC",
            )
            for arn in pages:  # familyPrefix is a prefix: `api` also lists `api-worker`
                if arn.rsplit("/", 1)[-1].rsplit(":", 1)[0] == family:
                    newest.append(arn)
                    if len(newest) == keep:  # keep 0: every ACTIVE revision
                        break
            for arn in newest:
                references += from_definition(arn, f"ECS task definition {arn.rsplit('/', 1)[-1]}")
        return references

    # -- Lambda ---------------------------------------------------------------------------------------

    def _lambda(self, region: str) -> list[ImageReference]:
        client = self._client_for("lambda", region)
        references: list[ImageReference] = []
        for function in _pages(client, "list_functions", "Functions"):
            if function.get("PackageType") != "Image":
                continue
            name = function["FunctionName"]
            versions = [
                v["Version"]
                for v in _pages(client, "list_versions_by_function", "Versions", FunctionName=name)
            ]
            numbered = sorted(int(v) for v in versions if v.isdigit())
            keep = self._settings.lambda_versions  # 0: every version
            wanted = {"$LATEST", *(str(v) for v in (numbered[-keep:] if keep else numbered))}
            for alias in _pages(client, "list_aliases", "Aliases", FunctionName=name):
                wanted.add(alias["FunctionVersion"])
                wanted |= set(alias.get("RoutingConfig", {}).get("AdditionalVersionWeights", {}))
            for qualifier in sorted(wanted):
                code = client.get_function(FunctionName=name, Qualifier=qualifier).get("Code", {})
                references += _parsed(
                    [code.get("ImageUri"), code.get("ResolvedImageUri")], f"Lambda {name}:{qualifier}"
                )
        return references

    # -- Batch ----------------------------------------------------------------------------------------

    def _batch(self, region: str) -> list[ImageReference]:
        client = self._client_for("batch", region)
        references: list[ImageReference] = []
        for job in _pages(client, "describe_job_definitions", "jobDefinitions", status="ACTIVE"):
            holder = f"Batch job definition {job['jobDefinitionName']}:{job.get('revision', '?')}"
            references += _parsed(_batch_images(job), holder)
        return references

    # -- extra lists ----------------------------------------------------------------------------------

    def _extra(self, location: str, home_region: str) -> list[ImageReference]:
        if location.startswith("ssm:"):
            provider = SSMProvider(boto3_client=self._client_for("ssm", home_region))
            text = str(provider.get(location.removeprefix("ssm:"), max_age=0))
        else:
            bucket, _, key = location.removeprefix("s3://").partition("/")
            body = self._client_for("s3", home_region).get_object(Bucket=bucket, Key=key)["Body"]
            text = body.read().decode("utf-8")
        return list(_parsed(parse_image_list(text), f"image list {location}"))


def _batch_images(job: dict[str, Any]) -> list[str | None]:
    images: list[str | None] = [job.get("containerProperties", {}).get("image")]
    for node in job.get("nodeProperties", {}).get("nodeRangeProperties", []):
        images.append(node.get("container", {}).get("image"))
    for task in job.get("ecsProperties", {}).get("taskProperties", []):
        images += [c.get("image") for c in task.get("containers", [])]
    pod = job.get("eksProperties", {}).get("podProperties", {})
    images += [c.get("image") for c in pod.get("containers", []) + pod.get("initContainers", [])]
    return images


def _parsed(uris: Iterable[str | None], holder: str) -> Iterator[ImageReference]:
    for uri in uris:
        if uri:
            reference = parse_image_uri(uri, holder)
            if reference is not None:
                yield reference


def _pinned_digest(image: str | None, digest: str | None, holder: str) -> list[ImageReference]:
    """ECS reports the digest a task really runs, even when its image names only a tag."""
    if not image or not digest:
        return []
    reference = parse_image_uri(image, holder)
    if reference is None:
        return []
    return [ImageReference(reference.repository, None, digest, reference.account, reference.region, holder)]


def _pages(client: Any, operation: str, key: str, **kwargs: Any) -> Iterator[Any]:
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key, [])


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
