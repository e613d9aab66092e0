"""The EventBridge Scheduler schedule: nightly by default, in a configurable time zone, an event the
handler accepts, and a role that may start exactly the run and nothing else."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ecr_janitor.events import parse_event
from infra.settings import DEFAULT_SCHEDULE, DEFAULT_SCHEDULE_TIMEZONE
from tests.infra.cdk_support import Synth, Synthesized, policy_statements


def _schedule(synthesized: Synthesized) -> dict[str, Any]:
    properties: dict[str, Any] = synthesized.only("AWS::Scheduler::Schedule")["Properties"]
    return properties


def _role_statements(synthesized: Synthesized, role_arn: dict[str, Any]) -> list[dict[str, Any]]:
    (role_id, _) = role_arn["Fn::GetAtt"]
    attached = {
        logical_id
        for logical_id, policy in synthesized.resources("AWS::IAM::Policy").items()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
    }
    return [statement for policy, statement in policy_statements(synthesized) if policy in attached]


def test_runs_nightly_at_three_utc_by_default(default: Synthesized) -> None:
    assert (DEFAULT_SCHEDULE, DEFAULT_SCHEDULE_TIMEZONE) == ("cron(0 3 * * ? *)", "UTC")
    schedule = _schedule(default)
    assert schedule["ScheduleExpression"] == "cron(0 3 * * ? *)"
    assert schedule["ScheduleExpressionTimezone"] == "UTC"
    assert schedule["State"] == "ENABLED"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert not default.resources("AWS::Events::Rule")


def test_targets_the_function_with_an_empty_event_and_keeps_failed_hand_overs(default: Synthesized) -> None:
    (function_id,) = default.resources("AWS::Lambda::Function")
    (queue_id,) = default.resources("AWS::SQS::Queue")
    target = _schedule(default)["Target"]
    assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert json.loads(target["Input"]) == {}
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 6 * 3600}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [queue_id, "Arn"]}}
    assert not default.resources("AWS::Lambda::Permission")  # Scheduler uses its role, not a resource policy


def test_the_schedules_role_may_invoke_exactly_the_function_and_nothing_else(default: Synthesized) -> None:
    (function_id,) = default.resources("AWS::Lambda::Function")
    (queue_id,) = default.resources("AWS::SQS::Queue")
    target = _schedule(default)["Target"]
    statements = _role_statements(default, target["RoleArn"])
    assert sorted((s["Action"], s["Resource"]) for s in statements) == [
        (["lambda:InvokeFunction"], ["${" + function_id + ".Arn}"]),  # no `:*` versions or aliases
        (["sqs:SendMessage"], ["${" + queue_id + ".Arn}"]),
    ]
    (role_id, _) = target["RoleArn"]["Fn::GetAtt"]
    trust = default.resources("AWS::IAM::Role")[role_id]["Properties"]["AssumeRolePolicyDocument"]
    assert trust["Statement"] == [
        {
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
            "Effect": "Allow",
            "Principal": {"Service": "scheduler.amazonaws.com"},
        }
    ]
    assert "ManagedPolicyArns" not in default.resources("AWS::IAM::Role")[role_id]["Properties"]


def test_the_scheduled_event_is_a_plain_run_for_the_handler(default: Synthesized) -> None:
    request = parse_event(json.loads(_schedule(default)["Target"]["Input"]))
    assert request.forces_dry_run is False  # the config decides, as for `python -m ecr_janitor run`


@pytest.mark.parametrize(
    ("expression", "time_zone"), [("rate(12 hours)", "UTC"), ("cron(30 1 * * ? *)", "Europe/Berlin")]
)
def test_schedule_and_time_zone_come_from_the_context(synth: Synth, expression: str, time_zone: str) -> None:
    schedule = _schedule(synth(schedule=expression, schedule_timezone=time_zone))
    assert schedule["ScheduleExpression"] == expression
    assert schedule["ScheduleExpressionTimezone"] == time_zone
    assert schedule["Description"] == f"ECR Janitor run: {expression} ({time_zone})"
