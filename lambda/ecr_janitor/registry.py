"""The ECR adapter: every call the janitor makes to ECR, paginated and batched at ECR's limits.

Listings use pages of 1000 (ECR's maximum). Deletion is by digest, at most 100 ids a call, and an
image counts as deleted only when BatchDeleteImage lists it as deleted: every failure ECR returns is
reported, and an id ECR neither confirms nor refuses is reported as unconfirmed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ecr_janitor import aws
from ecr_janitor.aws import error_code, error_message
from ecr_janitor.model import Image, Repository
from ecr_janitor.policy import DELETE_BATCH_SIZE

PAGE_SIZE = 1000
UNCONFIRMED = "Unconfirmed"


@dataclass(frozen=True, slots=True)
class DeleteFailure:
    digest: str
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class DeleteResult:
    deleted: tuple[str, ...]
    failures: tuple[DeleteFailure, ...]


class EcrRegistry:
    """One region's ECR, through a boto3 client that already retries adaptively."""

    def __init__(self, client: Any, region: str) -> None:
        self._client = client
        self.region = region

    @classmethod
    def connect(cls, region: str) -> EcrRegistry:
        return cls(aws.client("ecr", region), region)

    def repositories(self) -> Iterator[Repository]:
        pages = self._client.get_paginator("describe_repositories").paginate(
            PaginationConfig={"PageSize": PAGE_SIZE}
        )
        for page in pages:
            for item in page["repositories"]:
                yield Repository(name=item["repositoryName"], arn=item["repositoryArn"], region=self.region)

    def repository_tags(self, repository: Repository) -> dict[str, str]:
        response = self._client.list_tags_for_resource(resourceArn=repository.arn)
        return {tag["Key"]: tag["Value"] for tag in response.get("tags", [])}

    def images(self, repository: str) -> list[Image]:
        pages = self._client.get_paginator("describe_images").paginate(
            repositoryName=repository, PaginationConfig={"PageSize": PAGE_SIZE}
        )
        return [_image(detail) for page in pages for detail in page["imageDetails"]]

    def delete_images(self, repository: str, batches: Sequence[Sequence[str]]) -> DeleteResult:
        """Delete the batches in order. A call that fails as a whole stops the repository there."""
        deleted: list[str] = []
        failures: list[DeleteFailure] = []
        for position, batch in enumerate(batches):
            if len(batch) > DELETE_BATCH_SIZE:
                raise ValueError(f"a delete batch holds {len(batch)} ids; ECR takes {DELETE_BATCH_SIZE}")
            try:
                response = self._client.batch_delete_image(
                    repositoryName=repository, imageIds=[{"imageDigest": digest} for digest in batch]
                )
            except (ClientError, BotoCoreError) as error:
                code, message = error_code(error), error_message(error)
                not_attempted = [digest for later in batches[position:] for digest in later]
                failures.extend(DeleteFailure(digest, code, message) for digest in not_attempted)
                break
            confirmed = {
                item["imageDigest"] for item in response.get("imageIds", []) if "imageDigest" in item
            }
            refused = {
                item.get("imageId", {}).get("imageDigest", ""): item for item in response.get("failures", [])
            }
            for digest in batch:
                if digest in confirmed:
                    deleted.append(digest)
                elif digest in refused:
                    item = refused[digest]
                    failures.append(
                        DeleteFailure(
                            digest, item.get("failureCode", "Unknown"), item.get("failureReason", "")
                        )
                    )
                else:
                    failures.append(
                        DeleteFailure(digest, UNCONFIRMED, "ECR neither confirmed nor refused the deletion")
                    )
        return DeleteResult(tuple(deleted), tuple(failures))


def _image(detail: dict[str, Any]) -> Image:
    return Image(
        digest=detail["imageDigest"],
        tags=tuple(detail.get("imageTags", ())),
        pushed_at=detail["imagePushedAt"],
        size_bytes=int(detail.get("imageSizeInBytes", 0)),
        last_pulled_at=detail.get("lastRecordedPullTime"),
        manifest_media_type=detail.get("imageManifestMediaType"),
        artifact_media_type=detail.get("artifactMediaType"),
        subject_digest=detail.get("subjectManifestDigest"),
    )
