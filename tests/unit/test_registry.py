"""The ECR adapter's answers to what ECR can say, pinned down with botocore's Stubber."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from ecr_janitor.adapters.ecr import EcrRegistry, IndexUnreadableError
from tests.factories import digest


@pytest.fixture
def stubbed() -> Iterator[tuple[EcrRegistry, Stubber]]:
    client = boto3.client("ecr", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield EcrRegistry(client, "us-east-1"), stubber
        stubber.assert_no_pending_responses()


DIGESTS = [digest(f"d{n}") for n in range(150)]


def ids(digests: list[str]) -> list[dict[str, str]]:
    return [{"imageDigest": d} for d in digests]


def test_an_id_ecr_neither_confirms_nor_refuses_is_not_counted(stubbed: tuple[EcrRegistry, Stubber]) -> None:
    registry, stub = stubbed
    batch = DIGESTS[:3]
    stub.add_response(
        "batch_delete_image",
        {
            "imageIds": [
                {"imageDigest": batch[0], "imageTag": "v1"},
                {"imageDigest": batch[0], "imageTag": "v2"},
            ],
            "failures": [
                {"imageId": {"imageDigest": batch[1]}, "failureCode": "KmsError", "failureReason": "no"}
            ],
        },
        {"repositoryName": "app", "imageIds": ids(batch)},
    )
    result = registry.delete_images("app", batch)
    assert result.deleted == (batch[0],)
    assert [(f.digest, f.code) for f in result.failures] == [
        (batch[1], "KmsError"),
        (batch[2], "Unconfirmed"),
    ]


def test_a_call_that_fails_as_a_whole_stops_there_and_keeps_what_was_confirmed(
    stubbed: tuple[EcrRegistry, Stubber],
) -> None:
    registry, stub = stubbed
    first, rest = DIGESTS[:100], DIGESTS[100:]
    stub.add_response(
        "batch_delete_image",
        {"imageIds": ids(first), "failures": []},
        {"repositoryName": "app", "imageIds": ids(first)},
    )
    stub.add_client_error("batch_delete_image", "AccessDeniedException", "not allowed", 400)
    heard: list[tuple[int, int]] = []
    result = registry.delete_images("app", DIGESTS, lambda r: heard.append((len(r.deleted), len(r.failures))))
    assert result.deleted == tuple(first)
    assert [f.digest for f in result.failures] == rest
    assert {f.code for f in result.failures} == {"AccessDeniedException"}
    assert heard == [(100, 0), (0, 50)]  # each call reported as ECR answered it


def test_an_unreadable_index_manifest_fails_the_listing(stubbed: tuple[EcrRegistry, Stubber]) -> None:
    registry, stub = stubbed
    index_digest = digest("index")
    detail: dict[str, Any] = {
        "imageDigest": index_digest,
        "imagePushedAt": "2026-01-01T00:00:00Z",
        "imageManifestMediaType": "application/vnd.oci.image.index.v1+json",
        "imageStatus": "ARCHIVED",
    }
    stub.add_response(
        "describe_images",
        {"imageDetails": [detail]},
        {"repositoryName": "app", "filter": {"imageStatus": "ANY"}, "maxResults": 1000},
    )
    stub.add_response(
        "batch_get_image",
        {
            "images": [],
            "failures": [{"imageId": {"imageDigest": index_digest}, "failureCode": "ImageNotFound"}],
        },
    )
    with pytest.raises(IndexUnreadableError, match="1 image index manifest"):
        registry.images("app")
