"""The function's IAM statements: what it reads, where it may write, and what it must never touch.

- ECR reads and writes are limited to repository ARNs in the regions the config walks.
- Deletions, archiving and lifecycle-policy writes are allowed only on repository ARNs, never on `*`.
- An explicit Deny blocks all three on any repository tagged `ecr-janitor:skip` = `true`, whatever the
  code does (defence in depth: the function also skips such repositories itself).
- In-use detection reads ECS, Lambda, Batch and Amazon Inspector, read-only. Their List*/Describe* calls
  are account-wide by nature (ListClusters, ListFunctions, DescribeJobDefinitions, ListCoverage have no
  resource-level permissions). The second wave's reads (service revisions, queued Batch jobs,
  Inspector) are on `*` too: whether IAM scopes ecs:DescribeServiceRevisions to a service-revision ARN
  or batch:ListJobs to a job queue was not checked against the Service Authorization Reference, and a
  wrong scope would withhold every deletion (fail closed) rather than widen anything.
- EKS (protect.eks): eks:ListClusters (account-wide by nature) only when clusters are discovered, and
  eks:DescribeCluster on the clusters of the configured regions (the named ones when the config names
  them). What the role may read inside a cluster is granted by the cluster (an access entry), not here.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import ArnFormat, Aws, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from ecr_janitor.config import Eks
from ecr_janitor.constants import SKIP_TAG_KEY, SKIP_TAG_VALUE

ECR_READ_ACTIONS = (
    "ecr:DescribeRepositories",
    "ecr:DescribeImages",
    "ecr:ListTagsForResource",
    "ecr:BatchGetImage",
    "ecr:GetLifecyclePolicy",
)
ECR_WRITE_ACTIONS = ("ecr:BatchDeleteImage", "ecr:PutLifecyclePolicy", "ecr:UpdateImageStorageClass")
"""The only actions that change a registry (UpdateImageStorageClass archives). Never on `*`; denied on
opted-out repositories."""

IN_USE_SECOND_WAVE = (
    # ECS service revisions: the digests a service's deployments resolved its tags to
    "ecs:DescribeServiceRevisions",
    # Batch jobs not yet finished, which keep the image of the revision they were submitted with
    "batch:DescribeJobQueues",
    "batch:ListJobs",
    "batch:DescribeJobs",
    # Amazon Inspector: is its ECR scanning on, and which images ECS tasks and EKS pods run
    "inspector2:BatchGetAccountStatus",
    "inspector2:ListCoverage",
)
"""Reads added for service revisions, unfinished Batch jobs and Inspector (all read-only)."""
IN_USE_READ_ACTIONS = (
    "ecs:ListClusters",
    "ecs:ListTasks",
    "ecs:DescribeTasks",
    "ecs:ListServices",
    "ecs:DescribeServices",
    "ecs:ListTaskDefinitionFamilies",
    "ecs:ListTaskDefinitions",
    "ecs:DescribeTaskDefinition",
    "lambda:ListFunctions",
    "lambda:ListVersionsByFunction",
    "lambda:ListAliases",
    "lambda:GetFunction",
    "batch:DescribeJobDefinitions",
    *IN_USE_SECOND_WAVE,
)


VPC_ACCESS_ACTIONS = (
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
)
"""What Lambda needs to place a function's network interfaces in a VPC: the actions of the managed
AWSLambdaVPCAccessExecutionRole policy (which CDK attaches only to roles it creates), minus logs."""


def eks_cluster_arns(scope: Construct, *, regions: Sequence[str] | None, names: Sequence[str]) -> list[str]:
    """The named clusters (or every cluster, `*`) of this account in `regions`."""
    stack = Stack.of(scope)
    return [
        stack.format_arn(
            service="eks",
            resource="cluster",
            resource_name=name,
            region=region,
            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
        )
        for region in (regions or [Aws.REGION])
        for name in (names or ["*"])
    ]


def eks_statements(
    scope: Construct, *, regions: Sequence[str] | None, eks: Eks | None
) -> list[iam.PolicyStatement]:
    """Find (ListClusters, only with `clusters: auto`) and describe the clusters the config reads."""
    if eks is None:
        return []
    statements = [
        iam.PolicyStatement(
            sid="DescribeEksClusters",
            actions=["eks:DescribeCluster"],
            resources=eks_cluster_arns(scope, regions=regions, names=eks.names),
        )
    ]
    if eks.discover:
        statements.append(
            iam.PolicyStatement(sid="FindEksClusters", actions=["eks:ListClusters"], resources=["*"])
        )
    return statements


def vpc_access_statement() -> iam.PolicyStatement:
    return iam.PolicyStatement(sid="RunInVpc", actions=list(VPC_ACCESS_ACTIONS), resources=["*"])


def repository_arns(scope: Construct, *, regions: Sequence[str] | None) -> list[str]:
    """Every repository of this account in `regions`; None means the stack's own region."""
    stack = Stack.of(scope)
    return [
        stack.format_arn(
            service="ecr",
            resource="repository",
            resource_name="*",
            region=region,
            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
        )
        for region in (regions or [Aws.REGION])
    ]


def image_list_statements(scope: Construct, *, locations: Sequence[str]) -> list[iam.PolicyStatement]:
    """Read access to exactly the extra image lists the config names (`protect.extraImageLists`)."""
    stack = Stack.of(scope)
    parameters = [
        stack.format_arn(
            service="ssm",
            resource="parameter",
            resource_name=location.removeprefix("ssm:").lstrip("/"),
            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
        )
        for location in locations
        if location.startswith("ssm:")
    ]
    objects = [
        f"arn:{Aws.PARTITION}:s3:::{location.removeprefix('s3://')}"
        for location in locations
        if location.startswith("s3://")
    ]
    statements = []
    if parameters:
        statements.append(
            iam.PolicyStatement(
                sid="ReadImageListParameters", actions=["ssm:GetParameter"], resources=parameters
            )
        )
    if objects:
        statements.append(
            iam.PolicyStatement(sid="ReadImageListObjects", actions=["s3:GetObject"], resources=objects)
        )
    return statements


def janitor_statements(
    scope: Construct,
    *,
    regions: Sequence[str] | None,
    image_lists: Sequence[str] = (),
    eks: Eks | None = None,
) -> list[iam.PolicyStatement]:
    repositories = repository_arns(scope, regions=regions)
    return [
        *image_list_statements(scope, locations=image_lists),
        *eks_statements(scope, regions=regions, eks=eks),
        iam.PolicyStatement(sid="ReadRepositories", actions=list(ECR_READ_ACTIONS), resources=repositories),
        iam.PolicyStatement(sid="CleanRepositories", actions=list(ECR_WRITE_ACTIONS), resources=repositories),
        iam.PolicyStatement(
            sid="NeverTouchOptedOutRepositories",
            effect=iam.Effect.DENY,
            actions=list(ECR_WRITE_ACTIONS),
            resources=repository_arns(scope, regions=["*"]),
            conditions={"StringEquals": {f"aws:ResourceTag/{SKIP_TAG_KEY}": SKIP_TAG_VALUE}},
        ),
        iam.PolicyStatement(sid="FindImagesInUse", actions=list(IN_USE_READ_ACTIONS), resources=["*"]),
    ]
