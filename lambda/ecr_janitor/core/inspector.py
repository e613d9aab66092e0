"""What Amazon Inspector's coverage says about ECR images in use (pure, no I/O, no clock).

Inspector's enhanced ECR scanning reports, per image (`ListCoverage`, resourceType
`AWS_ECR_CONTAINER_IMAGE`), how many ECS tasks and EKS pods run it now (`resourceMetadata.ecrImage.
inUseCount`) and when one last did (`…ecrImage.lastInUseAt`). The digest is the `sha256:…` that ends the
coverage's `resourceId`; the repository is `resourceMetadata.ecrRepository.name` (or, failing that, the
name before the digest in `resourceId`). An image in use, or seen in use within `recentlyInUseDays` of
the run's `now`, is pinned by digest. One that should be pinned but can't be mapped onto an image is
reported, never ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from ecr_janitor.core.references import ImageReference, UnreadableReference

ECR_IMAGE = "AWS_ECR_CONTAINER_IMAGE"
_DIGEST_AT_END = re.compile(r"(?:^|/)(sha256:[0-9a-f]{64})$")
_REPOSITORY_IN_ID = re.compile(r"(?::repository/|^\d{12}/)(?P<name>.+)/sha256:[0-9a-f]{64}$")


def inspector_reference(
    resource: Mapping[str, Any], *, region: str, now: datetime, recent_days: int
) -> ImageReference | UnreadableReference | None:
    """The image a coverage entry pins, None when it pins none (not in use, or not an ECR image)."""
    if resource.get("resourceType") != ECR_IMAGE:
        return None
    metadata = resource.get("resourceMetadata") or {}
    ecr_image = metadata.get("ecrImage") or {}
    count = int(ecr_image.get("inUseCount") or 0)
    last: datetime | None = ecr_image.get("lastInUseAt")
    recent = recent_days > 0 and last is not None and now - last <= timedelta(days=recent_days)
    if count <= 0 and not recent:
        return None
    holder = f"Inspector: {count} in use" + (f", last {last:%Y-%m-%d}" if last else "")
    resource_id = str(resource.get("resourceId") or "")
    digest = _DIGEST_AT_END.search(resource_id)
    named = _REPOSITORY_IN_ID.search(resource_id)
    repository = (metadata.get("ecrRepository") or {}).get("name") or (named.group("name") if named else None)
    if digest is None or not repository:
        return UnreadableReference(resource_id or "(no resourceId)", holder)
    account = resource.get("accountId") or None
    return ImageReference(str(repository), None, digest.group(1), account, region, holder)
