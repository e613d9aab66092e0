"""One measured cleaner run, in its own process so that its memory and CPU are its own:

    python -m bench.measure project|sequential|pool CONFIG --scenario NAME [--workers N]
                            [--trace-memory] [--profile FILE]

`project` is the janitor as the Lambda runs it (totals only), `sequential` bench/sequential.py, `pool`
bench/pool.py with N threads. Each imports only what it needs, after the clock starts, so the process's
CPU is what a cold Lambda would spend: interpreter, imports and the run. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

REGION = "us-east-1"


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_rss_kib() -> int:
    """This process's peak resident set (VmHWM). Not ru_maxrss: Linux carries the parent's peak over an
    exec into the child's, so a child of the bench (which holds the whole seeded registry) would report
    the bench's own size."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _cleaner(
    which: str, config_path: str, scenario: str, workers: int
) -> Callable[[datetime], dict[str, Any]]:
    """The run to measure, with its modules imported."""
    if which == "project":
        from ecr_janitor.config import load_config
        from ecr_janitor.run import janitor

        def project(now: datetime) -> dict[str, Any]:
            config = load_config(config_path)
            request = janitor.RunRequest("run", False, "benchmark", [REGION], now, details=False)
            report = janitor.run_on_aws(config, request)
            totals = report.totals()
            return {
                "imagesScanned": totals["imagesScanned"],
                "imagesExpired": totals["imagesExpired"],
                "failures": report.has_failures,
            }

        return project

    import boto3

    from bench import pool, sequential
    from bench.scenario import SCENARIOS
    from ecr_janitor.adapters import clients

    def reference(now: datetime) -> dict[str, Any]:
        # The janitor's client settings (adaptive retries), so the comparison is about what surrounds
        # the calls.
        ecr = boto3.client("ecr", region_name=REGION, config=clients.CLIENT_CONFIG)
        if which == "pool":
            return {**pool.clean(ecr, SCENARIOS[scenario], now, workers=workers), "failures": False}
        return {**sequential.clean(ecr, SCENARIOS[scenario], now), "failures": False}

    return reference


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.measure")
    parser.add_argument("which", choices=["project", "sequential", "pool"])
    parser.add_argument("config")
    parser.add_argument("--scenario", default="nightly")
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--trace-memory", action="store_true")
    parser.add_argument("--profile", metavar="FILE", help="write a pstats file; the JSON gets a summary")
    args = parser.parse_args(argv[1:])
    started = time.perf_counter()
    clean = _cleaner(args.which, args.config, args.scenario, args.workers)
    if args.trace_memory:  # the run's heap: the modules imported above are the same at any registry size
        tracemalloc.start()
    now = datetime.now(UTC)
    cpu_before_run = _cpu()
    run_started = time.perf_counter()
    profile: dict[str, Any] | None = None
    if args.profile:
        from bench import profiling

        profiles = profiling.ThreadProfiles()
        result = profiles.run(lambda: clean(now))
        stats = profiles.stats()
        stats.dump_stats(args.profile)
        profile = profiling.summary(stats)
    else:
        result = clean(now)
    ended = time.perf_counter()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak = tracemalloc.get_traced_memory()[1] if args.trace_memory else None
    print(
        json.dumps(
            {
                **result,
                "wallSeconds": ended - run_started,
                "cpuSeconds": usage.ru_utime + usage.ru_stime,
                "runCpuSeconds": usage.ru_utime + usage.ru_stime - cpu_before_run,
                "importSeconds": run_started - started,
                "peakPythonBytes": peak,
                "maxRssKiB": _peak_rss_kib(),
                "profile": profile,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
