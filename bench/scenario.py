"""The benchmark registry: N repositories x M images, half of them CI leftovers the policy expires."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tests.factories import config_document, rule

if TYPE_CHECKING:  # the measured process must not import moto: its memory is what is measured
    from devtools.seed import Seeder

EXPIRE_AFTER_DAYS = 14
PAGE = 1000
BATCH = 100


def config(*, workers: int | None = None) -> dict[str, Any]:
    """One retain target over every repository: untagged images older than two weeks go."""
    document: dict[str, Any] = {
        **config_document(
            dry_run=False, policy={"rules": [rule(1, "untagged", "sinceImagePushed", EXPIRE_AFTER_DAYS)]}
        ),
        "protect": {"inUse": True},
    }
    if workers is not None:
        document["execution"] = {"workers": workers}
    return document


@dataclass(frozen=True)
class Registry:
    repositories: int
    images: int

    @property
    def expired_per_repository(self) -> int:
        return self.images // 2

    def seed(self, seeder: Seeder, now: datetime) -> None:
        for r in range(self.repositories):
            name = f"bench/service-{r:05d}"
            seeder.repository(name)
            for i in range(self.images):
                if i < self.expired_per_repository:  # untagged CI builds, weeks old
                    seeder.image(name, pushed_at=now - timedelta(days=30 + i % 60), size_bytes=40_000_000)
                else:  # tagged releases and recent builds
                    seeder.image(name, pushed_at=now - timedelta(days=i % 10), tags=[f"build-{i}"])

    def floor(self) -> dict[str, int]:
        """The fewest ECR calls a correct cleaner can make: pages of 1000, batches of 100, one tag read
        per repository (the opt-out check)."""
        return {
            "DescribeRepositories": max(1, math.ceil(self.repositories / PAGE)),
            "ListTagsForResource": self.repositories,
            "DescribeImages": self.repositories * max(1, math.ceil(self.images / PAGE)),
            "BatchDeleteImage": self.repositories * math.ceil(self.expired_per_repository / BATCH),
        }
