"""Plain data the adapters produce and the pure policy engine consumes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Image:
    """One manifest in a repository, as DescribeImages reports it."""

    digest: str
    tags: tuple[str, ...]
    pushed_at: datetime
    size_bytes: int = 0
    last_pulled_at: datetime | None = None
    manifest_media_type: str | None = None
    artifact_media_type: str | None = None
    subject_digest: str | None = None

    @property
    def tagged(self) -> bool:
        return bool(self.tags)

    @property
    def last_used_at(self) -> datetime:
        """When the image was last pulled, or pushed if it never was (the sinceImagePulled clock)."""
        return self.last_pulled_at or self.pushed_at


@dataclass(frozen=True, slots=True)
class Repository:
    name: str
    arn: str
    region: str
