"""Stack EcrJanitorMemberRole: the member role (infra/member_role.py) as a template for a CloudFormation
StackSet, deployed to every account of some OUs (service-managed permissions, auto-deployment).

A StackSet can't use CDK assets or the CDK bootstrap's parameters: the stack is synthesized with
BootstraplessSynthesizer (which refuses assets) and without CDK's metadata resource, so the template is
plain CloudFormation with four parameters. Its statements follow the janitor's config (regions, target
patterns, EKS): deploy the StackSet again after changing those.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import BootstraplessSynthesizer, CfnCondition, CfnOutput, CfnParameter, Fn, Stack
from constructs import Construct

from ecr_janitor.config import Config
from ecr_janitor.constants import ACCESS_ROLE_DEFAULT_NAME, EXTERNAL_ID_PATTERN, ROLE_NAME_PATTERN
from infra.member_role import MemberRole

MEMBER_STACK_NAME = "EcrJanitorMemberRole"
JANITOR_ROLE_ARN_PATTERN = r"arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9_+=,.@/-]{1,512}"


class EcrJanitorMemberRoleStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str = MEMBER_STACK_NAME,
        *,
        config: Config,
        **kwargs: Any,
    ) -> None:
        """`config`: the janitor's, which scopes the role's statements as for the janitor's own role and
        gives the RoleName parameter its default (`accessRole.name`)."""
        super().__init__(
            scope,
            construct_id,
            description="ECR Janitor member role: lets the janitor's role read this account's workloads "
            "(and clean its registry where CleanRepositories is true)",
            synthesizer=BootstraplessSynthesizer(),
            analytics_reporting=False,
            **kwargs,
        )
        janitor = CfnParameter(
            self,
            "JanitorRoleArn",
            description="The one principal trusted: the janitor's role, stack EcrJanitor's output RoleArn.",
            allowed_pattern=JANITOR_ROLE_ARN_PATTERN,
        )
        external_id = CfnParameter(
            self,
            "ExternalId",
            description="The config's accessRole.externalId: the role can be assumed only with it.",
            allowed_pattern=EXTERNAL_ID_PATTERN,
            constraint_description="2 to 1224 letters, digits or _+=,.@:/-",
        )
        name = CfnParameter(
            self,
            "RoleName",
            description="The config's accessRole.name.",
            default=config.access_role.name if config.access_role else ACCESS_ROLE_DEFAULT_NAME,
            allowed_pattern=ROLE_NAME_PATTERN,
        )
        clean = CfnParameter(
            self,
            "CleanRepositories",
            description="true: the janitor may also clean this account's registry (it is in the config's "
            "accounts); false: read-only.",
            allowed_values=["true", "false"],
            default="false",
        )
        cleans = CfnCondition(
            self, "CleansRepositories", expression=Fn.condition_equals(clean.value_as_string, "true")
        )
        member = MemberRole(
            self,
            "Member",
            janitor_role_arn=janitor.value_as_string,
            external_id=external_id.value_as_string,
            role_name=name.value_as_string,
            regions=config.regions,
            targets=config.targets,
            eks=config.protect.eks if config.protect.reads_eks else None,
            clean=cleans,
        )
        CfnOutput(self, "RoleArn", value=member.role.role_arn)
