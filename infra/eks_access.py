"""Read access for the janitor's role inside EKS clusters: one EKS access entry per cluster, with the
AmazonEKSViewPolicy at cluster scope (list Pods and workload controllers in every namespace; no Secrets).

CloudFormation can only do this for clusters of the stack's own region, and the cluster's authentication
mode must allow access entries (API or API_AND_CONFIG_MAP). The README shows the two `aws eks` commands
that do the same by hand for any other cluster.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aws
from aws_cdk import aws_eks as eks
from aws_cdk import aws_iam as iam
from constructs import Construct

VIEW_POLICY = "AmazonEKSViewPolicy"


def view_policy_arn() -> str:
    """EKS access policies live in the `aws` account, with no region: arn:<partition>:eks::aws:…"""
    return f"arn:{Aws.PARTITION}:eks::aws:cluster-access-policy/{VIEW_POLICY}"


class EksAccess(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, role: iam.IRole, clusters: Sequence[str]
    ) -> None:
        super().__init__(scope, construct_id)
        self.entries = [
            eks.CfnAccessEntry(
                self,
                f"Entry-{name}",
                cluster_name=name,
                principal_arn=role.role_arn,
                type="STANDARD",
                access_policies=[
                    eks.CfnAccessEntry.AccessPolicyProperty(
                        policy_arn=view_policy_arn(),
                        access_scope=eks.CfnAccessEntry.AccessScopeProperty(type="cluster"),
                    )
                ],
            )
            for name in clusters
        ]
