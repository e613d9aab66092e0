"""What a run did: per repository, and the run's totals. Rendered by outputs.render, logged by
outputs.audit, published by outputs.metrics."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cached_property

from ecr_janitor.core.model import (
    ArchiveResult,
    DeleteFailure,
    DeleteResult,
    InspectorUse,
    RegionFailure,
    Repository,
    SourceFailure,
)
from ecr_janitor.core.propagate import PolicyStatus
from ecr_janitor.core.retain import Decision, RepositoryPlan

NOTHING_ARCHIVED = ArchiveResult((), ())
RESTORES_WINDOW = timedelta(hours=24)
"""A run counts as restored the images ECR restored from the archive in the 24 hours before it (their
`lastActivatedAt`): restores are done by hand, between nightly runs."""


class Status(StrEnum):
    PLANNED = "planned"
    """Dry run: evaluated, nothing written."""
    CLEANED = "cleaned"
    """Everything the plan expired is confirmed deleted, and everything it archived archived."""
    PARTIAL = "partial"
    """Some deletions or archivings were refused or unconfirmed."""
    SKIPPED = "skipped"
    """Opted out with the ecr-janitor:skip tag; never read further, never touched."""
    FAILED = "failed"
    """Could not be evaluated; nothing in it was touched."""
    BLOCKED = "blocked"
    """Evaluated, but deletions were withheld: the region's in-use references are incomplete."""
    APPLIED = "applied"
    """Propagate mode: the policy is in place, or its drift reported (see the policy status)."""


@dataclass(frozen=True)
class PolicyOutcome:
    """Propagate mode's result for one repository."""

    status: PolicyStatus
    written: bool
    on_drift: str
    differences: tuple[str, ...] = ()
    preview: RepositoryPlan | None = None
    """What ECR will expire and archive under the target's policy (core.native: every manifest counted on
    its own, no protections)."""
    at_risk: tuple[Decision, ...] = ()
    """The janitor's decisions for images in `preview` that ECR will expire or archive although the
    janitor would keep them (in use, a protected tag, ..., or following a kept or archived image)."""
    at_risk_unknown: str = ""
    """Why `at_risk` may be incomplete: an in-use source that could not be read."""


@dataclass(frozen=True)
class RepositoryReport:
    repository: Repository
    mode: str
    target_index: int
    target_label: str
    status: Status
    message: str = ""
    plan: RepositoryPlan | None = None
    deletion: DeleteResult | None = None
    policy: PolicyOutcome | None = None
    archiving: ArchiveResult = NOTHING_ARCHIVED
    """What ECR confirmed archived and refused to archive."""

    @property
    def images_scanned(self) -> int:
        if self.plan:
            return len(self.plan.decisions)
        preview = self.policy.preview if self.policy else None
        return len(preview.decisions) if preview else 0

    @property
    def expirable(self) -> tuple[Decision, ...]:
        return self.plan.expired if self.plan else ()

    @property
    def bytes_expirable(self) -> int:
        return self.plan.bytes_expired if self.plan else 0

    @property
    def bytes_archivable(self) -> int:
        return self.plan.bytes_archived if self.plan else 0

    @cached_property  # the report is immutable; the audit line, the totals and the JSON each ask
    def deleted_digests(self) -> frozenset[str]:
        return frozenset(self.deletion.deleted) if self.deletion else frozenset()

    @cached_property
    def bytes_reclaimed(self) -> int:
        return _size_of(self.expirable, self.deleted_digests)

    @property
    def delete_failures(self) -> tuple[DeleteFailure, ...]:
        return self.deletion.failures if self.deletion else ()

    @property
    def protected_count(self) -> int:
        return len(self.plan.protected) if self.plan else 0

    # -- the archive storage class --

    @property
    def archivable(self) -> tuple[Decision, ...]:
        return self.plan.archived if self.plan else ()

    @cached_property
    def archived_digests(self) -> frozenset[str]:
        return frozenset(self.archiving.archived)

    @property
    def bytes_archived(self) -> int:
        return _size_of(self.archivable, self.archived_digests)

    @property
    def archived_images_expirable(self) -> int:
        """Images in the archive class the plan deletes."""
        return sum(1 for d in self.expirable if d.image.archived)

    @property
    def archived_images_expired(self) -> int:
        """Confirmed deletions of images that were in the archive class."""
        deleted = self.deleted_digests
        return sum(1 for d in self.expirable if d.image.digest in deleted and d.image.archived)

    def restored_since(self, since: datetime) -> int:
        """Images ECR restored from the archive (lastActivatedAt) after `since`."""
        decisions = self.plan.decisions if self.plan else ()
        return sum(1 for d in decisions if d.image.last_activated_at and d.image.last_activated_at > since)

    @property
    def failed(self) -> bool:
        return self.status in (Status.FAILED, Status.PARTIAL, Status.BLOCKED)


def _size_of(decisions: Iterable[Decision], digests: frozenset[str]) -> int:
    """Upper bound of the storage of the decided images among `digests` (shared layers count per image)."""
    return sum(d.image.size_bytes for d in decisions if d.image.digest in digests)


def repository_counts(r: RepositoryReport, now: datetime) -> Counter[str]:
    """One repository's share of the run totals (`now`: when the run evaluated it)."""
    policy = r.policy
    preview = policy.preview if policy else None
    counts: Counter[str] = Counter(
        repositories=1,
        repositoriesSkipped=r.status is Status.SKIPPED,
        repositoriesFailed=r.status is Status.FAILED,
        repositoriesBlocked=r.status is Status.BLOCKED,
        imagesScanned=r.images_scanned,
        imagesExpirable=len(r.expirable),
        bytesExpirable=r.bytes_expirable,
        imagesExpired=len(r.deleted_digests),
        bytesReclaimed=r.bytes_reclaimed,
        imagesProtected=r.protected_count,
        deleteFailures=len(r.delete_failures),
        imagesArchivable=len(r.archivable),
        bytesArchivable=r.bytes_archivable,
        imagesArchived=len(r.archived_digests),
        bytesArchived=r.bytes_archived,
        archiveFailures=len(r.archiving.failures),
        archivedImagesExpirable=r.archived_images_expirable,
        archivedImagesExpired=r.archived_images_expired,
        imagesRestored=r.restored_since(now - RESTORES_WINDOW),
    )
    if policy is not None:
        unwritten = (PolicyStatus.UNCHANGED, PolicyStatus.DRIFTED, PolicyStatus.HELD)
        written = "" if policy.status in unwritten else policy.written
        key = {
            (PolicyStatus.CREATED, True): "policiesCreated",
            (PolicyStatus.UPDATED, True): "policiesUpdated",
            (PolicyStatus.CREATED, False): "policiesToCreate",
            (PolicyStatus.UPDATED, False): "policiesToUpdate",
            (PolicyStatus.UNCHANGED, ""): "policiesUnchanged",
            (PolicyStatus.DRIFTED, ""): "policyDrift",
            (PolicyStatus.HELD, ""): "policiesHeld",
        }[(policy.status, written)]
        counts[key] += 1
        counts["previewImagesAtRisk"] += len(policy.at_risk)
    if preview is not None:
        counts["previewImagesExpirable"] += len(preview.expired)
        counts["previewBytesExpirable"] += preview.bytes_expired
        counts["previewImagesArchivable"] += len(preview.archived)
        counts["previewBytesArchivable"] += preview.bytes_archived
    return counts


TOTAL_KEYS = (
    "repositories",
    "repositoriesSkipped",
    "repositoriesFailed",
    "repositoriesBlocked",
    "repositoriesDeferred",
    "inUseSourcesFailed",
    "repositoriesUnmatched",
    "imagesScanned",
    "imagesExpirable",
    "bytesExpirable",
    "imagesExpired",
    "bytesReclaimed",
    "imagesProtected",
    "deleteFailures",
    "policiesCreated",
    "policiesUpdated",
    "policiesToCreate",
    "policiesToUpdate",
    "policiesUnchanged",
    "policyDrift",
    "previewImagesExpirable",
    "previewBytesExpirable",
    "previewImagesAtRisk",
    # onRisk: hold (propagate policies not written because ECR would expire protected images)
    "policiesHeld",
    # -- the archive storage class --
    "imagesArchivable",
    "bytesArchivable",
    "imagesArchived",
    "bytesArchived",
    "archiveFailures",
    "archivedImagesExpirable",
    "archivedImagesExpired",
    "imagesRestored",
    "previewImagesArchivable",
    "previewBytesArchivable",
)


def sum_totals(parts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Several runs' totals (RunReport.totals()) added up key by key: a fan-out run's workers."""
    counts: Counter[str] = Counter()
    for part in parts:
        counts.update({key: int(part.get(key, 0)) for key in TOTAL_KEYS})
    return {key: int(counts[key]) for key in TOTAL_KEYS}


def part_totals(repository_counts: Mapping[str, int], *, failed_outside_repositories: int) -> dict[str, int]:
    """What repositories added up to, with the failures that are no repository's own (a region that could
    not be listed, an account out of reach, a fan-out slice no worker reported on): a whole run's basis,
    or one account's share of it."""
    counts = Counter({key: int(repository_counts.get(key, 0)) for key in TOTAL_KEYS})
    counts["repositoriesFailed"] += failed_outside_repositories
    return {key: int(counts[key]) for key in TOTAL_KEYS}


def run_totals(
    repository_counts: Mapping[str, int],
    *,
    failed_outside_repositories: int,
    in_use_sources_failed: int,
    unmatched: int,
    deferred: int | None = None,
) -> dict[str, int]:
    """A run's totals from what its repositories added up to, and what the run knows beyond them:
    failures that are no repository's own (a region that could not be listed, a fan-out slice no worker
    reported on), the in-use sources that failed (once per run, however many parts the run had), the
    repositories no target covers, and, when known here, the repositories deferred."""
    counts = Counter(part_totals(repository_counts, failed_outside_repositories=failed_outside_repositories))
    counts["inUseSourcesFailed"] = in_use_sources_failed
    counts["repositoriesUnmatched"] = unmatched
    if deferred is not None:
        counts["repositoriesDeferred"] = deferred
    return {key: int(counts[key]) for key in TOTAL_KEYS}


@dataclass(frozen=True)
class FailedRepository:
    region: str
    repository: str
    status: str
    message: str
    account: str | None = None


@dataclass
class RunReport:
    """What a run did. Totals accumulate as repositories finish; per-image details are kept only when
    `details` is set (the CLI), so the Lambda's memory doesn't grow with the registry."""

    command: str
    dry_run: bool
    dry_run_reason: str
    now: datetime
    regions: Sequence[str]
    details: bool = True
    run_id: str = ""
    """What every audit line of the run carries (`run_id`): `restore --run` finds the run's archives by it."""
    repositories: list[RepositoryReport] = field(default_factory=list)
    failed_repositories: list[FailedRepository] = field(default_factory=list)
    region_failures: list[RegionFailure] = field(default_factory=list)
    in_use_failures: list[SourceFailure] = field(default_factory=list)
    inspector: list[InspectorUse] = field(default_factory=list)
    """Per region, whether Amazon Inspector's in-use signal counted, and why not."""
    in_use_ignored: list[SourceFailure] = field(default_factory=list)
    """Unreadable sources the config says not to wait for (EKS ignoreClusters): warnings, not failures."""
    unmatched: int = 0
    deferred: int = 0
    resume: dict[str, str] = field(default_factory=dict)
    """Registry (core.model.registry_key) -> the repository the next run starts with (only for the
    registries this run didn't finish)."""
    duration_seconds: float = 0.0
    accounts: list[str] = field(default_factory=list)
    """The registries cleaned, by account id; empty: the credentials' own account (its id not looked up)."""
    consumer_accounts: list[str] = field(default_factory=list)
    """The accounts whose workloads were read, by id (empty: the credentials' own only)."""
    _counts: Counter[str] = field(default_factory=Counter)
    _by_account: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, outcome: RepositoryReport) -> None:
        counts = repository_counts(outcome, self.now)
        self._counts.update(counts)
        self._by_account.setdefault(outcome.repository.account, Counter()).update(counts)
        if self.details:
            self.repositories.append(outcome)
        if outcome.failed:
            self.failed_repositories.append(
                FailedRepository(
                    outcome.repository.region,
                    outcome.repository.name,
                    outcome.status.value,
                    outcome.message,
                    outcome.repository.account,
                )
            )

    @property
    def has_failures(self) -> bool:
        return bool(self.region_failures or self.in_use_failures or self.failed_repositories)

    def totals(self) -> dict[str, int]:
        return run_totals(
            self._counts,
            failed_outside_repositories=len(self.region_failures),
            in_use_sources_failed=len(self.in_use_failures),
            unmatched=self.unmatched,
            deferred=self.deferred,
        )

    def account_totals(self) -> dict[str, dict[str, int]]:
        """Per cleaned account (when the run names them), its repositories' totals and its own region
        failures: what the per-account metrics publish."""
        return {
            account: part_totals(
                self._by_account.get(account, Counter()),
                failed_outside_repositories=sum(f.account == account for f in self.region_failures),
            )
            for account in self.accounts
        }
