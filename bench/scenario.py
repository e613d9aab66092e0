"""The benchmark registries: N repositories x M images, with a policy and the images it expires.

Two shapes (`SCENARIOS`): `nightly`, half of each repository CI leftovers weeks old (every in-use source
seeded), and `side-by-side`, the shape of issue #15's comparison: untagged images older than 7 days go
and the 10 newest `v*` releases stay, 80 repositories x 150 images, a floor of 321 calls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tests.factories import config_document, rule

if TYPE_CHECKING:  # the measured process must not import moto: its memory is what is measured
    from devtools.seed import Seeder

PAGE = 1000
BATCH = 100
RELEASE_PREFIX = "v"


@dataclass(frozen=True)
class Registry:
    """`repositories` x `images`: `untagged_old` untagged images older than `expire_after_days` (expired),
    `releases` tagged `v1.0.<n>` of which the newest `keep_releases` stay (None: no release rule, every
    release stays), and the rest recent images, tagged `build-<n>` unless `recent_untagged`."""

    name: str
    repositories: int
    images: int
    untagged_old: int
    expire_after_days: int
    releases: int = 0
    keep_releases: int | None = None
    recent_untagged: bool = False
    workloads: bool = False
    """Seed every in-use source (Inspector coverage, ECS services, Batch jobs, an EKS cluster)."""

    def sized(self, repositories: int | None, images: int | None) -> Registry:
        """The same shape at another size: the old and release shares scale with the image count."""
        if images is None or images == self.images:
            return replace(self, repositories=repositories or self.repositories)
        return replace(
            self,
            repositories=repositories or self.repositories,
            images=images,
            untagged_old=self.untagged_old * images // self.images,
            releases=self.releases * images // self.images,
        )

    @property
    def expired_per_repository(self) -> int:
        return self.untagged_old + max(0, self.releases - (self.keep_releases or self.releases))

    def config(self, *, workers: int | None = None) -> dict[str, Any]:
        """One retain target over every repository, in the janitor's config grammar."""
        rules = []
        if self.keep_releases is not None:
            rules.append(
                rule(1, "tagged", "imageCountMoreThan", self.keep_releases, patterns=[f"{RELEASE_PREFIX}*"])
            )
        rules.append(rule(len(rules) + 1, "untagged", "sinceImagePushed", self.expire_after_days))
        document: dict[str, Any] = {
            **config_document(dry_run=False, policy={"rules": rules}),
            "protect": {"inUse": True},
        }
        if workers is not None:
            document["execution"] = {"workers": workers}
        return document

    def seed(self, seeder: Seeder, now: datetime) -> None:
        recent = self.images - self.untagged_old - self.releases
        for r in range(self.repositories):
            name = f"bench/service-{r:05d}"
            seeder.repository(name)
            for i in range(self.untagged_old):  # untagged CI builds, weeks old
                age = timedelta(days=self.expire_after_days + 16 + i % 60)
                seeder.image(name, pushed_at=now - age, size_bytes=40_000_000)
            for i in range(self.releases):  # one release a day, the last one yesterday
                seeder.image(
                    name,
                    pushed_at=now - timedelta(days=self.releases - i),
                    tags=[f"{RELEASE_PREFIX}1.0.{i}"],
                )
            for i in range(recent):  # recent builds
                tags = [] if self.recent_untagged else [f"build-{i}"]
                seeder.image(name, pushed_at=now - timedelta(hours=1 + i % 100), tags=tags)

    def doomed(self, images: list[dict[str, Any]], now: datetime) -> list[str]:
        """What the policy expires, written the way a careful hand-made cleaner would (the reference
        cleaners use it; the bench checks that they leave the same registry as the janitor)."""
        old = timedelta(days=self.expire_after_days)
        doomed = [
            i["imageDigest"] for i in images if not i.get("imageTags") and now - i["imagePushedAt"] > old
        ]
        if self.keep_releases is not None:
            releases = sorted(
                (i for i in images if any(t.startswith(RELEASE_PREFIX) for t in i.get("imageTags", ()))),
                key=lambda i: i["imagePushedAt"],
                reverse=True,
            )
            doomed += [i["imageDigest"] for i in releases[self.keep_releases :]]
        return doomed

    def floor(self) -> dict[str, int]:
        """The fewest ECR calls a correct cleaner can make: pages of 1000, batches of 100, one tag read
        per repository (the opt-out check)."""
        return {
            "DescribeRepositories": max(1, math.ceil(self.repositories / PAGE)),
            "ListTagsForResource": self.repositories,
            "DescribeImages": self.repositories * max(1, math.ceil(self.images / PAGE)),
            "BatchDeleteImage": self.repositories * math.ceil(self.expired_per_repository / BATCH),
        }


NIGHTLY = Registry("nightly", 200, 100, untagged_old=50, expire_after_days=14, workloads=True)
SIDE_BY_SIDE = Registry(
    "side-by-side",
    80,
    150,
    untagged_old=100,
    expire_after_days=7,
    releases=40,
    keep_releases=10,
    recent_untagged=True,
)
"""Per repository: 100 untagged images older than 7 days and 30 of 40 releases expire (2 deletion
batches), 10 recent untagged images and the 10 newest releases stay: 1 + 80 + 80 + 160 = 321 calls."""
SCENARIOS = {s.name: s for s in (NIGHTLY, SIDE_BY_SIDE)}
