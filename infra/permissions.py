"""The function's IAM statements: what it reads, where it may write, and what it must never touch.

- ECR reads are limited to repository ARNs in the regions the config walks (the janitor lists every
  repository there to find the covered ones).
- ECR writes (deleting, archiving, putting lifecycle policies) are allowed only on the repository ARNs
  the config's targets cover (`write_scopes`), per configured region, never on `*`; a write that only one
  mode makes goes only to that mode's targets.
- An explicit Deny blocks every write on any repository tagged `ecr-janitor:skip` = `true`, in any letter
  case, whatever the code does (defence in depth: the function also skips such repositories itself).
- In-use detection reads ECS, Lambda, Batch and Amazon Inspector, read-only. Their List*/Describe* calls
  are account-wide by nature (ListClusters, ListFunctions, DescribeJobDefinitions, ListCoverage have no
  resource-level permissions). The second wave's reads (service revisions, queued Batch jobs,
  Inspector) are on `*` too: whether IAM scopes ecs:DescribeServiceRevisions to a service-revision ARN
  or batch:ListJobs to a job queue was not checked against the Service Authorization Reference, and a
  wrong scope would withhold every deletion (fail closed) rather than widen anything.
- EKS (protect.eks): eks:ListClusters (account-wide by nature) only when clusters are discovered, and
  eks:DescribeCluster on the clusters of the configured regions (the named ones when the config names
  them). What the role may read inside a cluster is granted by the cluster (an access entry), not here.
- Other accounts (`accounts`, `protect.consumerAccounts`): sts:AssumeRole on their member role only
  (`MemberAccess`); the member role (infra/member_role.py) gets the same reads and, where it cleans, the
  same scoped writes and Deny, from the functions here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from aws_cdk import ArnFormat, Aws, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from ecr_janitor.config import Config, Eks, Target
from ecr_janitor.constants import SKIP_TAG_KEY, SKIP_TAG_VALUE

ECR_READ_ACTIONS = (
    "ecr:DescribeRepositories",
    "ecr:DescribeImages",
    "ecr:ListTagsForResource",
    "ecr:BatchGetImage",
    "ecr:GetLifecyclePolicy",
)
ECR_WRITE_ACTIONS = ("ecr:BatchDeleteImage", "ecr:PutLifecyclePolicy", "ecr:UpdateImageStorageClass")
"""Every action that changes a registry. Each is allowed only on the repositories the config covers
(`write_scopes`) and denied on opted-out repositories; a new write added here is covered by both."""
WRITES_OF_ONE_MODE: Mapping[str, str] = {
    "ecr:BatchDeleteImage": "retain",
    "ecr:PutLifecyclePolicy": "propagate",
    "ecr:UpdateImageStorageClass": "retain",  # archiving: propagate mode leaves it to ECR's own policy
}
"""Writes only one mode makes go only to the repositories of that mode's targets. A write not listed here
goes to every repository a target covers."""

SKIP_CONDITION_OPERATOR = "StringEqualsIgnoreCase"
"""IAM's exact match ignoring case (IAM User Guide, "IAM JSON policy elements: Condition operators"), so
`True` and `TRUE` are denied by IAM as the code skips them (`ecr_janitor.run.repository`)."""

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


# -- where the function may write ---------------------------------------------------------------------
# The janitor's `*` matches any run of characters, `/` included (ecr_janitor.core.patterns), and so does
# IAM's `*` in a resource ARN: "the asterisk (*) character can expand to replace everything within a
# segment, including characters like a forward slash (/)" (IAM User Guide, "IAM JSON policy elements:
# Resource", Using wildcards in resource ARNs). So the pattern `team-a/*` becomes the resource
# `repository/team-a/*` and grants exactly the repositories the target's pattern names.
# A target's `exclude` patterns can't narrow an Allow (an excluded repository is merely "not covered by
# this target", and a later target may cover it); the code enforces them, IAM grants the union of the
# `repositories` patterns. IAM's other wildcard, `?`, can't appear in a repository name, so a pattern
# holding it (or any character ECR refuses in a name) matches no repository and grants nothing.

WILDCARD = "*"
"""The one wildcard of the janitor's patterns and IAM's "any run of characters"."""
_NAME_CHARACTERS = re.compile(r"^[a-z0-9._/*-]+$")
"""What a pattern may hold to match some repository: ECR's name characters (lower case letters, digits,
`.`, `_`, `-`, `/`) and the wildcard."""


def iam_repository_patterns(patterns: Iterable[str]) -> tuple[str, ...]:
    """The repository-name part of the ARNs that grant exactly `patterns`: deduplicated and sorted; a
    pattern of wildcards only collapses everything to `*`; a pattern no repository name can match grants
    nothing."""
    usable = {pattern for pattern in patterns if _NAME_CHARACTERS.fullmatch(pattern)}
    if any(set(pattern) == {WILDCARD} for pattern in usable):
        return (WILDCARD,)
    return tuple(sorted(usable))


@dataclass(frozen=True, slots=True)
class WriteScope:
    """One Allow statement of writes: the actions, and the repository-name patterns they may touch in
    each configured region."""

    sid: str
    actions: tuple[str, ...]
    names: tuple[str, ...]


def write_scopes(targets: Sequence[Target]) -> list[WriteScope]:
    """The write statements the config needs: per mode, its writes on its own targets' repositories; any
    other write on every covered repository. A mode no target uses gets no write at all."""
    modes = sorted({target.mode for target in targets})
    groups: dict[tuple[str, ...], list[str]] = {}
    for action in ECR_WRITE_ACTIONS:
        mode = WRITES_OF_ONE_MODE.get(action)
        key = (mode,) if mode is not None else tuple(modes)
        groups.setdefault(key, []).append(action)
    scopes = []
    for group_modes, actions in groups.items():
        names = iam_repository_patterns(
            pattern for target in targets if target.mode in group_modes for pattern in target.repositories
        )
        if names:
            sid = "".join(mode.capitalize() for mode in group_modes) + "Writes"
            scopes.append(WriteScope(sid, tuple(actions), names))
    return scopes


def repository_arn(scope: Construct, *, region: str, name: str) -> str:
    return Stack.of(scope).format_arn(
        service="ecr",
        resource="repository",
        resource_name=name,
        region=region,
        arn_format=ArnFormat.SLASH_RESOURCE_NAME,
    )


def repository_arns(
    scope: Construct, *, regions: Sequence[str] | None, names: Sequence[str] = (WILDCARD,)
) -> list[str]:
    """The repositories named by `names` (patterns) of this account in `regions`; None means the stack's
    own region."""
    return [
        repository_arn(scope, region=region, name=name)
        for region in (regions or [Aws.REGION])
        for name in names
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
    scope: Construct, *, regions: Sequence[str] | None, targets: Sequence[Target]
) -> list[iam.PolicyStatement]:
    """Read every repository of the stack's account in `regions`, write only where the targets say, and
    never to a repository that opted out (in any region): the janitor's own role, and a member role that
    cleans its account's registry."""
    writes = [
        iam.PolicyStatement(
            sid=write.sid,
            actions=list(write.actions),
            resources=repository_arns(scope, regions=regions, names=write.names),
        )
        for write in write_scopes(targets)
    ]
    return [
        iam.PolicyStatement(
            sid="ReadRepositories",
            actions=list(ECR_READ_ACTIONS),
            resources=repository_arns(scope, regions=regions),
        ),
        *writes,
        iam.PolicyStatement(
            sid="NeverTouchOptedOutRepositories",
            effect=iam.Effect.DENY,
            actions=list(ECR_WRITE_ACTIONS),
            resources=repository_arns(scope, regions=["*"]),
            conditions={SKIP_CONDITION_OPERATOR: {f"aws:ResourceTag/{SKIP_TAG_KEY}": SKIP_TAG_VALUE}},
        ),
    ]


def in_use_statement() -> iam.PolicyStatement:
    """What workloads run: read-only, account-wide listings (the janitor's role and every member role)."""
    return iam.PolicyStatement(sid="FindImagesInUse", actions=list(IN_USE_READ_ACTIONS), resources=["*"])


def janitor_statements(
    scope: Construct,
    *,
    regions: Sequence[str] | None,
    targets: Sequence[Target],
    image_lists: Sequence[str] = (),
    eks: Eks | None = None,
) -> list[iam.PolicyStatement]:
    return [
        *image_list_statements(scope, locations=image_lists),
        *eks_statements(scope, regions=regions, eks=eks),
        *registry_statements(scope, regions=regions, targets=targets),
        in_use_statement(),
    ]


# -- other accounts: the member role the janitor assumes in each (infra/member_role.py creates it) -----

ORGANIZATIONS_READ_ACTIONS = (
    "organizations:ListAccounts",
    "organizations:ListAccountsForParent",
    "organizations:ListOrganizationalUnitsForParent",
)
"""Listing the organization's accounts (`organization` in `accounts` or `protect.consumerAccounts`):
read-only, and on `*`: the organization's own ARNs hold its id, which the stack can't know offline."""


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
