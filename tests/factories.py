"""Small builders shared by the tests: images named by letter, rules in ECR's own JSON."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from ecr_janitor.core.lifecycle import LifecyclePolicy, Rule
from ecr_janitor.core.model import Image, ImageStatus

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

KUBERNETES_LIST_PATHS = {
    "Pod": "/api/v1/pods",
    "Deployment": "/apis/apps/v1/deployments",
    "ReplicaSet": "/apis/apps/v1/replicasets",
    "StatefulSet": "/apis/apps/v1/statefulsets",
    "DaemonSet": "/apis/apps/v1/daemonsets",
    "Job": "/apis/batch/v1/jobs",
    "CronJob": "/apis/batch/v1/cronjobs",
}
"""The cluster-wide list endpoint of each kind the janitor reads, as the Kubernetes API reference names it."""


def digest(name: str) -> str:
    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()


def image(
    name: str,
    *tags: str,
    days_ago: float = 0.0,
    pulled_days_ago: float | None = None,
    size: int = 1000,
) -> Image:
    return Image(
        digest=digest(name),
        tags=tuple(tags),
        pushed_at=NOW - timedelta(days=days_ago),
        size_bytes=size,
        last_pulled_at=None if pulled_days_ago is None else NOW - timedelta(days=pulled_days_ago),
    )


def rules(*documents: dict[str, Any]) -> list[Rule]:
    return LifecyclePolicy.model_validate({"rules": list(documents)}).ordered_rules()


def rule(
    priority: int,
    tag_status: str,
    count_type: str,
    count_number: int,
    *,
    patterns: Sequence[str] | None = None,
    prefixes: Sequence[str] | None = None,
) -> dict[str, Any]:
    selection: dict[str, Any] = {
        "tagStatus": tag_status,
        "countType": count_type,
        "countNumber": count_number,
    }
    if count_type != "imageCountMoreThan":
        selection["countUnit"] = "days"
    if patterns is not None:
        selection["tagPatternList"] = list(patterns)
    if prefixes is not None:
        selection["tagPrefixList"] = list(prefixes)
    return {"rulePriority": priority, "selection": selection, "action": {"type": "expire"}}


def transition(document: dict[str, Any]) -> dict[str, Any]:
    """The same rule, archiving (ECR's `transition` to the archive class) instead of expiring."""
    return {**document, "action": {"type": "transition", "targetStorageClass": "archive"}}


def archive_rule(
    priority: int, tag_status: str, days: int, *, patterns: Sequence[str] | None = None
) -> dict[str, Any]:
    """An archive-class rule: expire archived images `days` after they were archived."""
    document = rule(priority, tag_status, "sinceImageTransitioned", days, patterns=patterns)
    document["selection"]["storageClass"] = "archive"
    return document


def archived(img: Image, *, days_ago: float | None = 100.0) -> Image:
    """The image in ECR's archive class since `days_ago` (None: ECR reports no lastArchivedAt)."""
    when = None if days_ago is None else NOW - timedelta(days=days_ago)
    return replace(img, status=ImageStatus.ARCHIVED, last_archived_at=when)


def restored(img: Image, *, days_ago: float) -> Image:
    """The image ECR restored from the archive `days_ago` (ACTIVE again)."""
    return replace(img, status=ImageStatus.ACTIVE, last_activated_at=NOW - timedelta(days=days_ago))


def config_document(*, dry_run: bool | None = None, **target: Any) -> dict[str, Any]:
    """A one-target config; `target` overrides the default retain target."""
    doc: dict[str, Any] = {
        "targets": [
            {
                "repositories": ["*"],
                "mode": "retain",
                "policy": {"rules": [rule(1, "untagged", "sinceImagePushed", 14)]},
                **target,
            }
        ]
    }
    if dry_run is not None:
        doc["dryRun"] = dry_run
    return doc


def index(name: str, children: Sequence[str], *tags: str, days_ago: float = 0.0, size: int = 1000) -> Image:
    """An OCI image index listing the images named `children`."""
    return replace(
        image(name, *tags, days_ago=days_ago, size=size),
        manifest_media_type="application/vnd.oci.image.index.v1+json",
        children=tuple(digest(child) for child in children),
    )


def signature(name: str, subject: str, *, kind: str = "sig", days_ago: float = 0.0) -> Image:
    """A cosign signature (or .att/.sbom) of the image named `subject`."""
    return image(name, f"{digest(subject).replace(':', '-')}.{kind}", days_ago=days_ago, size=10)


def referrer(name: str, subject: str, *, days_ago: float = 0.0) -> Image:
    """An OCI referrer whose subject ECR reports."""
    return replace(image(name, days_ago=days_ago, size=10), subject_digest=digest(subject))


@dataclass
class FakeLambdaContext:
    """The LambdaContext attributes Powertools and the handler read."""

    function_name: str = "ecr-janitor"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:ecr-janitor"
    aws_request_id: str = "0f6b1c52-7d1e-4c3a-9a43-3f1f4d2c8d11"
    log_group_name: str = "/aws/lambda/ecr-janitor"
    log_stream_name: str = "2026/11/25/[$LATEST]abc"
    remaining_ms: int = 900_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms
