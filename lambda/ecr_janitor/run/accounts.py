"""Which accounts one run reaches: the registries it cleans (`accounts`) and the accounts whose workloads
it reads (`protect.consumerAccounts`), with the clients to reach each.

- Without either key, the run cleans and reads the credentials' own account, and makes no STS or
  Organizations call at all (`None` stands for that account, its id never looked up).
- Otherwise the own account's id comes from STS GetCallerIdentity. Its workloads are always read, with
  its own credentials; so are the workloads of every cleaned account (a registry's own services run its
  images too); then every consumer account.
- `accounts` absent: the own account is the one registry cleaned. `accounts` present: exactly the
  accounts it lists (or the organization's), the own account only if among them.
- `organization` is listed once per run (per OU set). If it can't be: as consumers, a source failure
  (nothing is deleted anywhere); as registries to clean, a failure of the run (none is cleaned).
"""

from __future__ import annotations

from dataclasses import dataclass

from ecr_janitor.adapters import clients
from ecr_janitor.adapters.accounts import AccountAccess
from ecr_janitor.adapters.clients import AWS_ERRORS, error_code, error_message
from ecr_janitor.adapters.organizations import active_accounts
from ecr_janitor.adapters.remembered import Remembered
from ecr_janitor.config import AccountSelection, Config
from ecr_janitor.core.model import ALL_REGIONS, RegionFailure, SourceFailure
from ecr_janitor.outputs import audit

ORGANIZATIONS = "AWS Organizations"


@dataclass(frozen=True)
class Accounts:
    access: AccountAccess
    cleaned: tuple[str | None, ...] = (None,)
    """The registries to clean, in order."""
    read: tuple[str | None, ...] = (None,)
    """The accounts whose workloads are read: the own account first."""
    home: str | None = None
    """The own account's id; None when the config names no other account."""
    source_failures: tuple[SourceFailure, ...] = ()
    """Consumer accounts that could not even be named: nothing may be deleted."""
    region_failures: tuple[RegionFailure, ...] = ()
    """Registries to clean that could not be named."""


def resolve_accounts(config: Config, region: str) -> Accounts:
    """`region`: where STS and Organizations are asked (the run's home region)."""
    access = AccountAccess(config.access_role, region)
    if not config.reaches_other_accounts:
        return Accounts(access)
    try:
        home = access.home
    except AWS_ERRORS as error:
        failure = SourceFailure(ALL_REGIONS, "STS GetCallerIdentity", error_code(error), error_message(error))
        audit.source_failed(failure)
        return Accounts(access, cleaned=(), read=(), source_failures=(failure,))
    listings = _OrganizationListings(region)
    source_failures: list[SourceFailure] = []
    region_failures: list[RegionFailure] = []

    cleaned: tuple[str, ...] = (home,) if home is not None else ()
    if config.accounts is not None:
        try:
            cleaned = listings.accounts(config.accounts)
        except AWS_ERRORS as error:
            cleaned = ()
            region_failures.append(
                RegionFailure(
                    ALL_REGIONS,
                    error_code(error),
                    f"listing the organization's accounts to clean: {error_message(error)}; none was cleaned",
                    account=home,
                )
            )
    consumers: tuple[str, ...] = ()
    if config.protect.consumer_accounts is not None:
        try:
            consumers = listings.accounts(config.protect.consumer_accounts)
        except AWS_ERRORS as error:
            source = f"{ORGANIZATIONS} (consumerAccounts)"
            source_failures.append(
                SourceFailure(ALL_REGIONS, source, error_code(error), error_message(error), account=home)
            )
    for failure in source_failures:
        audit.source_failed(failure)
    for region_failure in region_failures:
        audit.region_failed(region_failure)
    read = tuple(dict.fromkeys([home, *cleaned, *consumers]))
    return Accounts(access, cleaned, read, home, tuple(source_failures), tuple(region_failures))


class _OrganizationListings:
    """Each distinct organization listing of the config, asked once (consumers and registries often
    name the same one)."""

    def __init__(self, region: str) -> None:
        self._region = region
        self._listed: Remembered[tuple[str, ...], tuple[str, ...]] = Remembered()

    def accounts(self, selection: AccountSelection) -> tuple[str, ...]:
        if selection.organization is None:
            return selection.ids
        parents = selection.organization.ous
        return self._listed.get(
            parents, lambda: tuple(active_accounts(clients.client("organizations", self._region), parents))
        )


def may_clean(config: Config, account: str | None, home: str | None) -> bool:
    """Whether the config cleans `account` (a fan-out slice's), as far as it can tell without listing the
    organization: an `organization` config may clean any account its role can reach."""
    selection = config.accounts
    if account is None or account == home:
        return selection is None or selection.organization is not None or account in selection.ids
    return selection is not None and (selection.organization is not None or account in selection.ids)
