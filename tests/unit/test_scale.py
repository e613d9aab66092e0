"""Parallel runs give the sequential result; the time budget defers, and the next run resumes there."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecr_janitor.adapters.ecr import EcrRegistry
from ecr_janitor.adapters.ratelimit import RateLimiter
from ecr_janitor.config import Config, parse_config
from ecr_janitor.core.model import Image, Repository
from ecr_janitor.outputs.render import report_json
from ecr_janitor.outputs.report import RunReport
from ecr_janitor.run import janitor
from tests.factories import NOW, image, rule
from tests.fakes import FakeRegistry
from tests.unit.test_properties import images, rule_documents


def config(documents: list[dict[str, Any]], *, workers: int, dry_run: bool = False) -> Config:
    return parse_config(
        {
            "dryRun": dry_run,
            "execution": {"workers": workers},
            "targets": [
                {
                    "repositories": ["*"],
                    "exclude": ["skip-*"],
                    "mode": "retain",
                    "policy": {"rules": documents},
                }
            ],
        }
    )


def run(cfg: Config, registry: FakeRegistry, **request: Any) -> RunReport:
    return janitor.run(
        cfg,
        janitor.RunRequest("run", cfg.dry_run, "test", ["us-east-1"], NOW, **request),
        janitor.one_account(lambda _region: cast(EcrRegistry, registry)),
    )


def comparable(report: RunReport) -> dict[str, Any]:
    document = report_json(report)
    document.pop("durationSeconds")
    document.pop("runId")  # each run has its own
    return document


@settings(max_examples=60, deadline=None)
@given(st.lists(images(), min_size=1, max_size=12), rule_documents(), st.sampled_from([True, False]))
def test_a_parallel_run_reports_and_deletes_what_a_sequential_one_does(
    repos: list[list[Image]], documents: list[dict[str, Any]], dry_run: bool
) -> None:
    contents = {f"repo-{n:02d}": list(r) for n, r in enumerate(repos)}
    sequential = FakeRegistry(contents={k: list(v) for k, v in contents.items()})
    parallel = FakeRegistry(contents={k: list(v) for k, v in contents.items()})
    one = run(config(documents, workers=1, dry_run=dry_run), sequential)
    many = run(config(documents, workers=8, dry_run=dry_run), parallel)
    assert comparable(one) == comparable(many)
    assert sequential.contents == parallel.contents
    assert sorted(sequential.delete_calls) == sorted(parallel.delete_calls)


class OrderedRegistry(FakeRegistry):
    """Remembers the order in which repositories were evaluated."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(contents={name: [image(name, days_ago=30)] for name in names})
        self.evaluated: list[str] = []
        self._lock = threading.Lock()

    def images(self, repository: str) -> list[Image]:
        with self._lock:
            self.evaluated.append(repository)
        return super().images(repository)


NAMES = ["a", "b", "skip-c", "d", "e", "f"]
UNTAGGED = [rule(1, "untagged", "sinceImagePushed", 14)]


def test_past_the_deadline_nothing_starts_and_the_next_run_resumes_there() -> None:
    clock = {"t": 1000.0}
    registry = OrderedRegistry(NAMES)
    original = registry.repositories

    def listing() -> Iterator[Repository]:
        for position, repository in enumerate(original()):
            if position == 3:  # the budget runs out while "d" is listed
                clock["t"] = 2000.0
            yield repository

    registry.repositories = listing  # type: ignore[method-assign]
    first = run(config(UNTAGGED, workers=1), registry, deadline=1500.0, clock=lambda: clock["t"])
    assert registry.evaluated == ["a", "b"]
    assert first.deferred == 3  # d, e, f; skip-c is no target's
    assert first.resume == {"us-east-1": "d"}
    assert first.totals()["repositoriesDeferred"] == 3

    registry.repositories = original  # type: ignore[method-assign]
    registry.evaluated.clear()
    second = run(config(UNTAGGED, workers=1), registry, resume=first.resume)
    assert registry.evaluated == ["d", "e", "f", "a", "b"]
    assert second.deferred == 0
    assert second.resume == {}


def test_resuming_goes_by_name_whatever_order_ecr_lists_in() -> None:
    registry = OrderedRegistry(list(reversed(NAMES)))
    run(config(UNTAGGED, workers=1), registry, resume={"us-east-1": "d"})
    assert registry.evaluated == ["d", "b", "a", "f", "e"]


def test_a_resume_point_that_is_gone_still_covers_everything() -> None:
    registry = OrderedRegistry(NAMES)
    report = run(config(UNTAGGED, workers=3), registry, resume={"us-east-1": "no-longer-there"})
    assert sorted(registry.evaluated) == ["a", "b", "d", "e", "f"]
    assert report.resume == {}


def test_without_details_only_totals_and_failures_are_kept() -> None:
    registry = OrderedRegistry(NAMES)
    registry.refuse = {image("a", days_ago=30).digest}
    report = run(config(UNTAGGED, workers=4), registry, details=False)
    assert report.repositories == []
    assert report.totals()["imagesExpired"] == 4
    assert [(f.repository, f.status) for f in report.failed_repositories] == [("a", "partial")]
    assert report.has_failures


def test_the_rate_limiter_allows_bursts_then_the_rate() -> None:
    now = {"t": 0.0}
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now["t"] += seconds

    limiter = RateLimiter(10, clock=lambda: now["t"], sleep=sleep)
    for _ in range(30):
        limiter.acquire()
    assert now["t"] == pytest.approx(2.0)  # 10 at once, then 20 more at 10 a second
    assert all(s <= 0.1 + 1e-9 for s in slept)


def test_the_rate_limiter_is_shared_by_threads() -> None:
    now = {"t": 0.0}
    lock = threading.Lock()

    def sleep(seconds: float) -> None:
        with lock:
            now["t"] += seconds / 4  # four threads wait side by side

    limiter = RateLimiter(50, clock=lambda: now["t"], sleep=sleep)
    acquired: list[int] = []

    def work() -> None:
        for _ in range(50):
            limiter.acquire()
            acquired.append(1)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(acquired) == 200
    assert now["t"] == pytest.approx((200 - 50) / 50, abs=1e-3)  # 50 at once, then 50 a second


def test_a_repository_whose_worker_starts_after_the_deadline_is_deferred_not_started() -> None:
    # The clock reads "before the deadline" where repositories are handed out, and "after" where the
    # workers would start them: none may start, and the next run begins with the first of them.
    main = threading.main_thread()
    registry = OrderedRegistry(NAMES)
    report = run(
        config(UNTAGGED, workers=3),
        registry,
        deadline=50.0,
        clock=lambda: 0.0 if threading.current_thread() is main else 100.0,
    )
    assert registry.evaluated == []
    assert registry.delete_calls == []
    assert report.deferred == 5
    assert report.resume == {"us-east-1": "a"}
    assert report.totals()["repositories"] == 0


def test_no_more_repositories_in_flight_than_workers() -> None:
    import time as real_time

    class SlowRegistry(OrderedRegistry):
        def __init__(self, names: list[str]) -> None:
            super().__init__(names)
            self.running = 0
            self.most = 0

        def images(self, repository: str) -> list[Image]:
            with self._lock:
                self.running += 1
                self.most = max(self.most, self.running)
            real_time.sleep(0.02)
            with self._lock:
                self.running -= 1
            return super().images(repository)

    registry = SlowRegistry([f"r{n:02d}" for n in range(20)])
    run(config(UNTAGGED, workers=3), registry)
    assert len(registry.evaluated) == 20
    assert 1 < registry.most <= 3  # in parallel, never more than the workers (3 is usual, not promised)
