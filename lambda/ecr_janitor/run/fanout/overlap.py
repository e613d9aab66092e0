"""Runs never overlap: a fan-out run stops before doing anything while an earlier one is running."""

from __future__ import annotations

from datetime import datetime
from typing import Any


class RunInProgressError(RuntimeError):
    """Another execution of the state machine is still running; this one stopped before doing anything."""


def refuse_overlap(client: Any, state_machine_arn: str, execution_arn: str, started_at: datetime) -> None:
    """When an earlier execution is still running, this one stops before doing anything (and fails, so
    the alarm says so). Two started at the same instant: the ARN decides."""
    running = [
        execution
        for page in client.get_paginator("list_executions").paginate(
            stateMachineArn=state_machine_arn, statusFilter="RUNNING"
        )
        for execution in page["executions"]
    ]
    mine = next((e["startDate"] for e in running if e["executionArn"] == execution_arn), started_at)
    earlier = sorted(
        (e["startDate"], e["executionArn"], e["name"])
        for e in running
        if e["executionArn"] != execution_arn and (e["startDate"], e["executionArn"]) < (mine, execution_arn)
    )
    if earlier:
        started, _, name = earlier[0]
        raise RunInProgressError(
            f"run {name}, started {started.isoformat()}, is still running; runs never overlap, so this one "
            "stopped before doing anything"
        )
