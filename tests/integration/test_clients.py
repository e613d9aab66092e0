"""The janitor's clients parse what AWS answers with the cheaper timestamp parser (which gives botocore's
own datetimes: tests/unit/test_timestamps.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timezone

from devtools.seed import Seeder
from ecr_janitor.adapters import clients


def test_image_times_come_with_a_c_time_zone(seeder: Seeder) -> None:
    seeder.repository("app")
    pushed = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    seeder.image("app", pushed_at=pushed, pulled_at=datetime(2026, 2, 1, tzinfo=UTC))
    (detail,) = clients.client("ecr", "us-east-1").describe_images(repositoryName="app")["imageDetails"]
    assert detail["imagePushedAt"] == pushed
    assert type(detail["imagePushedAt"].tzinfo) is timezone
    assert type(detail["lastRecordedPullTime"].tzinfo) is timezone


def test_the_shared_model_loader_does_not_grow_with_every_client() -> None:
    clients.client("ecr", "us-east-1")
    paths = list(clients._MODELS.search_paths)
    for _ in range(3):
        clients.client("ecr", "us-east-1")
    assert clients._MODELS.search_paths == paths
