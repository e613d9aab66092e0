"""The function's IAM statements: what it reads, where it may write, and what it must never touch.

- ECR reads and writes are limited to repository ARNs in the regions the config walks.
- Deletions and lifecycle-policy writes are allowed only on repository ARNs, never on `*`.
- An explicit Deny blocks both on any repository tagged `ecr-janitor:skip` = `true`, whatever the code
  does (defence in depth: the function also skips such repositories itself).
- In-use detection reads ECS, Lambda, Batch and Amazon Inspector, read-only. Their List*/Describe* calls
  are account-wide by nature (ListClusters, ListFunctions, DescribeJobDefinitions, ListCoverage have no
  resource-level permissions). The second wave's reads (service revisions, queued Batch jobs,
  Inspector) are on `*` too: whether IAM scopes ecs:DescribeServiceRevisions to a service-revision ARN
  or batch:ListJobs to a job queue was not checked against the Service Authorization Reference, and a
  wrong scope would withhold every deletion (fail closed) rather than widen anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import ArnFormat, Aws, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from ecr_janitor.config import Config
from ecr_janitor.constants import SKIP_TAG_KEY, SKIP_TAG_VALUE

ECR_READ_ACTIONS = (
    "ecr:DescribeRepositories",
    "ecr:DescribeImages",
    "ecr:ListTagsForResource",
    "ecr:BatchGetImage",
    "ecr:GetLifecyclePolicy",
)
ECR_WRITE_ACTIONS = ("ecr:BatchDeleteImage", "ecr:PutLifecyclePolicy")
"""The only actions that change a registry. Never on `*`; denied on opted-out repositories."""

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


def registry_statements(
    scope: Construct, *, readable: Sequence[str], writable: Sequence[str]
) -> list[iam.PolicyStatement]:
    """Read the `readable` repositories, clean the `writable` ones, and never write to one that opted out
    (in any region of the stack's account): the janitor's own role, and a member role that cleans."""
    return [
        iam.PolicyStatement(sid="ReadRepositories", actions=list(ECR_READ_ACTIONS), resources=list(readable)),
        iam.PolicyStatement(
            sid="CleanRepositories", actions=list(ECR_WRITE_ACTIONS), resources=list(writable)
        ),
        iam.PolicyStatement(
            sid="NeverTouchOptedOutRepositories",
            effect=iam.Effect.DENY,
            actions=list(ECR_WRITE_ACTIONS),
            resources=repository_arns(scope, regions=["*"]),
            conditions={"StringEquals": {f"aws:ResourceTag/{SKIP_TAG_KEY}": SKIP_TAG_VALUE}},
        ),
    ]


def in_use_statement() -> iam.PolicyStatement:
    """What workloads run: read-only, account-wide listings (the janitor's role and every member role)."""
    return iam.PolicyStatement(sid="FindImagesInUse", actions=list(IN_USE_READ_ACTIONS), resources=["*"])


def janitor_statements(
    scope: Construct, *, regions: Sequence[str] | None, image_lists: Sequence[str] = ()
) -> list[iam.PolicyStatement]:
    repositories = repository_arns(scope, regions=regions)
    return [
        *image_list_statements(scope, locations=image_lists),
        *registry_statements(scope, readable=repositories, writable=repositories),
        in_use_statement(),
    ]


# -- other accounts: the member role the janitor assumes in each (infra/member_role.py creates it) -----

ORGANIZATIONS_READ_ACTIONS = (
    "organizations:ListAccounts",
    "organizations:ListAccountsForParent",
    "organizations:ListOrganizationalUnitsForParent",
)
"""Listing the organization's accounts (`organization` in `accounts` or `protect.consumerAccounts`): no
resource-level permissions for these in the Service Authorization Reference beyond the organization's
own ARNs, which the stack can't know offline; read-only."""


@dataclass(frozen=True, kw_only=True, slots=True)
class MemberAccess:
    """Whom the janitor's role may assume: the member role in each listed account, or (organization) in
    any account, which the member role's trust and external id then narrow to the janitor alone."""

    role_name: str
    accounts: tuple[str, ...]
    organization: bool

    @classmethod
    def of(cls, config: Config) -> MemberAccess | None:
        if config.access_role is None:
            return None
        selections = [s for s in (config.accounts, config.protect.consumer_accounts) if s is not None]
        return cls(
            role_name=config.access_role.name,
            accounts=tuple(sorted({account for s in selections for account in s.ids})),
            organization=any(s.organization is not None for s in selections),
        )

    def role_arns(self) -> list[str]:
        accounts = ["*"] if self.organization else self.accounts
        return [f"arn:{Aws.PARTITION}:iam::{account}:role/{self.role_name}" for account in accounts]

    def statements(self) -> list[iam.PolicyStatement]:
        statements = [
            iam.PolicyStatement(
                sid="AssumeMemberRoles", actions=["sts:AssumeRole"], resources=self.role_arns()
            )
        ]
        if self.organization:
            statements.append(
                iam.PolicyStatement(
                    sid="ListOrganizationAccounts", actions=list(ORGANIZATIONS_READ_ACTIONS), resources=["*"]
                )
            )
        return statements
