"""One measured cleaner run, in its own process so that its memory is its own: `project` (the janitor, as
the Lambda runs it: totals only) or `sequential` (bench/sequential.py). Prints one JSON line."""

from __future__ import annotations

import json
import resource
import sys
import time
import tracemalloc
from datetime import UTC, datetime

import boto3

from bench import sequential
from ecr_janitor.adapters import clients
from ecr_janitor.config import load_config
from ecr_janitor.run import janitor

REGION = "us-east-1"


def main(argv: list[str]) -> int:
    which, config_path = argv[1], argv[2]
    trace = "--trace-memory" in argv
    if trace:
        tracemalloc.start()
    now = datetime.now(UTC)
    before = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = before.ru_utime + before.ru_stime
    started = time.perf_counter()
    if which == "project":
        config = load_config(config_path)
        request = janitor.RunRequest("run", False, "benchmark", [REGION], now, details=False)
        report = janitor.run_on_aws(config, request)
        totals = report.totals()
        result = {"imagesScanned": totals["imagesScanned"], "imagesExpired": totals["imagesExpired"]}
        failures = report.has_failures
    else:
        # The same client settings (adaptive retries), so the comparison is about concurrency only.
        result = sequential.clean(boto3.client("ecr", region_name=REGION, config=clients.CLIENT_CONFIG), now)
        failures = False
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak = tracemalloc.get_traced_memory()[1] if trace else None
    print(
        json.dumps(
            {
                **result,
                "failures": failures,
                "wallSeconds": wall,
                "cpuSeconds": usage.ru_utime + usage.ru_stime - cpu_before,
                "peakPythonBytes": peak,
                "maxRssKiB": usage.ru_maxrss,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
