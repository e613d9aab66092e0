"""A careful sequential cleaner: the baseline a platform team would write by hand.

The scenario's policy (`Registry.doomed`), the same floor of calls: pages of 1000, deletes of 100, one tag
read per repository for the opt-out. One call at a time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bench.scenario import BATCH, PAGE, Registry


def repositories(ecr: Any) -> list[dict[str, Any]]:
    pages = ecr.get_paginator("describe_repositories").paginate(PaginationConfig={"PageSize": PAGE})
    return [repository for page in pages for repository in page["repositories"]]


def clean_repository(
    ecr: Any, repository: dict[str, Any], scenario: Registry, now: datetime
) -> tuple[int, int]:
    """(images scanned, images deleted) in one repository."""
    tags = ecr.list_tags_for_resource(resourceArn=repository["repositoryArn"]).get("tags", [])
    if any(t["Key"] == "ecr-janitor:skip" and t["Value"] == "true" for t in tags):
        return 0, 0
    name = repository["repositoryName"]
    pages = ecr.get_paginator("describe_images").paginate(
        repositoryName=name, PaginationConfig={"PageSize": PAGE}
    )
    images = [image for page in pages for image in page["imageDetails"]]
    doomed = scenario.doomed(images, now)
    deleted = 0
    for start in range(0, len(doomed), BATCH):
        ids = [{"imageDigest": digest} for digest in doomed[start : start + BATCH]]
        response = ecr.batch_delete_image(repositoryName=name, imageIds=ids)
        deleted += len(response.get("imageIds", []))
    return len(images), deleted


def clean(ecr: Any, scenario: Registry, now: datetime) -> dict[str, int]:
    results = [clean_repository(ecr, repository, scenario, now) for repository in repositories(ecr)]
    return {"imagesScanned": sum(r[0] for r in results), "imagesExpired": sum(r[1] for r in results)}
