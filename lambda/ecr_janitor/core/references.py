"""Image references held by workloads, and which images of a repository they pin (pure, no I/O).

A reference points at a repository when its name matches and, if it names an ECR registry host, the
account and region match too. A reference with no registry host is taken to mean the registry of the
account whose workload holds it (any region): a false match only keeps an image longer, a missed one
could delete an image in use. It never means another account's registry: a workload pulls `app:v1`
from its own account, not from a central one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from ecr_janitor.core.model import Image, InspectorUse, Repository, SourceFailure

# The registry host of every partition: `<account>.dkr.ecr[-fips].<region>.<DNS suffix>`, with the DNS
# suffixes of botocore's partitions.json (aws, aws-us-gov: amazonaws.com; aws-cn: amazonaws.com.cn;
# aws-eusc: amazonaws.eu; aws-iso: c2s.ic.gov; aws-iso-b: sc2s.sgov.gov; aws-iso-e: cloud.adc-e.uk;
# aws-iso-f: csp.hci.ic.gov), and the dual-stack form the ECR user guide documents for Docker and OCI
# clients, `<account>.dkr-ecr.<region>.on.aws`. A port (`:443`) may follow.
ECR_DNS_SUFFIXES = (
    "amazonaws.com",
    "amazonaws.com.cn",
    "amazonaws.eu",
    "c2s.ic.gov",
    "sc2s.sgov.gov",
    "cloud.adc-e.uk",
    "csp.hci.ic.gov",
    "on.aws",
)
_ECR_HOST = re.compile(
    r"^(?P<account>\d{12})\.dkr[.-]ecr(?:-fips)?\.(?P<region>[a-z]{2,}(?:-[a-z]+)+-\d+)\."
    rf"(?:{'|'.join(re.escape(suffix) for suffix in ECR_DNS_SUFFIXES)})(?::\d{{1,5}})?$"
)
# What makes a host look like an ECR registry even when it doesn't parse as one (a typo, a form AWS
# adds later): such a reference is not ignored but reported, and deletions wait until it is understood.
_LOOKS_LIKE_ECR = re.compile(
    r"\.dkr\.ecr|dkr-ecr|\.amazonaws\.com|\.on\.aws"
    rf"|{'|'.join(re.escape('.' + suffix) for suffix in ECR_DNS_SUFFIXES)}"
)
REPOSITORY_NAME_PATTERN = r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$"
"""ECR's own pattern for a repository name."""
DEFAULT_TAG = "latest"
"""What a reference with neither tag nor digest pulls (Docker, ECS, Kubernetes and Lambda all say so)."""
_REFERENCE = re.compile(
    r"^(?:(?P<host>[^/]+)/)?(?P<name>[^:@]+)(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,299}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)


@dataclass(frozen=True, slots=True)
class ImageReference:
    """`[registry/]repository[:tag][@digest]`, with who holds it (e.g. `ECS task definition api:12`)."""

    repository: str
    tag: str | None
    digest: str | None
    account: str | None
    region: str | None
    holder: str

    def points_at(self, repository: Repository) -> bool:
        return (
            self.repository == repository.name
            and self.account in (None, repository.account)
            and self.region in (None, repository.region)
        )

    def owned_by(self, account: str | None) -> ImageReference:
        """Read in `account`'s workloads: without a registry host, the reference means that account's
        registry (any region), never another's; with a host, the host says."""
        if self.account is not None or account is None:
            return self
        return replace(self, account=account)


@dataclass(frozen=True, slots=True)
class UnreadableReference:
    """A URI whose host looks like an ECR registry but that doesn't parse as an image in one. It may name
    an image here: the adapter reports it as a source failure, which withholds deletions."""

    uri: str
    holder: str

    def describe(self) -> str:
        return f"{self.holder} holds {self.uri!r}, which looks like an ECR image but can't be parsed"


def parse_image_uri(uri: str, holder: str) -> ImageReference | UnreadableReference | None:
    """The reference; None when the URI names another registry (Docker Hub, ghcr.io, public ECR); an
    UnreadableReference when it looks like ECR but doesn't parse (fail closed, never ignored)."""
    text = uri.strip()
    match = _REFERENCE.match(text)
    if match is None:
        return UnreadableReference(text, holder) if _looks_like_ecr(text) else None
    host, name, tag, digest = match.group("host", "name", "tag", "digest")
    if tag is None and digest is None:
        tag = DEFAULT_TAG
    if host is None:
        return ImageReference(name, tag, digest, None, None, holder)
    if not _is_registry(host):
        # `team/app` without a registry host: the first path part belongs to the repository name.
        return ImageReference(f"{host}/{name}", tag, digest, None, None, holder)
    ecr = _ECR_HOST.match(host.lower())
    if ecr is None:
        return UnreadableReference(text, holder) if _looks_like_ecr(text) else None
    return ImageReference(name, tag, digest, ecr.group("account"), ecr.group("region"), holder)


def _is_registry(host: str) -> bool:
    """Docker's rule: the first path part is a registry host when it has a dot or a port, or is localhost."""
    return "." in host or ":" in host or host == "localhost"


def _looks_like_ecr(uri: str) -> bool:
    """Anywhere in the URI, so that `https://<account>.dkr.ecr…/app` or a stray character is caught too."""
    return _LOOKS_LIKE_ECR.search(uri.lower()) is not None


def pinned_images(
    repository: Repository, images: Sequence[Image], references: Iterable[ImageReference]
) -> dict[str, str]:
    """Digest -> who uses it, for the images of `repository` that a reference pins by tag or digest."""
    by_tag = {tag: image.digest for image in images for tag in image.tags}
    present = {image.digest for image in images}
    pinned: dict[str, list[str]] = {}
    for reference in references:
        if not reference.points_at(repository):
            continue
        digests = {reference.digest} if reference.digest else set()
        if reference.tag and reference.tag in by_tag:
            digests.add(by_tag[reference.tag])
        for digest in digests & present:
            pinned.setdefault(digest, []).append(reference.holder)
    return {digest: _summarise(holders) for digest, holders in pinned.items()}


def _summarise(holders: list[str]) -> str:
    unique = sorted(set(holders))
    shown = ", ".join(unique[:3])
    return shown if len(unique) <= 3 else f"{shown} and {len(unique) - 3} more"


def references_by_repository(references: Iterable[ImageReference]) -> Mapping[str, list[ImageReference]]:
    grouped: dict[str, list[ImageReference]] = {}
    for reference in references:
        grouped.setdefault(reference.repository, []).append(reference)
    return grouped


@dataclass
class InUseSnapshot:
    """What workloads use, read once before any deletion, and the sources that could not be read."""

    references: list[ImageReference] = field(default_factory=list)
    failures: list[SourceFailure] = field(default_factory=list)
    inspector: list[InspectorUse] = field(default_factory=list)
    """Per region, whether Amazon Inspector's in-use signal was used, and why not."""
    ignored: list[SourceFailure] = field(default_factory=list)
    """Sources that could not be read but that the config says not to wait for (protect.eks.
    ignoreClusters): reported as warnings; they withhold nothing."""

    def extend(self, other: InUseSnapshot) -> None:
        """Add another account's snapshot to this one."""
        self.references += other.references
        self.failures += other.failures
        self.inspector += other.inspector
        self.ignored += other.ignored

    @property
    def withholds_deletions(self) -> str:
        """Why nothing may be deleted, or empty. One unreadable source is enough, in any region: a
        workload in one region may pull from a repository in another."""
        return "; ".join(f.describe() for f in self.failures)


def parse_image_list(text: str) -> list[str]:
    """A JSON array of URIs, or one URI per line (commas also separate; `#` starts a comment)."""
    stripped = text.strip()
    if stripped.startswith("["):
        values = json.loads(stripped)
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ValueError("an image list in JSON must be an array of strings")
        return [v.strip() for v in values if v.strip()]
    uris = []
    for line in stripped.splitlines():
        line = line.split("#", 1)[0]
        uris += [part.strip() for part in line.split(",") if part.strip()]
    return uris


def listed_image(uri: str, holder: str) -> ImageReference | UnreadableReference | None:
    """An entry of an image list someone keeps by hand: like a workload's URI, except that an entry that
    can't name an ECR image here (not a repository name ECR allows: a typo, ciphertext, a stray line) is
    unreadable, not ignored, since the list exists only to say what is in use."""
    reference = parse_image_uri(uri, holder)
    if isinstance(reference, ImageReference) and not re.fullmatch(
        REPOSITORY_NAME_PATTERN, reference.repository
    ):
        return UnreadableReference(uri.strip(), holder)
    return reference
