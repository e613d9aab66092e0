"""The reference for concurrency: the sequential cleaner's repositories on a plain thread pool sharing one
client, with no rate limiter, no audit lines and no report. What threads alone buy."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from bench.scenario import Registry
from bench.sequential import clean_repository, repositories


def clean(ecr: Any, scenario: Registry, now: datetime, *, workers: int) -> dict[str, int]:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda r: clean_repository(ecr, r, scenario, now), repositories(ecr)))
    return {"imagesScanned": sum(r[0] for r in results), "imagesExpired": sum(r[1] for r in results)}
