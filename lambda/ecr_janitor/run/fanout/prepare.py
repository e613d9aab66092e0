"""Prepare: read what is in use once for the whole run, and list the covered repositories into slices,
one worker invocation each."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

from ecr_janitor.adapters import clients
from ecr_janitor.config import Config
from ecr_janitor.core.model import RegionFailure, Repository, registry_key
from ecr_janitor.events import JanitorEvent, PrepareStep
from ecr_janitor.observability import logger
from ecr_janitor.run import janitor
from ecr_janitor.run.accounts import resolve_accounts
from ecr_janitor.run.fanout.environment import run_store, slice_size
from ecr_janitor.run.fanout.overlap import refuse_overlap
from ecr_janitor.run.fanout.store import IN_USE, MAX_LISTED, MAX_SLICE_BYTES, RESULTS, RUN, SLICES, SliceEntry


class SliceWriter:
    """Streams slices into a JSON array in a file: only the slice being filled is held in memory. A slice
    holds one registry's repositories (one account's, one region's), at most `size` of them and
    MAX_SLICE_BYTES of JSON."""

    def __init__(self, file: IO[bytes], size: int) -> None:
        self._file = file
        self._size = size
        self._registry: tuple[str | None, str] = (None, "")
        self._current: list[dict[str, str]] = []
        self._bytes = 0
        self.table: list[SliceEntry] = []
        """Every slice written, in order: the Distributed Map's item index."""
        file.write(b"[")

    def add(self, repository: Repository, account: str | None = None) -> None:
        """`account`: the registry's, when the run names it (None: the credentials' own)."""
        entry = {"name": repository.name, "arn": repository.arn}
        cost = len(json.dumps(entry)) + 1
        full = len(self._current) >= self._size or self._bytes + cost > MAX_SLICE_BYTES
        if (account, repository.region) != self._registry or full:
            self.close_slice()
            self._registry = (account, repository.region)
        self._current.append(entry)
        self._bytes += cost

    def close_slice(self) -> None:
        if not self._current:
            return
        if self.table:
            self._file.write(b",")
        account, region = self._registry
        document: dict[str, Any] = {"region": region, "repositories": self._current}
        if account is not None:
            document["account"] = account
        self._file.write(json.dumps(document, separators=(",", ":")).encode())
        self.table.append(SliceEntry(account=account, region=region, repositories=len(self._current)))
        self._current, self._bytes = [], 0

    def finish(self) -> None:
        self.close_slice()
        self._file.write(b"]")


@dataclass
class Listing:
    slices: list[SliceEntry] = field(default_factory=list)
    unmatched: int = 0
    carried_over: int = 0
    region_failures: list[RegionFailure] = field(default_factory=list)

    @property
    def repositories(self) -> int:
        return sum(entry.repositories for entry in self.slices)


def list_slices(
    config: Config,
    regions: Sequence[str],
    registries: janitor.AccountRegistries,
    file: IO[bytes],
    *,
    size: int,
    carried: Mapping[str, set[str]],
    accounts: Sequence[str | None] = (None,),
) -> Listing:
    """Every repository a target covers, registry by registry (account, then region), in listing order.
    Repositories the last run deferred get slices of their own after their registry's, so the slice that
    ran out of time is shorter this time and they start fresh. An account that can't be reached is a
    failure; the others are listed."""
    listing = Listing()
    writer = SliceWriter(file, size)
    for registry in janitor.each_registry(accounts, regions, registries, listing.region_failures):
        account = registry.account
        wanted = carried.get(registry_key(account, registry.region), set())
        first: list[Repository] = []
        found = janitor.RegionListing(registry.region, account=account)
        for covered in janitor.covered(config, registry, found):
            if covered.repository.name in wanted:
                first.append(covered.repository)
            else:
                writer.add(covered.repository, account)
        listing.unmatched += found.unmatched
        if found.failure is not None:
            listing.region_failures.append(found.failure)
        writer.close_slice()
        for repository in first:
            writer.add(repository, account)
        writer.close_slice()
        listing.carried_over += len(first)
    writer.finish()
    listing.slices = writer.table
    return listing


def prepare(event: JanitorEvent, step: PrepareStep, config: Config) -> dict[str, Any]:
    started_at = step.started_at or datetime.now(UTC)
    request = janitor.begin(
        config,
        command="run",
        now=started_at,
        forced_dry_run=event.forces_dry_run,
        forced_by="the execution input asked for a dry run",
        run_id=step.run_id,
    )
    regions, home = request.regions, janitor.home_region(request.regions)
    if step.state_machine_arn and step.execution_arn:
        refuse_overlap(
            clients.client("stepfunctions", home), step.state_machine_arn, step.execution_arn, started_at
        )
    store = run_store(home, step.run_id)
    accounts = resolve_accounts(config, home)
    in_use = janitor.read_in_use(config, regions, request.now, accounts)
    store.put_in_use(in_use)

    with tempfile.TemporaryFile() as file:
        listing = list_slices(
            config,
            regions,
            janitor.registries(config, accounts),
            file,
            size=slice_size(),
            carried=store.carried_over(),
            accounts=accounts.cleaned,
        )
        store.put_file(store.key(SLICES), file)

    region_failures = [asdict(f) for f in [*accounts.region_failures, *listing.region_failures]]
    store.put_json(
        store.key(RUN),
        {
            "runId": step.run_id,
            "startedAt": started_at.isoformat(),
            "dryRun": request.dry_run,
            "dryRunReason": request.dry_run_reason,
            "regions": list(regions),
            "accounts": [account for account in accounts.cleaned if account is not None],
            "slices": [entry.model_dump() for entry in listing.slices],
            "unmatched": listing.unmatched,
            "carriedOver": listing.carried_over,
            "regionFailures": region_failures,
            "inUseSourceFailures": [asdict(f) for f in in_use.failures],
            "inspector": [asdict(use) for use in in_use.inspector],
            "inUseSourceWarnings": [asdict(f) for f in in_use.ignored],
        },
    )
    logger.info(
        "fan-out run prepared",
        extra={
            "event": "fanout_prepared",
            "run_id": step.run_id,
            "dry_run": request.dry_run,
            "slices": len(listing.slices),
            "repositories": listing.repositories,
            "unmatched": listing.unmatched,
            "carried_over": listing.carried_over,
        },
    )
    return {
        "runId": step.run_id,
        "bucket": store.bucket,
        "slicesKey": store.key(SLICES),
        "inUseKey": store.key(IN_USE),
        "resultsPrefix": store.key(RESULTS),
        "slices": len(listing.slices),
        "repositories": listing.repositories,
        "unmatched": listing.unmatched,
        "carriedOver": listing.carried_over,
        "dryRun": request.dry_run,
        "dryRunReason": request.dry_run_reason,
        "startedAt": started_at.isoformat(),
        "regionFailures": region_failures[:MAX_LISTED],
        "inUseSourcesFailed": len(in_use.failures),
    }
