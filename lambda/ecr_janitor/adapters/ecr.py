"""The ECR adapter: every call the janitor makes to ECR, paginated and batched at ECR's limits.

Listings use pages of 1000 (ECR's maximum). Deletion is by digest, at most 100 ids a call, and an
image counts as deleted only when BatchDeleteImage lists it as deleted: every failure ECR returns is
reported, and an id ECR neither confirms nor refuses is reported as unconfirmed. Archiving and restoring
are one UpdateImageStorageClass call per image (ECR has no batch form), and count only when ECR answers
the status they lead to.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from botocore.exceptions import ClientError

from ecr_janitor.adapters.clients import AWS_ERRORS, error_code, error_message
from ecr_janitor.core.model import (
    INDEX_MEDIA_TYPES,
    ArchiveResult,
    DeleteFailure,
    DeleteResult,
    Image,
    ImageStatus,
    Repository,
)

PAGE_SIZE = 1000
DELETE_BATCH_SIZE = 100
GET_BATCH_SIZE = 100
UNCONFIRMED = "Unconfirmed"
ARCHIVE, STANDARD = "ARCHIVE", "STANDARD"
"""UpdateImageStorageClass's targetStorageClass values."""
IMAGE_REFUSALS = frozenset(
    {
        "ImageNotFoundException",
        "ImageStorageClassUpdateNotSupportedException",
        "InvalidParameterException",
        "ValidationException",
    }
)
"""UpdateImageStorageClass errors about the one image asked for (botocore's ECR model). Any other error
(access denied, throttled out, the repository gone) would fail the next call too: archiving stops there."""
ACCEPTED_MANIFEST_TYPES = [
    *sorted(INDEX_MEDIA_TYPES),
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
]


class IndexUnreadableError(Exception):
    """An image index's manifest couldn't be read, so its children are unknown."""


class EcrRegistry:
    """One account's ECR in one region, through a boto3 client that already retries adaptively."""

    def __init__(self, client: Any, region: str, *, account: str | None = None) -> None:
        self._client = client
        self.region = region
        self.account = account
        """The registry's account, when the run names it (None: the credentials' own)."""

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

    def images(self, repository: str, *, strict: bool = True) -> list[Image]:
        """Every image, with the children of each image index (from its manifest). `strict`: an ACTIVE
        index whose manifest ECR won't return fails the listing; otherwise its children are unknown too."""
        pages = self._client.get_paginator("describe_images").paginate(
            # Archived images too: archive-class rules act on them, and they hold the images they list.
            repositoryName=repository,
            filter={"imageStatus": "ANY"},
            PaginationConfig={"PageSize": PAGE_SIZE},
        )
        images = [_image(detail) for page in pages for detail in page["imageDetails"]]
        # If ECR won't return an ACTIVE index's manifest, its children are unknown and the repository fails
        # safe (IndexUnreadableError) rather than risk expiring a child it lists. ECR doesn't serve
        # archived images (not pullable); the engine then treats the index's children as unknown.
        indexes = [image for image in images if image.is_index]
        children = self._index_children(
            repository,
            [i.digest for i in indexes],
            [i.digest for i in indexes if strict and i.status is ImageStatus.ACTIVE],
        )
        return [
            (
                replace(image, children=children[image.digest])
                if image.digest in children
                else replace(image, children_unknown=True)
            )
            if image.is_index
            else image
            for image in images
        ]

    def _index_children(
        self, repository: str, indexes: list[str], required: list[str]
    ) -> dict[str, tuple[str, ...]]:
        """The children of each index whose manifest ECR returns; raises if one of `required` is missing."""
        children: dict[str, tuple[str, ...]] = {}
        wanted = set(required)
        for start in range(0, len(indexes), GET_BATCH_SIZE):
            batch = indexes[start : start + GET_BATCH_SIZE]
            response = self._client.batch_get_image(
                repositoryName=repository,
                imageIds=[{"imageDigest": digest} for digest in batch],
                acceptedMediaTypes=ACCEPTED_MANIFEST_TYPES,
            )
            for item in response.get("images", []):
                digest = item["imageId"]["imageDigest"]
                manifest = json.loads(item["imageManifest"])
                children[digest] = tuple(entry["digest"] for entry in manifest.get("manifests", []))
            missing = [digest for digest in batch if digest not in children and digest in wanted]
            if missing:
                codes = sorted(
                    {f.get("failureCode", "Unknown") for f in response.get("failures", [])} or {"Missing"}
                )
                what = f"{len(missing)} image index manifest(s) unreadable ({', '.join(codes)})"
                raise IndexUnreadableError(f"{what}, e.g. {missing[0]}")
        return children

    def lifecycle_policy(self, repository: str) -> str | None:
        """The repository's lifecycle policy text, or None when it has none."""
        try:
            response = self._client.get_lifecycle_policy(repositoryName=repository)
        except ClientError as error:
            if error_code(error) == "LifecyclePolicyNotFoundException":
                return None
            raise
        return str(response["lifecyclePolicyText"])

    def put_lifecycle_policy(self, repository: str, text: str) -> None:
        self._client.put_lifecycle_policy(repositoryName=repository, lifecyclePolicyText=text)

    def delete_images(
        self, repository: str, digests: Sequence[str], on_batch: Callable[[DeleteResult], None] | None = None
    ) -> DeleteResult:
        """Delete by digest, 100 a call; `on_batch` hears each call's outcome as soon as ECR answers.
        A call that fails as a whole stops the deletions there."""
        deleted: list[str] = []
        failures: list[DeleteFailure] = []
        report = on_batch or (lambda _result: None)
        for start in range(0, len(digests), DELETE_BATCH_SIZE):
            batch = digests[start : start + DELETE_BATCH_SIZE]
            try:
                response = self._client.batch_delete_image(
                    repositoryName=repository, imageIds=[{"imageDigest": digest} for digest in batch]
                )
            except AWS_ERRORS as error:
                code, message = error_code(error), error_message(error)
                stopped = [DeleteFailure(digest, code, message) for digest in digests[start:]]
                failures.extend(stopped)
                report(DeleteResult((), tuple(stopped)))
                break
            before = (len(deleted), len(failures))
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
                    code = item.get("failureCode", "Unknown")
                    failures.append(DeleteFailure(digest, code, item.get("failureReason", "")))
                else:
                    failures.append(
                        DeleteFailure(digest, UNCONFIRMED, "ECR neither confirmed nor refused the deletion")
                    )
            report(DeleteResult(tuple(deleted[before[0] :]), tuple(failures[before[1] :])))
        return DeleteResult(tuple(deleted), tuple(failures))

    def update_storage_class(self, repository: str, image_id: dict[str, str], target: str) -> str:
        """Ask ECR to move one image to `target` (ARCHIVE or STANDARD); returns the imageStatus it answers."""
        response = self._client.update_image_storage_class(
            repositoryName=repository, imageId=image_id, targetStorageClass=target
        )
        return str(response.get("imageStatus", ""))

    def archive_images(
        self,
        repository: str,
        digests: Sequence[str],
        on_result: Callable[[ArchiveResult], None] | None = None,
    ) -> ArchiveResult:
        """Archive by digest, one call an image; `on_result` hears each outcome as soon as ECR answers. An
        image ECR refuses is reported and the next one tried; an error about the call as a whole stops."""
        archived: list[str] = []
        failures: list[DeleteFailure] = []
        report = on_result or (lambda _result: None)
        for position, digest in enumerate(digests):
            try:
                status = self.update_storage_class(repository, {"imageDigest": digest}, ARCHIVE)
            except AWS_ERRORS as error:
                code, message = error_code(error), error_message(error)
                image_refused = code in IMAGE_REFUSALS
                refused = [digest] if image_refused else list(digests[position:])
                result = ArchiveResult((), tuple(DeleteFailure(d, code, message) for d in refused))
                failures.extend(result.failures)
                report(result)
                if image_refused:
                    continue
                break
            if status == ImageStatus.ARCHIVED:
                result = ArchiveResult((digest,), ())
                archived.append(digest)
            else:
                message = f"ECR answered imageStatus {status or 'nothing'}, not ARCHIVED"
                result = ArchiveResult((), (DeleteFailure(digest, UNCONFIRMED, message),))
                failures.extend(result.failures)
            report(result)
        return ArchiveResult(tuple(archived), tuple(failures))


def _image(detail: dict[str, Any]) -> Image:
    return Image(
        digest=detail["imageDigest"],
        tags=tuple(detail.get("imageTags", ())),
        pushed_at=detail["imagePushedAt"],
        size_bytes=int(detail.get("imageSizeInBytes", 0)),
        last_pulled_at=detail.get("lastRecordedPullTime"),
        manifest_media_type=detail.get("imageManifestMediaType"),
        subject_digest=detail.get("subjectManifestDigest"),
        status=_status(detail.get("imageStatus", ImageStatus.ACTIVE)),
        last_archived_at=detail.get("lastArchivedAt"),
        last_activated_at=detail.get("lastActivatedAt"),
    )


def _status(value: str) -> ImageStatus:
    """ECR's imageStatus. One this code doesn't know yet is treated like ACTIVATING: no rule acts on it."""
    try:
        return ImageStatus(value)
    except ValueError:
        return ImageStatus.ACTIVATING
