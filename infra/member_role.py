"""The role the janitor assumes in every other account of an organization (hub and spoke).

Read-only everywhere: the workloads that may run the registry's images (ECS, Lambda, Batch, Inspector's
coverage: the same actions as the janitor's own role). Where the account's registry is cleaned too
(`clean`), also the registry's reads and writes: the same write actions as the janitor's own role
(infra/permissions.ECR_WRITE_ACTIONS, one tuple for both), on this account's repositories, with the same
explicit Deny on every repository tagged `ecr-janitor:skip=true`.

It trusts exactly one principal, the janitor's own role, and only with the external id (sts:ExternalId).
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnCondition, Validations
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.permissions import in_use_statement, registry_statements, repository_arns


class MemberRole(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        janitor_role_arn: str,
        external_id: str,
        role_name: str,
        clean: CfnCondition | None = None,
    ) -> None:
        """`clean`: a condition under which the role may also clean this account's registry; None: never."""
        super().__init__(scope, construct_id)
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
        read = iam.Policy(self, "FindImagesInUse", statements=[in_use_statement()], roles=[self.role])
        Validations.of(read).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason="The account-wide listings in-use detection needs (ecs:ListClusters, "
                "lambda:ListFunctions, batch:DescribeJobDefinitions, inspector2:ListCoverage, ...) have no "
                "resource-level permissions; every one of them is read-only.",
            )
        )
        if clean is None:
            return
        repositories = repository_arns(self, regions=["*"])
        cleaning = iam.Policy(
            self,
            "CleanRepositories",
            statements=registry_statements(self, readable=repositories, writable=repositories),
            roles=[self.role],
        )
        resource = cleaning.node.default_child
        assert isinstance(resource, iam.CfnPolicy)
        resource.cfn_options.condition = clean  # the policy exists only where the StackSet says so
        Validations.of(cleaning).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecr:*:<AWS::AccountId>:repository/*]",
                reason="The janitor walks every repository of this account, in whichever regions its "
                "config names (the StackSet can't know them); which repositories it cleans is decided by "
                "its config at run time. Deletions are denied on repositories tagged ecr-janitor:skip=true.",
            )
        )
