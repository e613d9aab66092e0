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
from ecr_janitor.core.model import RegionFailure, Repository
from ecr_janitor.events import JanitorEvent, PrepareStep
from ecr_janitor.observability import logger
from ecr_janitor.run import janitor
from ecr_janitor.run.fanout.environment import run_store, slice_size
from ecr_janitor.run.fanout.overlap import refuse_overlap
from ecr_janitor.run.fanout.store import IN_USE, MAX_LISTED, MAX_SLICE_BYTES, RESULTS, RUN, SLICES


class SliceWriter:
    """Streams slices into a JSON array in a file: only the slice being filled is held in memory. A slice
    holds one region's repositories, at most `size` of them and MAX_SLICE_BYTES of JSON."""

    def __init__(self, file: IO[bytes], size: int) -> None:
        self._file = file
        self._size = size
        self._region = ""
        self._current: list[dict[str, str]] = []
        self._bytes = 0
        self.table: list[tuple[str, int]] = []
        """(region, repositories) of every slice written, in order: the Distributed Map's item index."""
        file.write(b"[")

    def add(self, repository: Repository) -> None:
        entry = {"name": repository.name, "arn": repository.arn}
        cost = len(json.dumps(entry)) + 1
        full = len(self._current) >= self._size or self._bytes + cost > MAX_SLICE_BYTES
        if repository.region != self._region or full:
            self.close_slice()
            self._region = repository.region
        self._current.append(entry)
        self._bytes += cost

    def close_slice(self) -> None:
        if not self._current:
            return
        if self.table:
            self._file.write(b",")
        document = {"region": self._region, "repositories": self._current}
        self._file.write(json.dumps(document, separators=(",", ":")).encode())
        self.table.append((self._region, len(self._current)))
        self._current, self._bytes = [], 0

    def finish(self) -> None:
        self.close_slice()
        self._file.write(b"]")


@dataclass
class Listing:
    slices: list[tuple[str, int]] = field(default_factory=list)
    unmatched: int = 0
    carried_over: int = 0
    region_failures: list[RegionFailure] = field(default_factory=list)

    @property
    def repositories(self) -> int:
        return sum(count for _, count in self.slices)


def list_slices(
    config: Config,
    regions: Sequence[str],
    registry_for: janitor.RegistryFactory,
    file: IO[bytes],
    *,
    size: int,
    carried: Mapping[str, set[str]],
) -> Listing:
    """Every repository a target covers, region by region, in listing order. Repositories the last run
    deferred get slices of their own after their region's, so the slice that ran out of time is shorter
    this time and they start fresh."""
    listing = Listing()
    writer = SliceWriter(file, size)
    for region in regions:
        wanted = carried.get(region, set())
        first: list[Repository] = []
        found = janitor.RegionListing(region)
        for covered in janitor.covered(config, registry_for(region), found):
            if covered.repository.name in wanted:
                first.append(covered.repository)
            else:
                writer.add(covered.repository)
        listing.unmatched += found.unmatched
        if found.failure is not None:
            listing.region_failures.append(found.failure)
        writer.close_slice()
        for repository in first:
            writer.add(repository)
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
    )
    regions, home = request.regions, janitor.home_region(request.regions)
    if step.state_machine_arn and step.execution_arn:
        refuse_overlap(
            clients.client("stepfunctions", home), step.state_machine_arn, step.execution_arn, started_at
        )
    store = run_store(home, step.run_id)
    in_use = janitor.read_in_use(config, regions, request.now)
    store.put_in_use(in_use)

    with tempfile.TemporaryFile() as file:
        listing = list_slices(
            config,
            regions,
            lambda region: janitor.registry_for(config, region),
            file,
            size=slice_size(),
            carried=store.carried_over(),
        )
        store.put_file(store.key(SLICES), file)

    region_failures = [asdict(f) for f in listing.region_failures]
    store.put_json(
        store.key(RUN),
        {
            "runId": step.run_id,
            "startedAt": started_at.isoformat(),
            "dryRun": request.dry_run,
            "dryRunReason": request.dry_run_reason,
            "regions": list(regions),
            "slices": [{"region": region, "repositories": count} for region, count in listing.slices],
            "unmatched": listing.unmatched,
            "carriedOver": listing.carried_over,
            "regionFailures": region_failures,
            "inUseSourceFailures": [asdict(f) for f in in_use.failures],
            "inspector": [asdict(use) for use in in_use.inspector],
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
