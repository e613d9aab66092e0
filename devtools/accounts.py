"""Other accounts in the local AWS, set up through the real APIs: the janitor's own role and a session of
it, member roles that trust it (the trust policy stack EcrJanitorMemberRole writes), and an organization.

Roles in another account are created with moto's `x-moto-account-id` header (devtools.workloads
.client_in); the janitor itself reaches them only through STS AssumeRole, which the strict local ECR
checks as AWS does.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
from moto.backends import get_backend
from moto.iam.models import get_account_id_from

from devtools.local_ecr import ACCOUNT_ID
from devtools.workloads import client_in
from ecr_janitor.constants import ACCESS_ROLE_DEFAULT_NAME

JANITOR_ROLE = "EcrJanitor-JanitorRole"


def member_trust_policy(janitor_role_arn: str, external_id: str) -> dict[str, Any]:
    """Only the janitor's role, and only with the external id (infra/member_role.py writes the same)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": janitor_role_arn},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": external_id}},
            }
        ],
    }


class LocalAccounts:
    def __init__(self, home: str = ACCOUNT_ID) -> None:
        self.home = home
        self.janitor: str | None = None
        """The janitor's role ARN, once janitor_role() made it: what member roles trust by default."""
        self._root: str | None = None

    # -- roles ----------------------------------------------------------------------------------------

    def janitor_role(self, name: str = JANITOR_ROLE) -> str:
        """The function's role in the home account (trusting the account, as a stand-in for Lambda)."""
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{self.home}:root"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        role = client_in(self.home, "iam").create_role(
            RoleName=name, AssumeRolePolicyDocument=json.dumps(trust)
        )
        self.janitor = str(role["Role"]["Arn"])
        return self.janitor

    def session_of(self, role_arn: str) -> dict[str, str]:
        """Environment variables holding a session of `role_arn`: what the function runs with."""
        given = boto3.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="function")["Credentials"]
        return {
            "AWS_ACCESS_KEY_ID": given["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": given["SecretAccessKey"],
            "AWS_SESSION_TOKEN": given["SessionToken"],
        }

    def member_role(
        self,
        account: str,
        *,
        external_id: str,
        trusts: str | None = None,
        name: str = ACCESS_ROLE_DEFAULT_NAME,
    ) -> str:
        """The role stack EcrJanitorMemberRole creates in `account`, trusting `trusts` (default: the
        janitor's role)."""
        trusted = trusts or self.janitor
        if trusted is None:
            raise RuntimeError("no janitor role yet: call janitor_role() first, or say whom to trust")
        document = member_trust_policy(trusted, external_id)
        role = client_in(account, "iam").create_role(
            RoleName=name, AssumeRolePolicyDocument=json.dumps(document)
        )
        return str(role["Role"]["Arn"])

    # -- an organization, managed from the home account -------------------------------------------------

    @property
    def organizations(self) -> Any:
        return client_in(self.home, "organizations")

    def organization(self) -> str:
        """Create the organization (the home account is its management account); returns the root id."""
        self.organizations.create_organization(FeatureSet="ALL")
        self._root = str(self.organizations.list_roots()["Roots"][0]["Id"])
        return self._root

    @property
    def root(self) -> str:
        if self._root is None:
            raise RuntimeError("no organization yet: call organization() first")
        return self._root

    def unit(self, name: str, parent: str | None = None) -> str:
        unit = self.organizations.create_organizational_unit(ParentId=parent or self.root, Name=name)
        return str(unit["OrganizationalUnit"]["Id"])

    def new_account(self, name: str, *, unit: str | None = None) -> str:
        """A new member account (moto picks its id), moved under `unit` when given."""
        status = self.organizations.create_account(AccountName=name, Email=f"{name}@example.com")
        account = str(status["CreateAccountStatus"]["AccountId"])
        if unit is not None:
            self.organizations.move_account(
                AccountId=account, SourceParentId=self.root, DestinationParentId=unit
            )
        return account

    def close(self, account: str) -> None:
        self.organizations.close_account(AccountId=account)


def session_secret(access_key: str) -> str | None:
    """The secret of an access key the local IAM issued (a role session's): what a token it signed for an
    EKS cluster in that account must be signed with (devtools.kube_api.KubeApiFake.secret_for)."""
    account = str(get_account_id_from(access_key))
    issued = get_backend("iam")[account]["aws"].access_keys.get(access_key)
    return None if issued is None else str(issued.secret_access_key)


def account_of_key(access_key: str) -> str:
    return str(get_account_id_from(access_key))
