"""Clients in any account a run reaches: the janitor's own credentials in its own account, a role session
in every other one.

One STS AssumeRole per account and run (`arn:<partition>:iam::<account>:role/<accessRole.name>`, the
config's external id, session name `ecr-janitor`). The session is kept for the run and refreshes itself
before it expires; an account whose role can't be assumed is asked once, and every later request for it
gets the same error. Nothing here is called when the config names no other account.
"""

from __future__ import annotations

import threading
from typing import Any

from botocore.credentials import Credentials, RefreshableCredentials

from ecr_janitor.adapters import clients
from ecr_janitor.adapters.clients import ClientFactory
from ecr_janitor.adapters.remembered import Remembered
from ecr_janitor.config import AccessRole
from ecr_janitor.constants import ROLE_SESSION_NAME


class AccountAccess:
    def __init__(self, role: AccessRole | None, region: str) -> None:
        self._role = role
        self._region = region
        """Where STS is asked (its regional endpoint): the run's home region."""
        self._identity: tuple[str, str] | None = None
        self._sessions: Remembered[str, Credentials] = Remembered()
        self._sts_client: Any = None
        """One STS client for the run's identity and every AssumeRole."""
        self._lock = threading.RLock()

    @property
    def role_name(self) -> str | None:
        return self._role.name if self._role else None

    @property
    def home(self) -> str | None:
        """The account of the janitor's own credentials (STS GetCallerIdentity, asked once); None when the
        config names no other account, so that a single-account run makes no STS call."""
        return self._caller()[0] if self._role is not None else None

    def role_arn(self, account: str) -> str:
        partition = self._caller()[1] if self._role is not None else "aws"
        return f"arn:{partition}:iam::{account}:role/{self.role_name}"

    def client_for(self, account: str | None) -> ClientFactory:
        """Clients in `account` (None: the janitor's own). Raises the AWS error when the account's role
        can't be assumed, here, before any of its sources is read."""
        if self._role is None or account is None or account == self.home:
            return clients.client
        credentials = self._credentials(account)

        def in_account(service: str, region: str, *, configured_endpoint: bool = True) -> Any:
            return clients.client(
                service, region, configured_endpoint=configured_endpoint, credentials=credentials
            )

        return in_account

    def _caller(self) -> tuple[str, str]:
        with self._lock:
            if self._identity is None:
                self._identity = caller_identity(self._region, sts=self._sts())
            return self._identity

    def _sts(self) -> Any:
        with self._lock:
            if self._sts_client is None:
                self._sts_client = clients.client("sts", self._region)
            return self._sts_client

    def _credentials(self, account: str) -> Credentials:
        arn = self.role_arn(account)
        return self._sessions.get(account, lambda: self._assume(arn))

    def _assume(self, arn: str) -> Credentials:
        assert self._role is not None
        sts = self._sts()
        external_id = self._role.external_id

        def fetch() -> dict[str, str]:
            answer = sts.assume_role(RoleArn=arn, RoleSessionName=ROLE_SESSION_NAME, ExternalId=external_id)
            given = answer["Credentials"]
            return {
                "access_key": given["AccessKeyId"],
                "secret_key": given["SecretAccessKey"],
                "token": given["SessionToken"],
                "expiry_time": given["Expiration"].isoformat(),
            }

        return RefreshableCredentials.create_from_metadata(fetch(), fetch, "sts-assume-role")


def caller_identity(region: str, *, sts: Any = None) -> tuple[str, str]:
    """(account, partition) of the credentials: one STS GetCallerIdentity."""
    arn = str((sts or clients.client("sts", region)).get_caller_identity()["Arn"])
    return arn.split(":")[4], arn.split(":")[1]
