"""A careful sequential cleaner: the baseline a platform team would write by hand.

Same semantics as the benchmark's policy (untagged and older than 14 days), same floor of calls:
pages of 1000, deletes of 100, one tag read per repository for the opt-out. One call at a time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bench.scenario import BATCH, EXPIRE_AFTER_DAYS, PAGE


def clean(ecr: Any, now: datetime) -> dict[str, int]:
    deleted = scanned = 0
    for page in ecr.get_paginator("describe_repositories").paginate(PaginationConfig={"PageSize": PAGE}):
        for repository in page["repositories"]:
            tags = ecr.list_tags_for_resource(resourceArn=repository["repositoryArn"]).get("tags", [])
            if any(t["Key"] == "ecr-janitor:skip" and t["Value"] == "true" for t in tags):
                continue
            name = repository["repositoryName"]
            doomed = []
            pages = ecr.get_paginator("describe_images").paginate(
                repositoryName=name, PaginationConfig={"PageSize": PAGE}
            )
            for images in pages:
                for image in images["imageDetails"]:
                    scanned += 1
                    old = now - image["imagePushedAt"] > timedelta(days=EXPIRE_AFTER_DAYS)
                    if not image.get("imageTags") and old:
                        doomed.append(image["imageDigest"])
            for start in range(0, len(doomed), BATCH):
                ids = [{"imageDigest": digest} for digest in doomed[start : start + BATCH]]
                response = ecr.batch_delete_image(repositoryName=name, imageIds=ids)
                deleted += len(response.get("imageIds", []))
    return {"imagesScanned": scanned, "imagesExpired": deleted}
