"""Inspector's coverage mapped onto images (pure): what pins an image, and what can't be placed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ecr_janitor.core.inspector import inspector_reference
from ecr_janitor.core.model import InspectorUse
from ecr_janitor.core.references import ImageReference, UnreadableReference

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
D = "sha256:" + "ab" * 32
ARN_ID = f"arn:aws:ecr:us-east-1:123456789012:repository/team/api/{D}"


def covered(
    *,
    count: int | None = 0,
    last: datetime | None = None,
    resource_id: str = ARN_ID,
    name: str | None = "team/api",
) -> dict[str, Any]:
    image: dict[str, Any] = {} if count is None else {"inUseCount": count}
    if last is not None:
        image["lastInUseAt"] = last
    metadata: dict[str, Any] = {"ecrImage": image}
    if name is not None:
        metadata["ecrRepository"] = {"name": name}
    return {
        "resourceType": "AWS_ECR_CONTAINER_IMAGE",
        "resourceId": resource_id,
        "accountId": "123456789012",
        "resourceMetadata": metadata,
    }


@pytest.mark.parametrize(
    ("resource", "days", "pinned"),
    [
        (covered(count=4, last=NOW - timedelta(days=1)), 0, "Inspector: 4 in use, last 2026-11-30"),
        (covered(count=1), 0, "Inspector: 1 in use"),
        (covered(count=0, last=NOW - timedelta(days=7)), 7, "Inspector: 0 in use, last 2026-11-24"),
        (covered(count=0, last=NOW - timedelta(days=7, seconds=1)), 7, None),  # just outside the window
        (covered(count=0, last=NOW - timedelta(days=1)), 0, None),  # 0 days: in use now only
        (covered(count=None), 30, None),  # never seen in use
        ({**covered(count=3), "resourceType": "AWS_ECR_REPOSITORY"}, 0, None),
    ],
)
def test_what_inspector_pins(resource: dict[str, Any], days: int, pinned: str | None) -> None:
    reference = inspector_reference(resource, region="us-east-1", now=NOW, recent_days=days)
    if pinned is None:
        assert reference is None
    else:
        assert reference == ImageReference("team/api", None, D, "123456789012", "us-east-1", pinned)


@pytest.mark.parametrize(
    "resource_id",
    [ARN_ID, f"123456789012/team/api/{D}"],  # the repository from the id when metadata lacks it
)
def test_the_repository_comes_from_the_resource_id_when_metadata_lacks_it(resource_id: str) -> None:
    reference = inspector_reference(
        covered(count=2, resource_id=resource_id, name=None), region="us-east-1", now=NOW, recent_days=0
    )
    assert isinstance(reference, ImageReference)
    assert (reference.repository, reference.digest) == ("team/api", D)


@pytest.mark.parametrize(
    ("resource_id", "name"),
    [("arn:aws:ecr:us-east-1:123456789012:repository/team/api", "team/api"), ("image-1234567890", None)],
)
def test_an_image_in_use_that_cannot_be_placed_is_reported(resource_id: str, name: str | None) -> None:
    reference = inspector_reference(
        covered(count=2, resource_id=resource_id, name=name), region="us-east-1", now=NOW, recent_days=0
    )
    assert reference == UnreadableReference(resource_id, "Inspector: 2 in use")
    # the control: not in use, nothing to place, nothing reported
    assert (
        inspector_reference(
            covered(count=0, resource_id=resource_id, name=name), region="us-east-1", now=NOW, recent_days=0
        )
        is None
    )


def test_the_report_states_how_inspector_was_used() -> None:
    assert InspectorUse("us-east-1", True, "ENABLED", 40, 3).describe() == (
        "Inspector in us-east-1: used, 40 images covered, 3 in use or recently in use"
    )
    assert "ECR scanning is DISABLED" in InspectorUse("eu-west-1", False, "DISABLED").describe()
    assert "not used (off in protect" in InspectorUse("eu-west-1", False, "OFF").describe()
