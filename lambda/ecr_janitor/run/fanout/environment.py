"""What the stack tells the fan-out steps through the function's environment: the run bucket, how many
workers run at once, how many repositories a slice holds."""

from __future__ import annotations

import os

from ecr_janitor.adapters import clients
from ecr_janitor.constants import (
    ENV_FANOUT_CONCURRENCY,
    ENV_FANOUT_SLICE_SIZE,
    ENV_RUN_BUCKET,
    FANOUT_DEFAULT_CONCURRENCY,
    FANOUT_DEFAULT_SLICE_SIZE,
)
from ecr_janitor.run.fanout.store import RunStore


def run_store(region: str, run_id: str) -> RunStore:
    bucket = os.environ.get(ENV_RUN_BUCKET)
    if not bucket:
        raise RuntimeError(
            f"{ENV_RUN_BUCKET} is not set: fan-out steps run only in a stack deployed with "
            "-c fanOut=true; nothing was done"
        )
    return RunStore(clients.client("s3", region), bucket, run_id)


def _positive_int(name: str, default: int) -> int:
    try:
        value = int(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value >= 1 else default


def fanout_concurrency() -> int:
    return _positive_int(ENV_FANOUT_CONCURRENCY, FANOUT_DEFAULT_CONCURRENCY)


def slice_size() -> int:
    return _positive_int(ENV_FANOUT_SLICE_SIZE, FANOUT_DEFAULT_SLICE_SIZE)
