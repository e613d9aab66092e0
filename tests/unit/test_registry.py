"""The ECR adapter's answers to what ECR can say, pinned down with botocore's Stubber."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from ecr_janitor.adapters.ecr import EcrRegistry, IndexUnreadableError
from ecr_janitor.core.model import ImageStatus
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


INDEX = "application/vnd.oci.image.index.v1+json"


def _index_listing(stub: Stubber, index_digest: str, status: str) -> None:
    detail: dict[str, Any] = {
        "imageDigest": index_digest,
        "imagePushedAt": "2026-01-01T00:00:00Z",
        "imageManifestMediaType": INDEX,
        "imageStatus": status,
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


def test_an_unreadable_active_index_manifest_fails_the_listing(stubbed: tuple[EcrRegistry, Stubber]) -> None:
    registry, stub = stubbed
    _index_listing(stub, digest("index"), "ACTIVE")
    with pytest.raises(IndexUnreadableError, match="1 image index manifest"):
        registry.images("app")


def test_an_archived_index_ecr_wont_serve_has_unknown_children(stubbed: tuple[EcrRegistry, Stubber]) -> None:
    registry, stub = stubbed
    _index_listing(stub, digest("index"), "ARCHIVED")
    (index,) = registry.images("app")
    assert index.status is ImageStatus.ARCHIVED
    assert index.children_unknown is True
    assert index.children == ()


def test_archive_fields_are_read_as_ecr_reports_them(stubbed: tuple[EcrRegistry, Stubber]) -> None:
    registry, stub = stubbed
    details = [
        {
            "imageDigest": DIGESTS[0],
            "imagePushedAt": datetime(2026, 1, 1, tzinfo=UTC),
            "imageStatus": "ARCHIVED",
            "lastArchivedAt": datetime(2026, 6, 1, tzinfo=UTC),
        },
        {
            "imageDigest": DIGESTS[1],
            "imagePushedAt": datetime(2026, 1, 1, tzinfo=UTC),
            "imageStatus": "ACTIVE",
            "lastArchivedAt": datetime(2026, 6, 1, tzinfo=UTC),
            "lastActivatedAt": datetime(2026, 11, 20, tzinfo=UTC),
        },
        {
            "imageDigest": DIGESTS[2],
            "imagePushedAt": datetime(2026, 1, 1, tzinfo=UTC),
            "imageStatus": "ACTIVATING",
        },
    ]
    stub.add_response(
        "describe_images",
        {"imageDetails": details},
        {"repositoryName": "app", "filter": {"imageStatus": "ANY"}, "maxResults": 1000},
    )
    archived, restored, restoring = registry.images("app")
    assert (archived.status, archived.last_archived_at) == (
        ImageStatus.ARCHIVED,
        datetime(2026, 6, 1, tzinfo=UTC),
    )
    assert (restored.status, restored.last_activated_at) == (
        ImageStatus.ACTIVE,
        datetime(2026, 11, 20, tzinfo=UTC),
    )
    assert restoring.status is ImageStatus.ACTIVATING


def _archive_call(digest_: str) -> dict[str, Any]:
    return {"repositoryName": "app", "imageId": {"imageDigest": digest_}, "targetStorageClass": "ARCHIVE"}


def _archived_answer(digest_: str, status: str = "ARCHIVED") -> dict[str, Any]:
    return {"repositoryName": "app", "imageId": {"imageDigest": digest_}, "imageStatus": status}


def test_archiving_is_one_call_an_image_and_counts_only_what_ecr_answers_archived(
    stubbed: tuple[EcrRegistry, Stubber],
) -> None:
    registry, stub = stubbed
    batch = DIGESTS[:4]
    stub.add_response("update_image_storage_class", _archived_answer(batch[0]), _archive_call(batch[0]))
    stub.add_client_error(
        "update_image_storage_class",
        "ImageStorageClassUpdateNotSupportedException",
        "not supported for this image",
        expected_params=_archive_call(batch[1]),
    )
    stub.add_response(
        "update_image_storage_class", _archived_answer(batch[2], "ACTIVE"), _archive_call(batch[2])
    )
    stub.add_response("update_image_storage_class", _archived_answer(batch[3]), _archive_call(batch[3]))
    heard: list[tuple[int, int]] = []
    result = registry.archive_images("app", batch, lambda r: heard.append((len(r.archived), len(r.failures))))
    assert result.archived == (batch[0], batch[3])
    assert [(f.digest, f.code) for f in result.failures] == [
        (batch[1], "ImageStorageClassUpdateNotSupportedException"),
        (batch[2], "Unconfirmed"),
    ]
    assert heard == [(1, 0), (0, 1), (0, 1), (1, 0)]


def test_an_archiving_error_about_the_call_itself_stops_there(stubbed: tuple[EcrRegistry, Stubber]) -> None:
    registry, stub = stubbed
    batch = DIGESTS[:3]
    stub.add_response("update_image_storage_class", _archived_answer(batch[0]), _archive_call(batch[0]))
    stub.add_client_error("update_image_storage_class", "AccessDeniedException", "explicit deny", 400)
    result = registry.archive_images("app", batch)
    assert result.archived == (batch[0],)
    assert [(f.digest, f.code) for f in result.failures] == [
        (batch[1], "AccessDeniedException"),
        (batch[2], "AccessDeniedException"),
    ]
