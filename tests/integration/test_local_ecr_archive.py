"""The local ECR models ECR's archive storage class as ECR documents it (user guide, "Archiving an image";
botocore's ECR model), and refuses where ECR is silent, so that no test passes because the fake is lenient.
One test per behaviour; each pairs what is refused or hidden with what is allowed or shown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from devtools.local_ecr import LocalEcr
from devtools.seed import IMAGE_MANIFEST, Seeder

REGION = "us-east-1"
T0 = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)


def ecr() -> Any:
    return boto3.client("ecr")


@pytest.fixture
def clock(local_ecr: LocalEcr) -> list[datetime]:
    """ECR's clock, which a test moves by assigning now[0]."""
    now = [T0]
    local_ecr.strict.clock = lambda: now[0]
    return now


def statuses(**filter_: str) -> dict[str, str]:
    details = ecr().describe_images(repositoryName="app", **({"filter": filter_} if filter_ else {}))
    return {d["imageDigest"]: d["imageStatus"] for d in details["imageDetails"]}


def archive(digest: str) -> dict[str, Any]:
    answer: dict[str, Any] = ecr().update_image_storage_class(
        repositoryName="app", imageId={"imageDigest": digest}, targetStorageClass="ARCHIVE"
    )
    return answer


def restore(digest: str) -> dict[str, Any]:
    answer: dict[str, Any] = ecr().update_image_storage_class(
        repositoryName="app", imageId={"imageDigest": digest}, targetStorageClass="STANDARD"
    )
    return answer


def pullable(digest: str) -> bool:
    answer = ecr().batch_get_image(repositoryName="app", imageIds=[{"imageDigest": digest}])
    return bool(answer["images"])


def test_archiving_answers_archived_and_hides_the_image_from_default_listings(
    seeder: Seeder, clock: list[datetime]
) -> None:
    seeder.repository("app")
    kept = seeder.image("app", pushed_at=T0, tags=["v2"])
    old = seeder.image("app", pushed_at=T0, tags=["v1"])
    answer = archive(old)
    assert (answer["imageId"], answer["imageStatus"]) == ({"imageDigest": old}, "ARCHIVED")
    assert statuses() == {kept: "ACTIVE"}  # ECR's default: ACTIVE only
    assert statuses(imageStatus="ACTIVE") == {kept: "ACTIVE"}
    assert statuses(imageStatus="ARCHIVED") == {old: "ARCHIVED"}
    assert statuses(imageStatus="ANY") == {kept: "ACTIVE", old: "ARCHIVED"}
    details = ecr().describe_images(repositoryName="app", filter={"imageStatus": "ARCHIVED"})["imageDetails"]
    assert details[0]["lastArchivedAt"] == T0
    assert details[0]["imageTags"] == ["v1"]  # an archived image keeps its tags
    listed = ecr().list_images(repositoryName="app")["imageIds"]
    assert [i["imageDigest"] for i in listed] == [kept]
    listed = ecr().list_images(repositoryName="app", filter={"imageStatus": "ANY"})["imageIds"]
    assert sorted(i["imageDigest"] for i in listed) == sorted([kept, old])


def test_an_archived_image_is_described_by_id_only_when_the_filter_allows_it(seeder: Seeder) -> None:
    seeder.repository("app")
    old = seeder.image("app", pushed_at=T0)
    archive(old)
    with pytest.raises(ClientError, match="ImageNotFoundException"):
        ecr().describe_images(repositoryName="app", imageIds=[{"imageDigest": old}])
    (detail,) = ecr().describe_images(
        repositoryName="app", imageIds=[{"imageDigest": old}], filter={"imageStatus": "ANY"}
    )["imageDetails"]
    assert detail["imageStatus"] == "ARCHIVED"


def test_an_archived_image_cannot_be_pulled(seeder: Seeder) -> None:
    seeder.repository("app")
    old, kept = seeder.image("app", pushed_at=T0), seeder.image("app", pushed_at=T0)
    archive(old)
    answer = ecr().batch_get_image(
        repositoryName="app", imageIds=[{"imageDigest": old}, {"imageDigest": kept}]
    )
    assert [i["imageId"]["imageDigest"] for i in answer["images"]] == [kept]
    assert answer["failures"] == [
        {
            "imageId": {"imageDigest": old},
            "failureCode": "ImageNotFound",
            "failureReason": "Requested image is archived and can't be pulled",
        }
    ]


def test_a_restore_goes_through_activating_and_ends_active_after_about_20_minutes(
    local_ecr: LocalEcr, seeder: Seeder, clock: list[datetime]
) -> None:
    seeder.repository("app")
    old = seeder.image("app", pushed_at=T0)
    archive(old)
    clock[0] = T0 + timedelta(days=100)
    assert restore(old)["imageStatus"] == "ACTIVATING"
    assert statuses(imageStatus="ACTIVATING") == {old: "ACTIVATING"}
    assert statuses() == {}  # not ACTIVE yet
    assert not pullable(old)
    clock[0] += timedelta(minutes=19)
    assert statuses(imageStatus="ANY") == {old: "ACTIVATING"}
    clock[0] += timedelta(minutes=2)
    (detail,) = ecr().describe_images(repositoryName="app")["imageDetails"]
    assert detail["imageStatus"] == "ACTIVE"
    assert detail["lastActivatedAt"] == T0 + timedelta(days=100, minutes=20)
    assert detail["lastArchivedAt"] == T0
    assert pullable(old)


def test_finish_restores_ends_every_restore_at_once(local_ecr: LocalEcr, seeder: Seeder) -> None:
    seeder.repository("app")
    old = seeder.image("app", pushed_at=T0)
    archive(old)
    restore(old)
    assert statuses(imageStatus="ANY") == {old: "ACTIVATING"}
    local_ecr.strict.finish_restores()
    assert statuses() == {old: "ACTIVE"}


@pytest.mark.parametrize(
    ("setup", "target"),
    [
        ("archived", "ARCHIVE"),  # archiving twice
        ("active", "STANDARD"),  # restoring what is not archived
        ("activating", "ARCHIVE"),  # archiving what is being restored
        ("activating", "STANDARD"),  # restoring twice
    ],
)
def test_only_active_to_archive_and_archived_to_standard_are_accepted(
    seeder: Seeder, setup: str, target: str
) -> None:
    seeder.repository("app")
    digest = seeder.image("app", pushed_at=T0)
    if setup != "active":
        archive(digest)
    if setup == "activating":
        restore(digest)
    with pytest.raises(ClientError, match="ImageStorageClassUpdateNotSupportedException"):
        ecr().update_image_storage_class(
            repositoryName="app", imageId={"imageDigest": digest}, targetStorageClass=target
        )


def test_unknown_images_repositories_and_storage_classes_are_refused(seeder: Seeder) -> None:
    seeder.repository("app")
    digest = seeder.image("app", pushed_at=T0, tags=["v1"])
    with pytest.raises(ClientError, match="ImageNotFoundException"):
        archive("sha256:" + "0" * 64)
    with pytest.raises(ClientError, match="RepositoryNotFoundException"):
        ecr().update_image_storage_class(
            repositoryName="nope", imageId={"imageDigest": digest}, targetStorageClass="ARCHIVE"
        )
    with pytest.raises(ClientError, match="ValidationException"):
        ecr().update_image_storage_class(
            repositoryName="app", imageId={"imageDigest": digest}, targetStorageClass="GLACIER"
        )
    with pytest.raises(ClientError, match="InvalidParameterException"):
        ecr().describe_images(repositoryName="app", filter={"imageStatus": "DELETED"})
    # The control: by tag, it works.
    answer = ecr().update_image_storage_class(
        repositoryName="app", imageId={"imageTag": "v1"}, targetStorageClass="ARCHIVE"
    )
    assert answer["imageId"] == {"imageDigest": digest, "imageTag": "v1"}


def test_a_manifest_an_active_index_lists_is_not_archived_before_its_index(
    local_ecr: LocalEcr, seeder: Seeder
) -> None:
    seeder.repository("app")
    index, (child, other) = seeder.multi_arch("app", pushed_at=T0, tags=["v1"])
    with pytest.raises(ClientError, match="ImageStorageClassUpdateNotSupportedException"):
        archive(child)
    assert local_ecr.strict.referenced_child_archive_requests == 1
    archive(index)  # the control: once the index is archived, its children may follow
    assert archive(child)["imageStatus"] == archive(other)["imageStatus"] == "ARCHIVED"


def test_injected_refusals_are_raised_for_that_image_only(local_ecr: LocalEcr, seeder: Seeder) -> None:
    seeder.repository("app")
    refused, fine = seeder.image("app", pushed_at=T0), seeder.image("app", pushed_at=T0)
    local_ecr.strict.refused_storage_updates[refused] = ("ServerException", "try later")
    with pytest.raises(ClientError, match="ServerException"):
        archive(refused)
    assert archive(fine)["imageStatus"] == "ARCHIVED"


def test_archived_images_can_be_deleted_and_an_early_deletion_is_counted(
    local_ecr: LocalEcr, seeder: Seeder, clock: list[datetime]
) -> None:
    seeder.repository("app")
    early, late = seeder.image("app", pushed_at=T0), seeder.image("app", pushed_at=T0)
    archive(early)
    local_ecr.archive(REGION, "app", late, T0 - timedelta(days=91))
    answer = ecr().batch_delete_image(
        repositoryName="app", imageIds=[{"imageDigest": early}, {"imageDigest": late}]
    )
    assert sorted(i["imageDigest"] for i in answer["imageIds"]) == sorted([early, late])
    assert local_ecr.strict.early_archive_deletions == 1  # billed the full 90 days: the test can see it
    assert statuses(imageStatus="ANY") == {}


def test_pushing_an_archived_image_again_restores_it(seeder: Seeder, clock: list[datetime]) -> None:
    seeder.repository("app")
    digest = seeder.image("app", pushed_at=T0, tags=["v1"])
    archive(digest)
    image = next(i for i in seeder.backend.repositories["app"].images if i.get_image_digest() == digest)
    clock[0] = T0 + timedelta(days=3)
    ecr().put_image(
        repositoryName="app",
        imageManifest=image.image_manifest,
        imageManifestMediaType=IMAGE_MANIFEST,
        imageTag="v1",
    )
    (detail,) = ecr().describe_images(repositoryName="app")["imageDetails"]
    assert (detail["imageStatus"], detail["lastActivatedAt"]) == ("ACTIVE", T0 + timedelta(days=3))
    assert pullable(digest)
