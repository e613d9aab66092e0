"""The local ECR is as strict as the real one where the janitor relies on it. If these fail, every
integration test that trusts the fake is suspect."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from devtools.local_ecr import LocalEcr
from devtools.seed import Seeder


def ecr() -> Any:
    return boto3.client("ecr")


def test_listings_are_paginated_with_ecr_defaults_and_limits(seeder: Seeder) -> None:
    seeder.repository("app")
    for n in range(150):
        seeder.image("app", pushed_at=datetime.now(UTC), tags=[f"t{n}"] if n % 2 else [])
    first = ecr().describe_images(repositoryName="app")
    assert len(first["imageDetails"]) == 100
    assert "nextToken" in first
    second = ecr().describe_images(repositoryName="app", nextToken=first["nextToken"])
    assert len(second["imageDetails"]) == 50
    assert "nextToken" not in second
    with pytest.raises(ClientError, match="maxResults must be between 1 and 1000"):
        ecr().describe_images(repositoryName="app", maxResults=1001)
    untagged = ecr().describe_images(repositoryName="app", filter={"tagStatus": "UNTAGGED"}, maxResults=1000)
    assert len(untagged["imageDetails"]) == 75


def test_batch_delete_refuses_more_than_100_ids_and_answers_for_every_id(seeder: Seeder) -> None:
    seeder.repository("app")
    digests = [seeder.image("app", pushed_at=datetime.now(UTC)) for _ in range(101)]
    with pytest.raises(ClientError, match="Member must have length between 1 and 100"):
        ecr().batch_delete_image(repositoryName="app", imageIds=[{"imageDigest": d} for d in digests])
    answer = ecr().batch_delete_image(
        repositoryName="app", imageIds=[{"imageDigest": d} for d in digests[:3]]
    )
    assert sorted(i["imageDigest"] for i in answer["imageIds"]) == sorted(digests[:3])


def test_injected_refusals_and_pull_times_are_served(local_ecr: LocalEcr, seeder: Seeder) -> None:
    seeder.repository("app")
    pulled = datetime(2026, 1, 2, tzinfo=UTC)
    kept = seeder.image("app", pushed_at=datetime(2025, 6, 1, tzinfo=UTC), pulled_at=pulled)
    local_ecr.strict.refused_deletions[kept] = ("KmsError", "kms key disabled")
    answer = ecr().batch_delete_image(repositoryName="app", imageIds=[{"imageDigest": kept}])
    assert answer["imageIds"] == []
    assert answer["failures"][0]["failureCode"] == "KmsError"
    (detail,) = ecr().describe_images(repositoryName="app")["imageDetails"]
    assert detail["lastRecordedPullTime"] == pulled
    assert detail["imagePushedAt"] == datetime(2025, 6, 1, tzinfo=UTC)


def test_repositories_are_listed_in_pages(seeder: Seeder) -> None:
    for n in range(105):
        seeder.repository(f"r/{n:03d}")
    first = ecr().describe_repositories()
    assert len(first["repositories"]) == 100
    rest = ecr().describe_repositories(nextToken=first["nextToken"])
    assert len(rest["repositories"]) == 5
    assert "nextToken" not in rest


def test_a_manifest_a_remaining_index_lists_is_refused(local_ecr: LocalEcr, seeder: Seeder) -> None:
    seeder.repository("app")
    index, (child, _) = seeder.multi_arch("app", pushed_at=datetime.now(UTC))
    answer = ecr().batch_delete_image(repositoryName="app", imageIds=[{"imageDigest": child}])
    assert answer["failures"][0]["failureCode"] == "ImageReferencedByManifestList"
    assert local_ecr.strict.referenced_child_requests == 1
    # Even in the same call as the index: ECR gives no ordering within a call.
    both = ecr().batch_delete_image(
        repositoryName="app", imageIds=[{"imageDigest": index}, {"imageDigest": child}]
    )
    assert [i["imageDigest"] for i in both["imageIds"]] == [index]
    assert child in seeder.images_left("app")


def test_referrers_unreadable_manifests_and_archived_images(local_ecr: LocalEcr, seeder: Seeder) -> None:
    seeder.repository("app")
    subject = seeder.image("app", pushed_at=datetime.now(UTC), tags=["v1"])
    signature = seeder.referrer("app", subject, pushed_at=datetime.now(UTC))
    archived = seeder.image("app", pushed_at=datetime.now(UTC))
    local_ecr.archive("us-east-1", "app", archived, datetime.now(UTC))
    local_ecr.strict.unreadable_manifests.add(subject)

    visible = {d["imageDigest"]: d for d in ecr().describe_images(repositoryName="app")["imageDetails"]}
    assert set(visible) == {subject, signature}  # ECR's default: ACTIVE images only
    assert visible[signature]["subjectManifestDigest"] == subject
    everything = ecr().describe_images(repositoryName="app", filter={"imageStatus": "ANY"})["imageDetails"]
    assert {d["imageDigest"]: d["imageStatus"] for d in everything}[archived] == "ARCHIVED"
    answer = ecr().batch_get_image(repositoryName="app", imageIds=[{"imageDigest": subject}])
    assert answer["images"] == []
    assert answer["failures"][0]["imageId"] == {"imageDigest": subject}


def test_lifecycle_policies_are_checked_like_ecr_does(seeder: Seeder) -> None:
    seeder.repository("app")
    early = {
        "rules": [
            {
                "rulePriority": 1,
                "selection": {
                    "tagStatus": "any",
                    "storageClass": "archive",
                    "countType": "sinceImageTransitioned",
                    "countUnit": "days",
                    "countNumber": 30,
                },
                "action": {"type": "expire"},
            }
        ]
    }
    with pytest.raises(ClientError, match="90 days"):
        ecr().put_lifecycle_policy(repositoryName="app", lifecyclePolicyText=json.dumps(early))
    with pytest.raises(ClientError, match="Invalid parameter: lifecyclePolicyText"):
        ecr().put_lifecycle_policy(repositoryName="app", lifecyclePolicyText='{"rules": []}' + " " * 90)
