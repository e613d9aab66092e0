"""The events the function accepts: the nightly run, and the fan-out state machine's three steps."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ecr_janitor.events import (
    InvalidEventError,
    PrepareStep,
    SummaryStep,
    WorkerStep,
    parse_event,
)

ARN = "arn:aws:ecr:us-east-1:123456789012:repository/"
WORKER: dict[str, Any] = {
    "dryRun": False,
    "fanOut": {
        "step": "worker",
        "runId": "3f1c0d2e-9b8a-4c7d-8e6f-5a4b3c2d1e0f",
        "startedAt": "2026-11-25T03:00:00.123Z",
        "sliceIndex": 7,
        "slice": {
            "region": "us-east-1",
            "repositories": [
                {"name": "team/api", "arn": ARN + "team/api"},
                {"name": "web", "arn": ARN + "web"},
            ],
        },
    },
}
PREPARE: dict[str, Any] = {
    "fanOut": {
        "step": "prepare",
        "runId": "3f1c0d2e-9b8a-4c7d-8e6f-5a4b3c2d1e0f",
        "startedAt": "2026-11-25T03:00:00.123Z",
        "executionArn": "arn:aws:states:us-east-1:123456789012:execution:Janitor:3f1c0d2e-9b8a",
        "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:Janitor",
        "input": {},
    }
}
SUMMARY: dict[str, Any] = {
    "dryRun": True,
    "fanOut": {
        "step": "summary",
        "runId": "nightly-1",
        "results": {"manifestKey": "runs/nightly-1/results/abc/manifest.json"},
    },
}


def changed(event: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy with the value at a dotted path replaced (or removed, when value is ...)."""
    copied = copy.deepcopy(event)
    *parents, last = path.split(".")
    target: Any = copied
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if value is ...:
        del target[last]
    elif isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return copied


def test_each_step_parses_to_its_model() -> None:
    prepare, worker, summary = (parse_event(e).fan_out for e in (PREPARE, WORKER, SUMMARY))
    assert isinstance(prepare, PrepareStep)
    assert isinstance(worker, WorkerStep)
    assert isinstance(summary, SummaryStep)
    assert worker.slice.region == "us-east-1"
    assert [r.name for r in worker.slice.repositories] == ["team/api", "web"]
    assert worker.started_at is not None
    assert worker.started_at.utcoffset() is not None
    assert summary.results.manifest_key == "runs/nightly-1/results/abc/manifest.json"


def test_a_run_without_slices_has_no_manifest() -> None:
    step = parse_event(changed(SUMMARY, "fanOut.results", {})).fan_out
    assert isinstance(step, SummaryStep)
    assert step.results.manifest_key is None


@pytest.mark.parametrize(
    ("event", "forced"),
    [
        (PREPARE, False),
        (changed(PREPARE, "fanOut.input", {"dryRun": True}), True),
        (changed(PREPARE, "fanOut.input", {"dryRun": False}), False),
        ({**PREPARE, "dryRun": True}, True),
        ({**PREPARE, "dryRun": False}, False),
        (WORKER, False),
        ({**WORKER, "dryRun": True}, True),
        (changed(WORKER, "dryRun", ...), False),
        (SUMMARY, True),
    ],
)
def test_dry_run_is_forced_by_the_event_or_the_execution_input_never_cancelled(
    event: dict[str, Any], forced: bool
) -> None:
    assert parse_event(event).forces_dry_run is forced


def test_the_execution_input_may_be_the_scheduled_event() -> None:
    scheduled = {"version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}
    step = parse_event(changed(PREPARE, "fanOut.input", scheduled)).fan_out
    assert isinstance(step, PrepareStep)
    assert step.input is not None
    assert step.input.forces_dry_run is False


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"fanOut": {"step": "clean"}}, "fanOut: Input tag 'clean' found using 'step' does not match"),
        ({"fanOut": {"runId": "x"}}, "fanOut: Unable to extract tag using discriminator 'step'"),
        ({"fanOut": "worker"}, "fanOut"),
        (changed(PREPARE, "fanOut.input", {"dryrun": True}), "fanOut.prepare.input.dryrun: Extra inputs"),
        (changed(PREPARE, "fanOut.input", {"dryRun": "yes"}), "fanOut.prepare.input.dryRun: Input should be"),
        (
            changed(PREPARE, "fanOut.input", {"fanOut": SUMMARY["fanOut"]}),
            "the execution input can't itself hold fanOut",
        ),
        (changed(PREPARE, "fanOut.runId", "../other"), "fanOut.prepare.runId: String should match pattern"),
        (changed(PREPARE, "fanOut.runId", "a b"), "fanOut.prepare.runId: String should match pattern"),
        (changed(PREPARE, "fanOut.startedAt", "2026-11-25T03:00:00"), "fanOut.prepare.startedAt"),
        (changed(PREPARE, "fanOut.executionArn", "arn:aws:s3:::bucket"), "fanOut.prepare.executionArn"),
        (changed(PREPARE, "fanOut.regions", ["us-east-1"]), "fanOut.prepare.regions: Extra inputs"),
        (changed(WORKER, "dryRun", "true"), "dryRun: Input should be a valid boolean"),
        (changed(WORKER, "fanOut.sliceIndex", -1), "fanOut.worker.sliceIndex"),
        (changed(WORKER, "fanOut.slice", ...), "fanOut.worker.slice: Field required"),
        (changed(WORKER, "fanOut.slice.repositories", []), "fanOut.worker.slice.repositories: List should"),
        (changed(WORKER, "fanOut.slice.region", "moon-1"), "fanOut.worker.slice.region: String should match"),
        (
            changed(WORKER, "fanOut.slice.repositories.0.name", "Team/API"),
            "fanOut.worker.slice.repositories.0.name: String should match pattern",
        ),
        (
            changed(WORKER, "fanOut.slice.repositories.1.arn", ARN.replace("us-east-1", "us-west-2") + "web"),
            "repository web: arn 'arn:aws:ecr:us-west-2:123456789012:repository/web' is not that "
            "repository's ARN in us-east-1",
        ),
        (
            changed(WORKER, "fanOut.slice.repositories.1.arn", ARN + "web-other"),
            "repository web: arn .* is not that repository's ARN",
        ),
        (changed(WORKER, "fanOut.slice.repositories.0.tags", {}), "repositories.0.tags: Extra inputs"),
        (changed(SUMMARY, "fanOut.results.manifestKey", 3), "fanOut.summary.results.manifestKey"),
        (changed(SUMMARY, "fanOut.totals", {}), "fanOut.summary.totals: Extra inputs"),
    ],
)
def test_bad_fan_out_events_are_refused_with_the_field_named(event: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidEventError, match=message) as refused:
        parse_event(event)
    assert str(refused.value).endswith("nothing was done")
    assert '"fanOut": {"step": "prepare" | "worker" | "summary", ...}' in str(refused.value)


@pytest.mark.parametrize("event", [{}, None, {"dryRun": True}, {"dryRun": False}])
def test_the_nightly_events_are_unchanged(event: dict[str, Any] | None) -> None:
    parsed = parse_event(event)
    assert parsed.fan_out is None
    assert parsed.forces_dry_run is (event == {"dryRun": True})
