"""The role the janitor assumes in every other account of an organization (hub and spoke).

Read-only everywhere: the workloads that may run the registry's images (ECS, Lambda, Batch, Inspector's
coverage, and EKS when the config reads it: the same statements as the janitor's own role). Where the
account's registry is cleaned too (`clean`), also the registry's reads and writes: the statements of the
janitor's own role (infra/permissions.registry_statements: the same write-action tuple, scoped to the
same target patterns), on this account's repositories, with the same explicit Deny on every repository
tagged `ecr-janitor:skip=true`.

It trusts exactly one principal, the janitor's own role, and only with the external id (sts:ExternalId).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Acknowledgment, CfnCondition, Validations
from aws_cdk import aws_iam as iam
from constructs import Construct

from ecr_janitor.config import Eks, Target
from infra.function import nag_cluster_arns, repository_acknowledgments
from infra.permissions import eks_statements, in_use_statement, registry_statements

EVERY_REGION = ("*",)
"""The regions of a member role's ARNs when the config names none: the StackSet's own region says
nothing about where the janitor walks."""


class MemberRole(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        janitor_role_arn: str,
        external_id: str,
        role_name: str,
        regions: Sequence[str] | None,
        targets: Sequence[Target],
        eks: Eks | None = None,
        clean: CfnCondition | None = None,
    ) -> None:
        """`clean`: a condition under which the role may also clean this account's registry; None: never.
        `regions`, `targets`, `eks`: the janitor's config, which scopes the statements as for its own role."""
        super().__init__(scope, construct_id)
        walked = regions or EVERY_REGION
        self.role = iam.Role(
            self,
            "Role",
            role_name=role_name,
            assumed_by=iam.ArnPrincipal(janitor_role_arn).with_conditions(
                {"StringEquals": {"sts:ExternalId": external_id}}
            ),
            description="ECR Janitor: read the workloads that may run a central registry's images "
            "(and, where the stack says so, clean this account's registry)",
        )
        read = iam.Policy(
            self,
            "FindImagesInUse",
            statements=[*eks_statements(self, regions=walked, eks=eks), in_use_statement()],
            roles=[self.role],
        )
        Validations.of(read).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason="The account-wide listings in-use detection needs (ecs:ListClusters, "
                "lambda:ListFunctions, batch:DescribeJobDefinitions, inspector2:ListCoverage, "
                "eks:ListClusters, ...) have no resource-level permissions; every one of them is read-only.",
            ),
            *(
                Acknowledgment(
                    id=f"AwsSolutions-IAM5[Resource::{arn}]",
                    reason="protect.eks is auto: the janitor reads every EKS cluster of the regions it "
                    "walks, which it finds at run time, so DescribeCluster (read-only) can't name them.",
                )
                for arn in nag_cluster_arns(walked, eks)
            ),
        )
        if clean is None:
            return
        cleaning = iam.Policy(
            self,
            "CleanRepositories",
            statements=registry_statements(self, regions=walked, targets=targets),
            roles=[self.role],
        )
        resource = cleaning.node.default_child
        assert isinstance(resource, iam.CfnPolicy)
        resource.cfn_options.condition = clean  # the policy exists only where the StackSet says so
        Validations.of(cleaning).acknowledge(*repository_acknowledgments(walked, targets))
