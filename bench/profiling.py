"""A thread-aware CPU profile of one run, with the standard library only.

cProfile profiles the thread that enables it, so every thread started while profiling gets its own
profiler (through `threading.setprofile`, which runs in each new thread before its target), and each
profiler is timed by its thread's CPU clock (`time.thread_time`): a thread blocked on a socket, a sleep or
the GIL accumulates nothing, so cumulative times are CPU seconds, not wall time. The profiles are merged
when the run ends. Profiling slows the run several-fold: it says where the CPU goes, relative to the
rest; the timed runs are made without it.
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_PLUMBING = ("threading.py", "concurrent/futures/", "/bench/", "<frozen ", "cProfile.py", "profiling.py")
"""Frames whose cumulative time is everything below them (thread entry points, the bench itself)."""
_AREAS = (
    ("logging", ("/logging/", "aws_lambda_powertools/logging", "observability.py")),
    ("botocore parsing", ("botocore/parsers.py", "botocore/utils.py", "dateutil/", "botocore/response.py")),
    ("botocore other", ("botocore/", "boto3/", "s3transfer/")),
    ("http", ("urllib3/", "http/client.py", "socket.py", "ssl.py", "email/")),
    ("json", ("json/",)),
    ("ecr_janitor", ("ecr_janitor/",)),
    ("import", ("importlib", "<frozen importlib")),
    ("threads", ("threading.py", "concurrent/futures/", "queue.py")),
)


class ThreadProfiles:
    """`run(fn)` calls `fn` with a CPU profiler in its thread and in every thread started meanwhile."""

    def __init__(self) -> None:
        self._profiles: list[cProfile.Profile] = []
        self._lock = threading.Lock()

    def _new(self) -> cProfile.Profile:
        profile = cProfile.Profile(time.thread_time)
        with self._lock:
            self._profiles.append(profile)
        return profile

    def _start_in_new_thread(self, *_: Any) -> None:
        sys.setprofile(None)
        self._new().enable()

    def run(self, fn: Callable[[], T]) -> T:
        threading.setprofile(self._start_in_new_thread)
        main = self._new()
        main.enable()
        try:
            return fn()
        finally:
            main.disable()
            threading.setprofile(None)  # None clears the hook

    def stats(self) -> pstats.Stats:
        with self._lock:
            profiles = list(self._profiles)
        merged = pstats.Stats(profiles[0])
        for profile in profiles[1:]:
            merged.add(profile)
        return merged


def _name(key: tuple[str, int, str]) -> str:
    path, line, function = key
    if path == "~":  # a built-in
        return function
    parts = path.replace("\\", "/").split("/")
    for marker in ("site-packages", "lambda", "python3.11", "python3.12", "python3.13"):
        if marker in parts:
            parts = parts[parts.index(marker) + 1 :]
            break
    return f"{'/'.join(parts[-3:])}:{line}({function})"


def summary(stats: pstats.Stats, *, top: int = 15) -> dict[str, Any]:
    """The top functions by cumulative CPU (thread plumbing and the bench left out), and the CPU spent
    in each area's own code (self time, so the areas add up; a built-in's goes to its callers' areas)."""
    entries: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = stats.stats  # type: ignore[attr-defined]
    total = sum(tottime for _cc, _nc, tottime, _ct, _callers in entries.values())
    ranked = sorted(entries.items(), key=lambda item: item[1][3], reverse=True)
    functions = [
        {"function": _name(key), "calls": nc, "cumulativeSeconds": round(ct, 3), "selfSeconds": round(tt, 3)}
        for key, (_cc, nc, tt, ct, _callers) in ranked
        if key[0] != "~" and not any(marker in key[0] for marker in _PLUMBING)
    ]
    areas: dict[str, float] = {}
    for (path, _line, _function), (_cc, _nc, tottime, _ct, callers) in entries.items():
        # A built-in's own time belongs to the area of the code that called it.
        shares = callers.items() if path == "~" and callers else [((path, 0, ""), (0, 0, tottime, 0))]
        for (caller_path, _l, _f), (_c, _n, caller_tottime, _t) in shares:
            area = next((name for name, markers in _AREAS if any(m in caller_path for m in markers)), "other")
            areas[area] = areas.get(area, 0.0) + caller_tottime
    return {
        "profiledCpuSeconds": round(total, 3),
        "top": functions[:top],
        "areas": {name: round(seconds, 3) for name, seconds in sorted(areas.items(), key=lambda a: -a[1])},
    }


def lines(profile: dict[str, Any]) -> list[str]:
    """The summary as text: areas as shares of the profiled CPU, then the top functions."""
    total = profile["profiledCpuSeconds"] or 1.0
    return [
        "  CPU by area (own time): "
        + ", ".join(f"{name} {seconds / total:.0%}" for name, seconds in profile["areas"].items()),
        f"  {'cumulative':>10} {'self':>7} {'calls':>8}  function (top by cumulative CPU, profiled run)",
        *(
            f"  {f['cumulativeSeconds'] / total:>10.1%} {f['selfSeconds'] / total:>7.1%} {f['calls']:>8}  "
            f"{f['function']}"
            for f in profile["top"]
        ),
    ]
