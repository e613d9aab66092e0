"""An in-memory registry with the EcrRegistry interface, for tests of the orchestration alone."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from ecr_janitor.model import Image, Repository
from ecr_janitor.registry import DeleteFailure, DeleteResult


@dataclass
class FakeRegistry:
    region: str = "us-east-1"
    contents: dict[str, list[Image]] = field(default_factory=dict)
    tags: dict[str, dict[str, str]] = field(default_factory=dict)
    delete_calls: list[tuple[str, list[str]]] = field(default_factory=list)

    def repositories(self) -> Iterator[Repository]:
        for name in self.contents:
            yield Repository(name, f"arn:aws:ecr:{self.region}:123456789012:repository/{name}", self.region)

    def repository_tags(self, repository: Repository) -> dict[str, str]:
        return dict(self.tags.get(repository.name, {}))

    def images(self, repository: str) -> list[Image]:
        return list(self.contents[repository])

    refuse: set[str] = field(default_factory=set)
    """Digests whose deletion fails, as if ECR refused them."""

    def delete_images(self, repository: str, digests: Sequence[str]) -> DeleteResult:
        self.delete_calls.append((repository, list(digests)))
        doomed = set(digests) - self.refuse
        deleted = [i.digest for i in self.contents[repository] if i.digest in doomed]
        self.contents[repository] = [i for i in self.contents[repository] if i.digest not in doomed]
        failures = [DeleteFailure(d, "KmsError", "refused") for d in digests if d in self.refuse]
        return DeleteResult(tuple(deleted), tuple(failures))
