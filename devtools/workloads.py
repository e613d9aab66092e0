"""Workloads that hold image references, created in the local AWS (moto) through the real APIs."""

from __future__ import annotations

import json
from datetime import datetime
from itertools import count
from typing import Any

import boto3
from moto.backends import get_backend

from devtools.kube_api import KubeApiFake
from devtools.local_ecr import ACCOUNT_ID, StrictEcr, scope


def image_uri(
    repository: str,
    *,
    tag: str | None = None,
    digest: str | None = None,
    region: str = "us-east-1",
    account: str = ACCOUNT_ID,
) -> str:
    uri = f"{account}.dkr.ecr.{region}.amazonaws.com/{repository}"
    if tag:
        uri += f":{tag}"
    if digest:
        uri += f"@{digest}"
    return uri


def client_in(account: str, service: str, region: str = "us-east-1") -> Any:
    """A client that acts in `account` of the local AWS (moto's `x-moto-account-id` header), whatever
    its credentials: how tests set up other accounts without assuming a role there."""
    client = boto3.client(service, region_name=region)
    if account != ACCOUNT_ID:

        def in_account(request: Any, **_: Any) -> None:
            request.headers["x-moto-account-id"] = account

        client.meta.events.register("before-sign", in_account)
    return client


class Workloads:
    """Workloads of one account (moto's default unless `account` says otherwise) in one region."""

    def __init__(
        self, region: str = "us-east-1", strict: StrictEcr | None = None, account: str = ACCOUNT_ID
    ) -> None:
        self.region = region
        self.account = account
        self._clients: dict[str, Any] = {}
        self._role: str | None = None
        self._strict = strict
        """Where what moto lacks is seeded (service revisions, Batch jobs, Inspector)."""
        self._ids = count(1)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = client_in(self.account, service, self.region)
        return self._clients[service]

    # -- ECS ------------------------------------------------------------------------------------------

    def task_definition(self, family: str, *images: str) -> str:
        containers = [{"name": f"c{n}", "image": uri, "memory": 128} for n, uri in enumerate(images)]
        response = self.client("ecs").register_task_definition(family=family, containerDefinitions=containers)
        return str(response["taskDefinition"]["taskDefinitionArn"])

    def cluster(self, name: str) -> str:
        """A cluster with one EC2 container instance, so that tasks can run."""
        ecs, ec2 = self.client("ecs"), self.client("ec2")
        ecs.create_cluster(clusterName=name)
        ami = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        instance = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
        document = {"instanceId": instance, "region": self.region, "accountId": self.account}
        ecs.register_container_instance(cluster=name, instanceIdentityDocument=json.dumps(document))
        return name

    def service(self, cluster: str, name: str, task_definition: str) -> None:
        self.client("ecs").create_service(
            cluster=cluster, serviceName=name, taskDefinition=task_definition, desiredCount=1
        )

    def task(self, cluster: str, task_definition: str) -> str:
        response = self.client("ecs").run_task(
            cluster=cluster, taskDefinition=task_definition, count=1, launchType="EC2"
        )
        return str(response["tasks"][0]["taskArn"])

    def retire_task_definition(self, arn: str) -> None:
        self.client("ecs").deregister_task_definition(taskDefinition=arn)

    # -- Lambda ---------------------------------------------------------------------------------------

    def _execution_role(self) -> str:
        if self._role is None:
            iam = self.client("iam")
            self._role = iam.create_role(RoleName="fn-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        return self._role

    def lambda_function(self, name: str, uri: str) -> None:
        self.client("lambda").create_function(
            FunctionName=name, PackageType="Image", Code={"ImageUri": uri}, Role=self._execution_role()
        )

    # -- Batch and lists ------------------------------------------------------------------------------

    def batch_job_definition(self, name: str, uri: str) -> None:
        self.client("batch").register_job_definition(
            jobDefinitionName=name,
            type="container",
            containerProperties={"image": uri, "vcpus": 1, "memory": 128},
        )

    def ssm_list(self, name: str, *uris: str) -> str:
        self.client("ssm").put_parameter(Name=name, Type="StringList", Value=",".join(uris))
        return f"ssm:{name}"

    def s3_list(self, bucket: str, key: str, *uris: str) -> str:
        s3 = self.client("s3")
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key=key, Body="\n".join(["# image URIs in use", *uris]).encode())
        return f"s3://{bucket}/{key}"

    # -- what moto lacks, seeded into the strict local ECR --------------------------------------------

    @property
    def strict(self) -> StrictEcr:
        if self._strict is None:
            raise RuntimeError("Workloads(strict=local_ecr.strict) is needed to seed what moto lacks")
        return self._strict

    def service_revision(self, cluster: str, service: str, *images: tuple[str, str]) -> str:
        """A new current revision of a service: (image as the task definition names it, the digest ECS
        resolved it to) per container. Returns the revision ARN."""
        (described,) = self.client("ecs").describe_services(cluster=cluster, services=[service])["services"]
        arn = (
            f"arn:aws:ecs:{self.region}:{self.account}:service-revision/{cluster}/{service}/{next(self._ids)}"
        )
        self.strict.service_revisions.setdefault(described["serviceArn"], []).append(arn)
        self.strict.revisions[arn] = [
            {"containerName": f"c{n}", "image": uri, "imageDigest": digest}
            for n, (uri, digest) in enumerate(images)
        ]
        return arn

    def retire_service_revisions(self, cluster: str, service: str) -> None:
        """The service no longer runs any revision (deleted, or its revisions replaced)."""
        (described,) = self.client("ecs").describe_services(cluster=cluster, services=[service])["services"]
        self.strict.service_revisions.pop(described["serviceArn"], None)

    def batch_multinode_job_definition(self, name: str, *ranges: dict[str, Any]) -> None:
        self.client("batch").register_job_definition(
            jobDefinitionName=name,
            type="multinode",
            nodeProperties={"numNodes": len(ranges), "mainNode": 0, "nodeRangeProperties": list(ranges)},
        )

    def batch_job(self, queue: str, name: str, status: str, **properties: Any) -> str:
        """A job in `queue` with `status` and JobDetail fields such as container={"image": ...}."""
        where = scope(self.account, self.region)
        if queue not in self.strict.job_queues.setdefault(where, []):
            self.strict.job_queues[where].append(queue)
        job_id = f"job-{next(self._ids):04d}"
        self.strict.jobs.setdefault(where, []).append(
            {
                "jobId": job_id,
                "jobName": name,
                "jobQueue": queue,
                "status": status,
                "startedAt": 0,
                "jobDefinition": f"arn:aws:batch:{self.region}:{self.account}:job-definition/{name}:1",
                **properties,
            }
        )
        return job_id

    def inspector(self, status: str = "ENABLED") -> None:
        """Inspector's ECR scanning status for the account in this region."""
        self.strict.inspector_ecr_status[scope(self.account, self.region)] = status

    def inspector_coverage(
        self, repository: str, digest: str, *, in_use: int = 0, last_in_use: datetime | None = None
    ) -> None:
        image: dict[str, Any] = {"inUseCount": in_use}
        if last_in_use is not None:
            image["lastInUseAt"] = last_in_use.timestamp()
        self.strict.inspector_coverage.setdefault(scope(self.account, self.region), []).append(
            {
                "resourceType": "AWS_ECR_CONTAINER_IMAGE",
                "resourceId": f"arn:aws:ecr:{self.region}:{self.account}:repository/{repository}/{digest}",
                "accountId": self.account,
                "scanType": "PACKAGE",
                "scanStatus": {"statusCode": "ACTIVE", "reason": "SUCCESSFUL"},
                "resourceMetadata": {"ecrRepository": {"name": repository}, "ecrImage": image},
            }
        )

    # -- EKS ------------------------------------------------------------------------------------------

    def eks_cluster(self, api: KubeApiFake, *, status: str = "ACTIVE", ca_data: str | None = None) -> None:
        """A cluster in the local EKS (moto) whose endpoint and CA are the fake API server's (moto makes
        both up, and has no way to set them through its API). `ca_data` replaces the CA."""
        eks = client_in(self.account, "eks", api.region)
        eks.create_cluster(
            name=api.cluster, roleArn=f"arn:aws:iam::{self.account}:role/eks-cluster", resourcesVpcConfig={}
        )
        cluster = get_backend("eks")[self.account][api.region].clusters[api.cluster]
        cluster.endpoint = api.endpoint
        cluster.certificate_authority = {"data": ca_data or api.ca_data}
        cluster.status = status
