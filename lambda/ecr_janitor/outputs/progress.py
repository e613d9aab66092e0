"""Progress of a long run, for a person watching the CLI: per region, repositories done of those listed,
on stderr, every few seconds. Never on stdout, which carries the report (`--json | jq`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

PROGRESS_INTERVAL_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class RegionProgress:
    region: str
    """The region, or `<account>/<region>` when the run cleans several accounts (core.model.registry_key)."""
    done: int
    """Covered repositories finished (processed, or deferred to the next run)."""
    total: int | None
    """Covered repositories listed; None while the listing goes on (ECR gives no count up front)."""

    @property
    def finished(self) -> bool:
        return self.total is not None and self.done >= self.total


ProgressHook = Callable[[RegionProgress], None]


class ProgressPrinter:
    """A ProgressHook that prints a line per region at most every `interval` seconds, and always the
    region's last one."""

    def __init__(
        self,
        stream: TextIO,
        *,
        interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._interval = PROGRESS_INTERVAL_SECONDS if interval is None else interval
        self._clock = clock
        self._printed: dict[str, tuple[float, RegionProgress]] = {}

    def __call__(self, progress: RegionProgress) -> None:
        now = self._clock()
        last = self._printed.get(progress.region)
        if last is not None and (
            last[1] == progress or (not progress.finished and now - last[0] < self._interval)
        ):
            return
        self._printed[progress.region] = (now, progress)
        self._stream.write(f"{describe(progress)}\n")
        self._stream.flush()


def describe(progress: RegionProgress) -> str:
    if progress.total is None:
        return f"{progress.region}: {progress.done} repositories done, still listing"
    suffix = ", done" if progress.finished else ""
    return f"{progress.region}: {progress.done}/{progress.total} repositories{suffix}"
