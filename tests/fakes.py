"""An in-memory registry with the EcrRegistry interface, for tests of the orchestration alone."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

from ecr_janitor.core.model import ArchiveResult, DeleteFailure, DeleteResult, Image, ImageStatus, Repository


@dataclass
class FakeRegistry:
    region: str = "us-east-1"
    contents: dict[str, list[Image]] = field(default_factory=dict)
    tags: dict[str, dict[str, str]] = field(default_factory=dict)
    delete_calls: list[tuple[str, list[str]]] = field(default_factory=list)
    account: str | None = None
    archive_calls: list[tuple[str, str]] = field(default_factory=list)

    def repositories(self) -> Iterator[Repository]:
        for name in self.contents:
            yield Repository(name, f"arn:aws:ecr:{self.region}:123456789012:repository/{name}", self.region)

    def repository_tags(self, repository: Repository) -> dict[str, str]:
        return dict(self.tags.get(repository.name, {}))

    def images(self, repository: str) -> list[Image]:
        return list(self.contents[repository])

    refuse: set[str] = field(default_factory=set)
    """Digests whose deletion or archiving fails, as if ECR refused them."""

    def delete_images(
        self, repository: str, digests: Sequence[str], on_batch: Callable[[DeleteResult], None] | None = None
    ) -> DeleteResult:
        """Like ECR: every id is answered, deleted or refused (an absent one as ImageNotFound)."""
        self.delete_calls.append((repository, list(digests)))
        present = {i.digest for i in self.contents[repository]}
        doomed = set(digests) - self.refuse
        self.contents[repository] = [i for i in self.contents[repository] if i.digest not in doomed]
        deleted = tuple(d for d in digests if d in doomed and d in present)
        failures = tuple(
            DeleteFailure(d, "KmsError", "refused")
            if d in self.refuse
            else DeleteFailure(d, "ImageNotFound", "")
            for d in digests
            if d not in deleted
        )
        result = DeleteResult(deleted, failures)
        if on_batch:
            on_batch(result)
        return result

    def archive_images(
        self,
        repository: str,
        digests: Sequence[str],
        on_result: Callable[[ArchiveResult], None] | None = None,
    ) -> ArchiveResult:
        """Like ECR: one call per image, ARCHIVED unless refused (or absent: ImageNotFoundException)."""
        archived: list[str] = []
        failures: list[DeleteFailure] = []
        for requested in digests:
            self.archive_calls.append((repository, requested))
            present = [i for i in self.contents[repository] if i.digest == requested]
            if requested in self.refuse or not present:
                code = "ImageStorageClassUpdateNotSupportedException" if present else "ImageNotFoundException"
                result = ArchiveResult((), (DeleteFailure(requested, code, "refused"),))
                failures += result.failures
            else:
                self.contents[repository] = [
                    replace(i, status=ImageStatus.ARCHIVED) if i.digest == requested else i
                    for i in self.contents[repository]
                ]
                result = ArchiveResult((requested,), ())
                archived.append(requested)
            if on_result:
                on_result(result)
        return ArchiveResult(tuple(archived), tuple(failures))
