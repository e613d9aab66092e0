"""The local AWS is as strict as AWS across accounts: each account sees only its own registry and
workloads, STS refuses the AssumeRole calls AWS refuses (moto grants any), and Organizations pages and
fields are what the botocore model and AWS say. If these fail, every cross-account test is suspect."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from devtools.accounts import LocalAccounts
from devtools.local_ecr import ACCOUNT_ID, Fault, LocalEcr
from devtools.seed import Seeder
from devtools.workloads import Workloads, client_in

B = "111122223333"
EXTERNAL_ID = "ecr-janitor-local"
ROLE = f"arn:aws:iam::{B}:role/ecr-janitor-reader"


@pytest.fixture
def accounts(local_ecr: LocalEcr) -> LocalAccounts:
    return LocalAccounts()


def session(credentials: dict[str, str], service: str) -> Any:
    return boto3.client(
        service,
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=credentials["AWS_SESSION_TOKEN"],
    )


def assume(caller: Any, external_id: str = EXTERNAL_ID) -> dict[str, str]:
    given = caller.assume_role(RoleArn=ROLE, RoleSessionName="ecr-janitor", ExternalId=external_id)[
        "Credentials"
    ]
    return {
        "AWS_ACCESS_KEY_ID": given["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": given["SecretAccessKey"],
        "AWS_SESSION_TOKEN": given["SessionToken"],
    }


def test_a_role_session_sees_its_own_accounts_registry_and_workloads_only(
    local_ecr: LocalEcr, accounts: LocalAccounts
) -> None:
    Seeder(local_ecr).repository("home/app")
    Seeder(local_ecr, account=B).repository("member/app")
    Workloads(account=B).task_definition("web", "member/app:v1")
    janitor = session(accounts.session_of(accounts.janitor_role()), "sts")
    accounts.member_role(B, trusts=janitor_arn(janitor), external_id=EXTERNAL_ID)

    in_b = assume(janitor)

    assert [r["repositoryName"] for r in session(in_b, "ecr").describe_repositories()["repositories"]] == [
        "member/app"
    ]
    assert [r["repositoryName"] for r in boto3.client("ecr").describe_repositories()["repositories"]] == [
        "home/app"
    ]
    with pytest.raises(ClientError, match="RepositoryNotFoundException"):
        session(in_b, "ecr").describe_images(repositoryName="home/app")
    assert session(in_b, "ecs").list_task_definitions()["taskDefinitionArns"] == [
        f"arn:aws:ecs:us-east-1:{B}:task-definition/web:1"
    ]
    assert boto3.client("ecs").list_task_definitions()["taskDefinitionArns"] == []
    # Every call is counted for the account its credentials belong to.
    assert local_ecr.strict.count("DescribeRepositories", account=B) == 1
    assert local_ecr.strict.count("DescribeRepositories", account=ACCOUNT_ID) == 1
    assert local_ecr.strict.count("DescribeImages", account=B) == 1


def janitor_arn(sts: Any) -> str:
    """The role ARN behind an assumed-role session ARN."""
    session_arn = str(sts.get_caller_identity()["Arn"])  # arn:aws:sts::A:assumed-role/NAME/SESSION
    account, name = session_arn.split(":")[4], session_arn.split("/")[1]
    return f"arn:aws:iam::{account}:role/{name}"


@pytest.mark.parametrize(
    "refusal", ["no role in the account", "wrong external id", "another principal", "no external id"]
)
def test_assume_role_is_refused_as_aws_refuses_it(accounts: LocalAccounts, refusal: str) -> None:
    janitor = session(accounts.session_of(accounts.janitor_role()), "sts")
    trusted = janitor_arn(janitor)
    if refusal == "another principal":
        trusted = f"arn:aws:iam::{ACCOUNT_ID}:role/someone-else"
    if refusal != "no role in the account":
        accounts.member_role(B, trusts=trusted, external_id=EXTERNAL_ID)

    def attempt() -> None:
        if refusal == "no external id":
            janitor.assume_role(RoleArn=ROLE, RoleSessionName="ecr-janitor")
        else:
            assume(janitor, "not-the-id" if refusal == "wrong external id" else EXTERNAL_ID)

    with pytest.raises(ClientError) as caught:
        attempt()

    assert caught.value.response["Error"]["Code"] == "AccessDenied"
    assert "is not authorized to perform: sts:AssumeRole" in caught.value.response["Error"]["Message"]


def test_assume_role_is_granted_to_the_trusted_role_with_the_external_id(accounts: LocalAccounts) -> None:
    """The control of the refusals above."""
    janitor = session(accounts.session_of(accounts.janitor_role()), "sts")
    accounts.member_role(B, trusts=janitor_arn(janitor), external_id=EXTERNAL_ID)
    in_b = assume(janitor)
    assert session(in_b, "sts").get_caller_identity()["Account"] == B


def test_sts_faults_are_injected_per_operation_and_account(
    local_ecr: LocalEcr, accounts: LocalAccounts
) -> None:
    local_ecr.strict.faults.append(
        Fault("GetCallerIdentity", "Throttling", service="sts", account=ACCOUNT_ID)
    )
    with pytest.raises(ClientError, match="Throttling"):
        boto3.client("sts", config=_no_retries()).get_caller_identity()
    assert boto3.client("sts").get_caller_identity()["Account"] == ACCOUNT_ID


def _no_retries() -> Any:
    from botocore.config import Config

    return Config(retries={"total_max_attempts": 1, "mode": "standard"})


def test_organizations_pages_at_most_20_and_serves_state_not_the_retired_status(
    accounts: LocalAccounts,
) -> None:
    accounts.organization()
    unit = accounts.unit("workloads")
    made = {accounts.new_account(f"a{n}", unit=unit) for n in range(12)}
    accounts.close(sorted(made)[0])
    org = client_in(ACCOUNT_ID, "organizations")

    first = org.list_accounts()
    assert len(first["Accounts"]) == 10  # a default page (AWS doesn't document its size; at most 20)
    rest = org.list_accounts(NextToken=first["NextToken"])
    assert "NextToken" not in rest
    listed = first["Accounts"] + rest["Accounts"]
    assert {a["Id"] for a in listed} == made | {ACCOUNT_ID}
    assert all("Status" not in a for a in listed)  # retired on 9 September 2026; State replaces it
    assert {a["Id"] for a in listed if a["State"] != "ACTIVE"} == {sorted(made)[0]}
    with pytest.raises(ClientError, match="MaxResults must be between 1 and 20"):
        org.list_accounts(MaxResults=21)
    under = org.list_accounts_for_parent(ParentId=unit, MaxResults=5)
    assert len(under["Accounts"]) == 5
    assert "NextToken" in under


def test_an_account_created_through_the_header_is_its_own(local_ecr: LocalEcr) -> None:
    """The setup path tests use for other accounts: the header, not the credentials, picks the account."""
    client_in(B, "ecr").create_repository(repositoryName="made-in-b")
    assert Seeder(local_ecr, account=B).backend.repositories.keys() == {"made-in-b"}
    assert Seeder(local_ecr).backend.repositories == {}
    assert local_ecr.strict.count("CreateRepository", account=B) == 1
    seeded = Seeder(local_ecr, account=B).image("made-in-b", pushed_at=datetime(2026, 1, 1, tzinfo=UTC))
    (detail,) = client_in(B, "ecr").describe_images(repositoryName="made-in-b")["imageDetails"]
    assert (detail["imageDigest"], detail["registryId"]) == (seeded, B)
