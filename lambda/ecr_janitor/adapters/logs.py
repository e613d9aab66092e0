"""The function's CloudWatch Logs, read back: the lines of one run, for `restore --run --log-group`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ecr_janitor.adapters.clients import pages


def lines_mentioning(client: Any, log_group: str, run_id: str) -> Iterator[str]:
    """Every log event of `log_group` whose message contains `run_id`. The quoted-term filter pattern is
    applied by CloudWatch, so only the run's own lines come back; the caller picks the events it wants."""
    events = pages(client, "filter_log_events", "events", logGroupName=log_group, filterPattern=f'"{run_id}"')
    for event in events:
        yield str(event.get("message", ""))
