"""Image references held by workloads, and which images of a repository they pin (pure, no I/O).

A reference points at a repository when its name matches and, if it names an ECR registry host, the
account and region match too. A reference with no registry host is taken to mean this registry: a
false match only keeps an image longer, a missed one could delete an image in use.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ecr_janitor.core.model import Image, Repository, SourceFailure

_ECR_HOST = re.compile(
    r"^(?P<account>\d{12})\.dkr[.-]ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.(?:amazonaws\.com(?:\.cn)?|on\.aws)$"
)
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


def parse_image_uri(uri: str, holder: str) -> ImageReference | None:
    """The reference, or None when the URI names another registry (Docker Hub, ghcr.io, public ECR)."""
    match = _REFERENCE.match(uri.strip())
    if match is None:
        return None
    host = match.group("host")
    account = region = None
    if host is not None and ("." in host or ":" in host or host == "localhost"):
        ecr = _ECR_HOST.match(host.lower())
        if ecr is None:
            return None
        account, region = ecr.group("account"), ecr.group("region")
    elif host is not None:
        # `team/app` without a registry host: the first path part belongs to the repository name.
        name = f"{host}/{match.group('name')}"
        return ImageReference(name, match.group("tag"), match.group("digest"), None, None, holder)
    return ImageReference(
        match.group("name"), match.group("tag"), match.group("digest"), account, region, holder
    )


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
    ignored: list[SourceFailure] = field(default_factory=list)
    """Sources that could not be read but that the config says not to wait for (protect.eks.
    ignoreClusters): reported as warnings; they withhold nothing."""

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
