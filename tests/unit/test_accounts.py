"""Reaching other accounts, call by call with botocore's Stubber against the real API shapes: the ACTIVE
accounts of an organization or of its OUs (State, and the retired Status), one AssumeRole per account
and run, and what a host-less reference read in another account means."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from ecr_janitor.adapters import clients
from ecr_janitor.adapters.accounts import AccountAccess
from ecr_janitor.adapters.organizations import active_accounts
from ecr_janitor.config import AccessRole, parse_config
from ecr_janitor.core.model import Repository
from ecr_janitor.core.references import ImageReference, parse_image_uri, pinned_images
from ecr_janitor.run.accounts import may_clean
from tests.factories import config_document, image

A, B, C = "123456789012", "111122223333", "444455556666"
OU, NESTED = "ou-ab12-cdef3456", "ou-ab12-nested99"


def account(number: str, **state: str) -> dict[str, Any]:
    return {"Id": number, "Arn": f"arn:aws:organizations::{A}:account/o-x/{number}", "Name": number, **state}


@pytest.fixture
def organizations() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("organizations", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def test_every_active_account_of_the_organization_page_by_page(organizations: tuple[Any, Stubber]) -> None:
    client, stub = organizations
    stub.add_response(
        "list_accounts",
        {"Accounts": [account(A, State="ACTIVE"), account(B, State="SUSPENDED")], "NextToken": "t"},
    )
    stub.add_response(
        "list_accounts",
        {"Accounts": [account(C, State="ACTIVE"), account("555566667777", State="PENDING_CLOSURE")]},
        {"NextToken": "t"},
    )
    assert active_accounts(client) == [A, C]


@pytest.mark.parametrize(
    ("state", "active"),
    [
        ({"State": "ACTIVE"}, True),
        ({"State": "PENDING_ACTIVATION"}, False),
        ({"State": "CLOSED", "Status": "ACTIVE"}, False),  # State wins over the retired Status
        ({"Status": "ACTIVE"}, True),  # before State existed
        ({"Status": "SUSPENDED"}, False),
        ({}, False),
    ],
)
def test_state_is_read_and_status_only_without_it(
    organizations: tuple[Any, Stubber], state: dict[str, str], active: bool
) -> None:
    client, stub = organizations
    stub.add_response("list_accounts", {"Accounts": [account(B, **state)]})
    assert active_accounts(client) == ([B] if active else [])


def test_ous_are_walked_to_the_bottom_each_once(organizations: tuple[Any, Stubber]) -> None:
    client, stub = organizations
    # OU: one account, one nested OU (twice listed as a parent: walked once).
    stub.add_response(
        "list_accounts_for_parent", {"Accounts": [account(B, State="ACTIVE")]}, {"ParentId": OU}
    )
    stub.add_response(
        "list_organizational_units_for_parent",
        {"OrganizationalUnits": [{"Id": NESTED, "Name": "team"}], "NextToken": "n"},
        {"ParentId": OU},
    )
    stub.add_response(
        "list_organizational_units_for_parent",
        {"OrganizationalUnits": []},
        {"ParentId": OU, "NextToken": "n"},
    )
    stub.add_response(
        "list_accounts_for_parent",
        {"Accounts": [account(C, State="ACTIVE"), account(B, State="ACTIVE")]},
        {"ParentId": NESTED},
    )
    stub.add_response(
        "list_organizational_units_for_parent", {"OrganizationalUnits": []}, {"ParentId": NESTED}
    )
    assert active_accounts(client, [OU, NESTED]) == [B, C]


# -- one role session per account -------------------------------------------------------------------


class FakeSts:
    """Counts AssumeRole calls; refuses the accounts in `refused`."""

    def __init__(self, refused: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.assumed: list[dict[str, Any]] = []
        self.identities = 0
        self.refused = refused

    def get_caller_identity(self) -> dict[str, str]:
        self.identities += 1
        return {"Account": A, "Arn": f"arn:aws-cn:sts::{A}:assumed-role/EcrJanitor-Role/fn"}

    def assume_role(self, **request: Any) -> dict[str, Any]:
        self.assumed.append(request)
        if request["RoleArn"].split(":")[4] in self.refused:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "AssumeRole")
        expires = datetime.now(UTC) + timedelta(hours=1)
        return {
            "Credentials": {
                "AccessKeyId": "ASIA",
                "SecretAccessKey": "s",
                "SessionToken": "t",
                "Expiration": expires,
            }
        }


@pytest.fixture
def sts(monkeypatch: pytest.MonkeyPatch) -> FakeSts:
    fake = FakeSts(refused={C})
    real = clients.client

    def client(
        service: str, region: str, *, configured_endpoint: bool = True, credentials: Any = None
    ) -> Any:
        if service == "sts":
            return fake
        return real(service, region, configured_endpoint=configured_endpoint, credentials=credentials)

    monkeypatch.setattr(clients, "client", client)
    return fake


def test_each_account_is_assumed_once_with_the_external_id_in_the_callers_partition(sts: FakeSts) -> None:
    access = AccountAccess(AccessRole(name="reader", external_id="ext-1"), "cn-north-1")
    for _ in range(3):
        access.client_for(B)("ecs", "cn-north-1")
    assert sts.assumed == [
        {
            "RoleArn": f"arn:aws-cn:iam::{B}:role/reader",
            "RoleSessionName": "ecr-janitor",
            "ExternalId": "ext-1",
        }
    ]
    assert sts.identities == 1


def test_a_refused_account_is_asked_once_and_refused_every_time(sts: FakeSts) -> None:
    access = AccountAccess(AccessRole(external_id="ext-1"), "us-east-1")
    for _ in range(2):
        with pytest.raises(ClientError, match="AccessDenied"):
            access.client_for(C)
    assert len(sts.assumed) == 1


def test_the_own_account_uses_the_own_credentials(sts: FakeSts) -> None:
    access = AccountAccess(AccessRole(external_id="ext-1"), "us-east-1")
    assert access.client_for(A) is clients.client
    assert access.client_for(None) is clients.client
    assert sts.assumed == []


def test_without_other_accounts_nothing_is_asked(sts: FakeSts) -> None:
    access = AccountAccess(None, "us-east-1")
    assert access.home is None
    assert access.client_for(None) is clients.client
    assert (sts.assumed, sts.identities) == ([], 0)


def test_a_slice_is_cleaned_only_in_an_account_the_config_cleans() -> None:
    role = {"accessRole": {"externalId": "ext-1"}}
    alone = parse_config(config_document())
    listed = parse_config({**config_document(), **role, "accounts": [B]})
    organization = parse_config({**config_document(), **role, "accounts": "organization"})
    consumers_only = parse_config({**config_document(), **role, "protect": {"consumerAccounts": [B]}})
    assert may_clean(alone, None, None)
    assert not may_clean(alone, B, None)
    assert may_clean(listed, B, A)
    assert not may_clean(listed, C, A)
    assert not may_clean(listed, A, A)  # an explicit list that leaves the own account out
    assert may_clean(organization, C, A)
    assert may_clean(consumers_only, A, A)
    assert not may_clean(consumers_only, B, A)


# -- what a reference read in another account means ---------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "read_in", "pins"),
    [
        ("app:v1", None, True),  # the janitor's own workloads, id not looked up: this registry
        ("app:v1", A, True),
        ("app:v1", B, False),  # B's own registry, not A's
        (f"{A}.dkr.ecr.us-east-1.amazonaws.com/app:v1", B, True),
        (f"{A}.dkr.ecr.eu-west-1.amazonaws.com/app:v1", B, False),  # A's registry, another region
        (f"{B}.dkr.ecr.us-east-1.amazonaws.com/app:v1", A, False),
    ],
)
def test_a_reference_pins_an_image_only_in_the_registry_it_names(
    uri: str, read_in: str | None, pins: bool
) -> None:
    reference = parse_image_uri(uri, "ECS task definition web:1")
    assert isinstance(reference, ImageReference)
    owned = reference.owned_by(read_in)
    repository = Repository("app", f"arn:aws:ecr:us-east-1:{A}:repository/app", "us-east-1")
    v1 = image("v1", "v1")
    assert bool(pinned_images(repository, [v1], [owned])) is pins
