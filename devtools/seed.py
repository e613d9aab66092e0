"""Fill the local ECR with repositories and images, straight into moto's backend (fast and exact).

Images get real-looking manifests, a chosen size, push time and last pull time; digests are
deterministic so that tests and the demo are repeatable.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from moto.backends import get_backend

from devtools.local_ecr import ACCOUNT_ID, LocalEcr, scope

IMAGE_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def digest_of(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


class Seeder:
    """One account's registry (moto's default unless `account` says otherwise) in one region."""

    def __init__(self, ecr: LocalEcr, region: str = "us-east-1", account: str = ACCOUNT_ID) -> None:
        self.ecr = ecr
        self.region = region
        self.account = account
        self._count = 0

    @property
    def backend(self) -> Any:
        return get_backend("ecr")[self.account][self.region]

    def repository(self, name: str, tags: dict[str, str] | None = None) -> str:
        repo = self.backend.create_repository(
            repository_name=name,
            registry_id=None,
            encryption_config={"encryptionType": "AES256"},
            image_scan_config={"scanOnPush": False},
            image_tag_mutability="MUTABLE",
            tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()],
        )
        return str(repo.arn)

    def image(
        self,
        repository: str,
        *,
        pushed_at: datetime,
        tags: Iterable[str] = (),
        size_bytes: int = 50_000_000,
        pulled_at: datetime | None = None,
    ) -> str:
        """Push one image with its tags; returns its digest."""
        self._count += 1
        layer = digest_of(f"{scope(self.account, self.region)}/{repository}/{self._count}")
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": IMAGE_MANIFEST,
                "config": {
                    "mediaType": "application/vnd.docker.container.image.v1+json",
                    "size": size_bytes,
                    "digest": digest_of(f"config/{layer}"),
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                        "size": size_bytes,
                        "digest": layer,
                    }
                ],
            }
        )
        digest = digest_of(manifest)
        tag_list: list[str | None] = [*tags] or [None]
        for tag in tag_list:
            self.backend.put_image(repository, manifest, tag, IMAGE_MANIFEST, digest)
        self.ecr.backdate(self.region, repository, digest, pushed_at, self.account)
        if pulled_at is not None:
            self.ecr.record_pull(self.region, repository, digest, pulled_at, self.account)
        return digest

    def index(
        self, repository: str, children: list[str], *, pushed_at: datetime, tags: Iterable[str] = ()
    ) -> str:
        """Push an OCI image index (a multi-arch image) listing `children`, which must exist already."""
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [
                    {"mediaType": IMAGE_MANIFEST, "digest": child, "size": 1000, "platform": {"os": "linux"}}
                    for child in children
                ],
            }
        )
        digest = digest_of(manifest)
        tag_list: list[str | None] = [*tags] or [None]
        for tag in tag_list:
            self.backend.put_image(repository, manifest, tag, OCI_INDEX, digest)
        self.ecr.backdate(self.region, repository, digest, pushed_at, self.account)
        return digest

    def multi_arch(
        self, repository: str, *, pushed_at: datetime, tags: Iterable[str] = (), arches: int = 2
    ) -> tuple[str, list[str]]:
        """An index with `arches` untagged platform images; returns (index digest, child digests)."""
        children = [self.image(repository, pushed_at=pushed_at) for _ in range(arches)]
        return self.index(repository, children, pushed_at=pushed_at, tags=tags), children

    def cosign_signature(
        self, repository: str, subject: str, *, pushed_at: datetime, kind: str = "sig"
    ) -> str:
        """A cosign signature/attestation/SBOM, tagged `sha256-<hex>.<kind>` after its subject."""
        return self.image(
            repository, pushed_at=pushed_at, tags=[f"{subject.replace(':', '-')}.{kind}"], size_bytes=500
        )

    def referrer(self, repository: str, subject: str, *, pushed_at: datetime) -> str:
        """An untagged OCI referrer whose subject ECR reports as subjectManifestDigest."""
        digest = self.image(repository, pushed_at=pushed_at, size_bytes=700)
        self.ecr.strict.subjects[(scope(self.account, self.region), repository, digest)] = subject
        return digest

    def images_left(self, repository: str) -> set[str]:
        return {image.get_image_digest() for image in self.backend.repositories[repository].images}
