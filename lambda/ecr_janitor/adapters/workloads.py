"""The image references workloads hold: ECS, Lambda, Batch, Amazon Inspector, EKS (adapters/eks.py), and
lists of extra URIs.

Read once per run, before any deletion, from every configured region. A source that can't be read
is reported as a failure; the janitor then deletes nothing in any region, because a partial view of
what runs could make an image in use look unused. So is a URI that looks like ECR but doesn't parse.

The fields read, walked in botocore's service models (ecs 2014-11-13, batch 2016-08-10, inspector2
2020-06-08):

- ECS. Tasks: ListTasks(desiredStatus RUNNING, which includes PENDING) -> DescribeTasks (100 a call)
  `tasks[].containers[].image` and `.imageDigest` (the digest the task really runs), and its task
  definition. Services: DescribeServices (10 a call) `deployments[].taskDefinition`,
  `taskSets[].taskDefinition`, and `currentServiceRevisions[].arn`: the service revisions the service
  runs. `Deployment` and `TaskSet` carry no revision ARN in the model; the service does. ECS resolves a
  tag to a digest once per deployment and launches every later task of it by that digest, so a service
  scaled to 0 after its tag moved still needs that digest: DescribeServiceRevisions (at most 20 ARNs a
  call) `serviceRevisions[].containerImages[].image` / `.imageDigest`, and any `failures[]` is a source
  failure. (ListServiceDeployments would cost a call per service and adds no revision that is not
  current.) Task sets (CODE_DEPLOY, EXTERNAL) have no revision link in the model: their task definition
  and their running tasks' digests are what can be read. Task definitions:
  `containerDefinitions[].image` of the newest `taskDefinitionRevisions` ACTIVE revisions per family.
- Batch. Job definitions (DescribeJobDefinitions, ACTIVE) and jobs not yet finished (DescribeJobQueues,
  then ListJobs per queue for SUBMITTED, PENDING, RUNNABLE, STARTING and RUNNING, then DescribeJobs, 100
  ids a call): every image field of `JobDefinition` and `JobDetail`: `containerProperties.image` (a job:
  `container.image`), `ecsProperties.taskProperties[].containers[].image`,
  `eksProperties.podProperties.{containers,initContainers}[].image`, and the same three under each
  `nodeProperties.nodeRangeProperties[]` (`container`, `ecsProperties`, `eksProperties`). A queued job
  keeps the image of the revision it was submitted with, even after that revision is deregistered.
  PENDING also holds array parents whose children run.
- Inspector. BatchGetAccountStatus `accounts[].resourceState.ecr.status` (ENABLED or not; an account in
  `failedAccounts` is a failure), then ListCoverage (filterCriteria.resourceType EQUALS
  AWS_ECR_CONTAINER_IMAGE, 200 a page) `coveredResources[]`: `resourceId` (ends in the digest),
  `accountId`, `resourceMetadata.ecrRepository.name`, `resourceMetadata.ecrImage.inUseCount` and
  `.lastInUseAt` (core/inspector.py decides).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Any

from aws_lambda_powertools.utilities.parameters import SSMProvider

from ecr_janitor.adapters.clients import ClientFactory, error_code, error_message
from ecr_janitor.adapters.clients import pages as _pages
from ecr_janitor.adapters.eks import EksReader, presigner
from ecr_janitor.config import Protect
from ecr_janitor.core.inspector import ECR_IMAGE, inspector_reference
from ecr_janitor.core.model import ALL_REGIONS, InspectorUse, SourceFailure
from ecr_janitor.core.references import (
    ImageReference,
    InUseSnapshot,
    UnreadableReference,
    listed_image,
    parse_image_list,
    parse_image_uri,
)

Found = ImageReference | UnreadableReference
DESCRIBE_TASKS_BATCH = 100
DESCRIBE_SERVICES_BATCH = 10
DESCRIBE_SERVICE_REVISIONS_BATCH = 20
DESCRIBE_JOBS_BATCH = 100
UNFINISHED_JOB_STATUSES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING")
COVERAGE_PAGE = 200
UNREADABLE_URI = "UnreadableImageUri"
IN_USE_READERS = 8
"""Sources read at once: each waits on the network, not on the CPU."""


class SourceUnreadable(Exception):
    """A source answered, but not completely (a revision ECS couldn't describe, an unknown status)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class InspectorNotEnabled(SourceUnreadable):
    """`protect.inspector: required`, and Inspector's ECR scanning is not enabled in the region."""


class InUseReader:
    """The in-use sources of one account, region by region, through that account's clients.

    `account`: whose workloads these are (None: the janitor's own, its id not looked up). A workload's
    reference without a registry host is taken to mean its own account's registry, so it is given that
    account; an image list's may name any. `image_lists`: read `protect.extraImageLists` (the janitor's
    own account only). `inspector`: read Amazon Inspector, whose coverage is of the account's own
    registry only (so False for an account whose registry isn't cleaned). `where` ends every holder's
    name (` in account 111122223333`)."""

    def __init__(
        self,
        client_for: ClientFactory,
        settings: Protect,
        *,
        account: str | None = None,
        image_lists: bool = True,
        inspector: bool = True,
        where: str = "",
    ) -> None:
        self._client_for = client_for
        self._settings = settings
        self._account = account
        self._image_lists = image_lists
        self._own_inspector = inspector
        self._where = where

    def read(self, regions: Sequence[str], home_region: str, now: datetime) -> InUseSnapshot:
        """`now` is the run's: Inspector's `recentlyInUseDays` counts back from it. The sources are read
        at once (each is a few calls in a row, and the run waits for all of them before its first
        repository); what they found is put together in one fixed order, whichever answered first."""
        snapshot = InUseSnapshot()
        sources: list[tuple[str, str, Callable[[InUseSnapshot], Iterable[Found]]]] = []
        inspector = self._own_inspector and self._settings.in_use and self._settings.inspector != "off"
        if self._settings.in_use:
            for region in regions:
                sources += [
                    (region, "ECS", _alone(partial(self._ecs, region))),
                    (region, "Lambda", _alone(partial(self._lambda, region))),
                    (region, "Batch", _alone(partial(self._batch, region))),
                ]
                if inspector:
                    sources.append((region, "Inspector", partial(self._inspector, region, now)))
        if not inspector and self._own_inspector:
            snapshot.inspector += [
                InspectorUse(region, used=False, status="OFF", account=self._account) for region in regions
            ]
        for location in self._settings.extra_image_lists if self._image_lists else ():
            sources.append(
                (ALL_REGIONS, f"image list {location}", _alone(partial(self._extra, location, home_region)))
            )
        eks = InUseSnapshot()
        with ThreadPoolExecutor(max_workers=IN_USE_READERS, thread_name_prefix="in-use") as pool:
            eks_read = pool.submit(self._eks, regions, eks) if self._settings.reads_eks else None
            reads = [(region, source, pool.submit(_found, read)) for region, source, read in sources]
            for region, source, read_ in reads:
                found, side, error = read_.result()
                snapshot.inspector += side.inspector
                if error is not None:
                    code = error.code if isinstance(error, SourceUnreadable) else error_code(error)
                    snapshot.failures.append(
                        SourceFailure(region, source, code, error_message(error), account=self._account)
                    )
                    continue
                references, unreadable = self._split(found, region, source)
                snapshot.references += references
                snapshot.failures += unreadable
            if eks_read is not None:
                try:
                    eks_read.result()
                # As for every other source: a surprise withholds deletions, it doesn't end the run.
                except Exception as error:
                    code, message = error_code(error), error_message(error)
                    eks.failures.append(SourceFailure(ALL_REGIONS, "EKS", code, message, self._account))
                snapshot.extend(eks)
        return snapshot

    def _split(
        self, found: Sequence[Found], region: str, source: str
    ) -> tuple[list[ImageReference], list[SourceFailure]]:
        """The references a source holds, and a failure for each URI that looks like ECR but doesn't
        parse; each holder named with its account, and a workload's host-less reference given its own
        account's registry (an image list's, region `*`, may name any)."""
        if self._where:
            found = [replace(r, holder=r.holder + self._where) for r in found]
        owner = None if region == ALL_REGIONS else self._account
        unreadable = dict.fromkeys(r for r in found if isinstance(r, UnreadableReference))
        return (
            [r.owned_by(owner) for r in found if isinstance(r, ImageReference)],
            [SourceFailure(region, source, UNREADABLE_URI, r.describe(), self._account) for r in unreadable],
        )

    # -- EKS (adapters/eks.py): one source per cluster; an unreadable cluster in ignoreClusters warns ---

    def _eks(self, regions: Sequence[str], snapshot: InUseSnapshot) -> None:
        # The clusters' tokens are signed with this account's credentials too: its clusters map its role.
        reader = EksReader(
            self._client_for,
            self._settings.eks,
            presigner_for=partial(presigner, client_for=self._client_for),
        )
        findings = reader.read(regions)
        for cluster in findings.clusters:
            found = [r for holder, images in cluster.workloads for r in _parsed(images, holder)]
            references, unreadable = self._split(found, cluster.region, cluster.source)
            snapshot.references += references
            (snapshot.ignored if cluster.ignored else snapshot.failures).extend(unreadable)
        snapshot.failures += [replace(f, account=self._account) for f in findings.failures]
        snapshot.ignored += [replace(f, account=self._account) for f in findings.ignored]

    # -- ECS ------------------------------------------------------------------------------------------

    def _ecs(self, region: str) -> list[Found]:
        ecs = self._client_for("ecs", region)
        definitions: dict[str, dict[str, Any]] = {}

        def definition(arn: str) -> dict[str, Any]:
            if arn not in definitions:
                definitions[arn] = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
            return definitions[arn]

        def from_definition(arn: str, holder: str) -> Iterator[Found]:
            for container in definition(arn).get("containerDefinitions", []):
                yield from _parsed([container.get("image")], holder)

        references: list[Found] = []
        revisions: dict[str, str] = {}
        """Service revision ARN -> who runs it."""
        for cluster in _pages(ecs, "list_clusters", "clusterArns"):
            cluster_name = cluster.rsplit("/", 1)[-1]
            tasks = list(_pages(ecs, "list_tasks", "taskArns", cluster=cluster, desiredStatus="RUNNING"))
            for chunk in _chunks(tasks, DESCRIBE_TASKS_BATCH):
                answer = ecs.describe_tasks(cluster=cluster, tasks=chunk)
                _complete(answer, "task")
                for task in answer["tasks"]:
                    holder = f"ECS task {cluster_name}/{task['taskArn'].rsplit('/', 1)[-1]}"
                    for container in task.get("containers", []):
                        references += _parsed([container.get("image")], holder)
                        references += _pinned_digest(
                            container.get("image"), container.get("imageDigest"), holder
                        )
                    references += from_definition(task["taskDefinitionArn"], holder)
            services = list(_pages(ecs, "list_services", "serviceArns", cluster=cluster))
            for chunk in _chunks(services, DESCRIBE_SERVICES_BATCH):
                answer = ecs.describe_services(cluster=cluster, services=chunk)
                _complete(answer, "service")
                for service in answer["services"]:
                    holder = f"ECS service {cluster_name}/{service['serviceName']}"
                    arns = {
                        d["taskDefinition"] for d in service.get("deployments", []) if d.get("taskDefinition")
                    }
                    arns |= {
                        t["taskDefinition"] for t in service.get("taskSets", []) if t.get("taskDefinition")
                    }
                    for arn in sorted(arns):
                        references += from_definition(arn, holder)
                    for arn in (r["arn"] for r in service.get("currentServiceRevisions", []) if r.get("arn")):
                        revisions[arn] = f"{holder} revision {arn.rsplit('/', 1)[-1]}"
        references += _service_revision_images(ecs, revisions)
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

    def _lambda(self, region: str) -> list[Found]:
        client = self._client_for("lambda", region)
        references: list[Found] = []
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

    def _batch(self, region: str) -> list[Found]:
        client = self._client_for("batch", region)
        references: list[Found] = []
        for job in _pages(client, "describe_job_definitions", "jobDefinitions", status="ACTIVE"):
            holder = f"Batch job definition {job['jobDefinitionName']}:{job.get('revision', '?')}"
            references += _parsed(_batch_images(job), holder)
        for queue in _pages(client, "describe_job_queues", "jobQueues"):
            jobs = [
                summary["jobId"]
                for status in UNFINISHED_JOB_STATUSES
                for summary in _pages(
                    client, "list_jobs", "jobSummaryList", jobQueue=queue["jobQueueArn"], jobStatus=status
                )
            ]
            for chunk in _chunks(list(dict.fromkeys(jobs)), DESCRIBE_JOBS_BATCH):
                for job in client.describe_jobs(jobs=chunk)["jobs"]:
                    holder = f"Batch job {queue['jobQueueName']}/{job['jobName']} ({job.get('status', '?')})"
                    references += _parsed(_batch_images(job), holder)
        return references

    # -- Amazon Inspector -----------------------------------------------------------------------------

    def _inspector(self, region: str, now: datetime, snapshot: InUseSnapshot) -> list[Found]:
        """Also tells `snapshot` whether Inspector's signal was used in `region`."""
        client = self._client_for("inspector2", region)
        status = _ecr_scanning_status(client)
        if status != "ENABLED":
            if self._settings.inspector == "required":
                raise InspectorNotEnabled(
                    "InspectorNotEnabled",
                    f"protect.inspector is required, but Inspector's ECR scanning is {status} here",
                )
            snapshot.inspector.append(InspectorUse(region, used=False, status=status, account=self._account))
            return []
        found: list[Found] = []
        covered = 0
        coverage = _pages(
            client,
            "list_coverage",
            "coveredResources",
            filterCriteria={"resourceType": [{"comparison": "EQUALS", "value": ECR_IMAGE}]},
            PaginationConfig={"PageSize": COVERAGE_PAGE},
        )
        for resource in coverage:
            covered += 1
            reference = inspector_reference(
                resource, region=region, now=now, recent_days=self._settings.recently_in_use_days
            )
            if reference is not None:
                found.append(reference)
        snapshot.inspector.append(
            InspectorUse(region, True, status, covered=covered, pinned=len(found), account=self._account)
        )
        return found

    # -- extra lists ----------------------------------------------------------------------------------

    def _extra(self, location: str, home_region: str) -> list[Found]:
        if location.startswith("ssm:"):
            provider = SSMProvider(boto3_client=self._client_for("ssm", home_region))
            # A SecureString list is decrypted (the role then needs kms:Decrypt on its key; without it
            # the list is unreadable and deletions are withheld), never read as its ciphertext.
            text = str(provider.get(location.removeprefix("ssm:"), max_age=0, decrypt=True))
        else:
            bucket, _, key = location.removeprefix("s3://").partition("/")
            body = self._client_for("s3", home_region).get_object(Bucket=bucket, Key=key)["Body"]
            text = body.read().decode("utf-8")
        holder = f"image list {location}"
        listed = (listed_image(uri, holder) for uri in parse_image_list(text))
        return [reference for reference in listed if reference is not None]


def _complete(answer: dict[str, Any], what: str) -> None:
    """ECS answers a describe call in part, with `failures[]`: a task or service gone since it was listed
    (MISSING) runs nothing any more, but any other failure leaves its images unknown."""
    for failure in answer.get("failures", []):
        if failure.get("reason") != "MISSING":
            raise SourceUnreadable(
                "EcsDescribeFailed",
                f"ECS could not describe {what} {failure.get('arn')} "
                f"({failure.get('reason', '?')}: {failure.get('detail', '')})",
            )


def _service_revision_images(ecs: Any, revisions: dict[str, str]) -> list[Found]:
    """The images and resolved digests of service revisions (ARN -> holder), 20 ARNs a call."""
    found: list[Found] = []
    for chunk in _chunks(sorted(revisions), DESCRIBE_SERVICE_REVISIONS_BATCH):
        answer = ecs.describe_service_revisions(serviceRevisionArns=chunk)
        for failure in answer.get("failures", []):
            raise SourceUnreadable(
                "ServiceRevisionUnreadable",
                f"ECS could not describe service revision {failure.get('arn')} "
                f"({failure.get('reason', '?')}: {failure.get('detail', '')})",
            )
        for revision in answer.get("serviceRevisions", []):
            holder = revisions.get(revision.get("serviceRevisionArn", ""), "ECS service revision")
            for container in revision.get("containerImages", []):
                image, digest = container.get("image"), container.get("imageDigest")
                if digest and not image:  # a digest we can't place in a repository: don't guess
                    found.append(UnreadableReference(f"{container.get('containerName')}@{digest}", holder))
                found += _parsed([image], holder)
                found += _pinned_digest(image, digest, holder)
    return found


def _ecr_scanning_status(inspector: Any) -> str:
    """This account's status of Inspector's ECR scanning in the client's region (ENABLED, DISABLED, ...)."""
    answer = inspector.batch_get_account_status()
    for failed in answer.get("failedAccounts", []):
        raise SourceUnreadable(
            str(failed.get("errorCode") or "InspectorStatusUnknown"),
            f"Inspector's account status could not be read: {failed.get('errorMessage', '')}",
        )
    accounts = answer.get("accounts", [])
    if not accounts:
        raise SourceUnreadable("InspectorStatusUnknown", "Inspector returned no account status")
    return str(accounts[0].get("resourceState", {}).get("ecr", {}).get("status") or "UNKNOWN")


def _batch_images(job: dict[str, Any]) -> list[str | None]:
    """Every image field of a Batch JobDefinition or JobDetail, also under multi-node ranges."""
    images: list[str | None] = [
        job.get("containerProperties", {}).get("image"),
        job.get("container", {}).get("image"),
        *_task_and_pod_images(job),
    ]
    for node in job.get("nodeProperties", {}).get("nodeRangeProperties", []):
        images += [node.get("container", {}).get("image"), *_task_and_pod_images(node)]
    return images


def _task_and_pod_images(properties: dict[str, Any]) -> list[str | None]:
    """`ecsProperties` and `eksProperties`, which a job, a job definition and a node range all have."""
    images = [
        container.get("image")
        for task in properties.get("ecsProperties", {}).get("taskProperties", [])
        for container in task.get("containers", [])
    ]
    pod = properties.get("eksProperties", {}).get("podProperties", {})
    return images + [c.get("image") for c in pod.get("containers", []) + pod.get("initContainers", [])]


def _parsed(uris: Iterable[str | None], holder: str) -> Iterator[Found]:
    for uri in uris:
        if uri:
            reference = parse_image_uri(uri, holder)
            if reference is not None:
                yield reference


def _pinned_digest(image: str | None, digest: str | None, holder: str) -> list[Found]:
    """ECS reports the digest a task (or a service revision) really runs, even when its image names
    only a tag."""
    if not image or not digest:
        return []
    reference = parse_image_uri(image, holder)
    if not isinstance(reference, ImageReference):
        return []  # an unreadable URI is reported once, by _parsed
    return [ImageReference(reference.repository, None, digest, reference.account, reference.region, holder)]


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _alone(read: Callable[[], Iterable[Found]]) -> Callable[[InUseSnapshot], Iterable[Found]]:
    """A source that tells the snapshot nothing but what it found."""
    return lambda _side: read()


def _found(
    read: Callable[[InUseSnapshot], Iterable[Found]],
) -> tuple[list[Found], InUseSnapshot, Exception | None]:
    side = InUseSnapshot()
    try:
        return list(read(side)), side, None
    # Any surprise while reading a source must withhold deletions, never crash the run or be ignored.
    except Exception as error:
        return [], side, error
