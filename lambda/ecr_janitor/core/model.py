"""Plain values: what the adapters produce, the pure engine consumes and the outputs report."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

INDEX_MEDIA_TYPES = frozenset(
    {
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.index.v1+json",
    }
)
# cosign stores signatures, attestations and SBOMs as tags derived from the subject's digest.
_COSIGN_TAG = re.compile(r"^sha256-([0-9a-f]{64})\.(sig|att|sbom)$")


class ImageStatus(StrEnum):
    """ECR's `imageStatus`: in the standard storage class, in the archive class, or being restored."""

    ACTIVE = "ACTIVE"
    ARCHIVED = "ARCHIVED"
    ACTIVATING = "ACTIVATING"


@dataclass(frozen=True, slots=True)
class Image:
    """One manifest in a repository, as DescribeImages (and, for indexes, BatchGetImage) report it."""

    digest: str
    tags: tuple[str, ...]
    pushed_at: datetime
    size_bytes: int = 0
    last_pulled_at: datetime | None = None
    manifest_media_type: str | None = None
    subject_digest: str | None = None
    """The OCI `subject` of a referrer (signature, SBOM, attestation), as ECR reports it."""
    children: tuple[str, ...] = ()
    """For an image index: the digests of the manifests it lists."""
    status: ImageStatus = ImageStatus.ACTIVE
    """ARCHIVED and ACTIVATING images can't be pulled, and DescribeImages shows them only when asked."""
    last_archived_at: datetime | None = None
    """When ECR last moved the image to the archive class (the sinceImageTransitioned clock)."""
    last_activated_at: datetime | None = None
    """When ECR last restored the image from the archive class."""
    children_unknown: bool = False
    """An index ECR would not serve the manifest of because it is archived: its children are unknown."""

    @property
    def tagged(self) -> bool:
        return bool(self.tags)

    @property
    def last_used_at(self) -> datetime:
        """When the image was last pulled, or pushed if it never was (the sinceImagePulled clock)."""
        return self.last_pulled_at or self.pushed_at

    @property
    def archived(self) -> bool:
        return self.status is ImageStatus.ARCHIVED

    @property
    def is_index(self) -> bool:
        return self.manifest_media_type in INDEX_MEDIA_TYPES

    @property
    def subject(self) -> str | None:
        """The image this one signs or describes: an OCI subject, or a cosign `sha256-….sig` tag."""
        if self.subject_digest:
            return self.subject_digest
        for tag in self.tags:
            match = _COSIGN_TAG.match(tag)
            if match:
                return f"sha256:{match.group(1)}"
        return None


@dataclass(frozen=True, slots=True)
class Repository:
    name: str
    arn: str
    region: str

    @property
    def account(self) -> str:
        return self.arn.split(":")[4]


@dataclass(frozen=True, slots=True)
class DeleteFailure:
    """An image ECR refused (or did not confirm) deleting or archiving, with ECR's failure code."""

    digest: str
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class DeleteResult:
    deleted: tuple[str, ...]
    """Digests ECR confirmed deleted."""
    failures: tuple[DeleteFailure, ...]


@dataclass(frozen=True, slots=True)
class ArchiveResult:
    archived: tuple[str, ...]
    """Digests ECR confirmed ARCHIVED."""
    failures: tuple[DeleteFailure, ...]


ALL_REGIONS = "*"


def registry_key(account: str | None, region: str) -> str:
    """Where a registry's per-run state is filed (resume points, deferred repositories): the region for
    the credentials' own account (the key every single-account run has always used), else
    `<account>/<region>`."""
    return region if account is None else f"{account}/{region}"


def _in_account(account: str | None) -> str:
    return "" if account is None else f" of account {account}"


@dataclass(frozen=True, slots=True)
class SourceFailure:
    """An in-use source (ECS, Lambda, Batch, an image list) that could not be read."""

    region: str
    """The region whose workloads are unknown, or `*` for an extra list (it may name any region)."""
    source: str
    code: str
    message: str
    account: str | None = None
    """The account whose workloads are unknown; None: the janitor's own (its id not looked up)."""

    def describe(self) -> str:
        where = "" if self.region == ALL_REGIONS else f" in {self.region}"
        return (
            f"{self.source}{_in_account(self.account)}{where} could not be read ({self.code}: {self.message})"
        )


@dataclass(frozen=True, slots=True)
class RegionFailure:
    """A region whose repositories could not be listed (`*`: an account that could not be reached)."""

    region: str
    code: str
    message: str
    account: str | None = None
    """The registry's account; None: the janitor's own (its id not looked up)."""


@dataclass(frozen=True, slots=True)
class InspectorUse:
    """How one region's Inspector signal was used in this run, for the report either way."""

    region: str
    used: bool
    status: str
    """Inspector's ECR scanning status for the account (ENABLED, DISABLED, …), or OFF (not asked)."""
    covered: int = 0
    """ECR images Inspector's coverage listed."""
    pinned: int = 0
    """Of those, the images in use now or within recentlyInUseDays: kept."""
    account: str | None = None
    """The account whose Inspector was asked; None: the janitor's own (its id not looked up)."""

    def describe(self) -> str:
        where = f"Inspector{_in_account(self.account)} in {self.region}"
        if self.status == "OFF":
            return f"{where}: not used (off in protect: inspector off, or inUse false)"
        if not self.used:
            return f"{where}: not used (ECR scanning is {self.status} for the account)"
        return f"{where}: used, {self.covered} images covered, {self.pinned} in use or recently in use"
