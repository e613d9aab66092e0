"""The EventBridge schedule: nightly by default, configurable, and an event the handler accepts."""

from __future__ import annotations

import json

from ecr_janitor.events import parse_event
from infra.settings import DEFAULT_SCHEDULE
from tests.infra.cdk_support import Synth, Synthesized


def test_runs_nightly_at_three_utc_by_default(default: Synthesized) -> None:
    assert DEFAULT_SCHEDULE == "cron(0 3 * * ? *)"
    rule = default.only("AWS::Events::Rule")["Properties"]
    assert rule["ScheduleExpression"] == "cron(0 3 * * ? *)"
    assert rule["State"] == "ENABLED"


def test_targets_the_function_with_an_empty_event(default: Synthesized) -> None:
    (function_id,) = default.resources("AWS::Lambda::Function")
    (target,) = default.only("AWS::Events::Rule")["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert json.loads(target["Input"]) == {}
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 2}
    (permission,) = default.resources("AWS::Lambda::Permission").values()
    assert permission["Properties"]["Principal"] == "events.amazonaws.com"


def test_the_scheduled_event_is_a_plain_run_for_the_handler(default: Synthesized) -> None:
    (target,) = default.only("AWS::Events::Rule")["Properties"]["Targets"]
    request = parse_event(json.loads(target["Input"]))
    assert request.forces_dry_run is False  # the config decides, as for `python -m ecr_janitor run`


def test_schedule_comes_from_the_context(synth: Synth) -> None:
    rule = synth(schedule="rate(12 hours)").only("AWS::Events::Rule")["Properties"]
    assert rule["ScheduleExpression"] == "rate(12 hours)"
