"""The ACTIVE accounts of an AWS organization, or of some of its OUs (nested OUs included).

Walked in botocore's organizations model (2016-11-28): ListAccounts, or ListAccountsForParent per OU and
ListOrganizationalUnitsForParent for the OUs beneath it, every listing paginated (at most 20 a page).
An account's `State` (PENDING_ACTIVATION, ACTIVE, SUSPENDED, PENDING_CLOSURE, CLOSED) replaces its
`Status` (ACTIVE, SUSPENDED, PENDING_CLOSURE), which AWS retires on 9 September 2026: `State` is read,
`Status` only when `State` is absent. Only ACTIVE accounts are returned.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ecr_janitor.adapters.clients import pages

ACTIVE = "ACTIVE"


def active_accounts(client: Any, parents: Sequence[str] = ()) -> list[str]:
    """Account ids, sorted: every ACTIVE account of the organization, or those under `parents` (OU or
    root ids) at any depth."""
    if not parents:
        accounts: Iterator[Mapping[str, Any]] = pages(client, "list_accounts", "Accounts")
    else:
        accounts = (
            account
            for parent in _beneath(client, parents)
            for account in pages(client, "list_accounts_for_parent", "Accounts", ParentId=parent)
        )
    return sorted({str(account["Id"]) for account in accounts if _state(account) == ACTIVE})


def _state(account: Mapping[str, Any]) -> str | None:
    state = account.get("State") or account.get("Status")
    return None if state is None else str(state)


def _beneath(client: Any, parents: Sequence[str]) -> Iterator[str]:
    """Each parent, then every OU beneath it, once each."""
    seen: set[str] = set()
    waiting = deque(parents)
    while waiting:
        parent = waiting.popleft()
        if parent in seen:
            continue
        seen.add(parent)
        yield parent
        waiting.extend(
            str(unit["Id"])
            for unit in pages(
                client, "list_organizational_units_for_parent", "OrganizationalUnits", ParentId=parent
            )
        )
