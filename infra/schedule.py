"""The nightly trigger: an EventBridge Scheduler schedule, in a time zone of the deployer's choosing, that
invokes the function with the event `{}`, or, with fan-out, starts the state machine with the input `{}`.

Scheduler (rather than an EventBridge rule) evaluates cron in a named IANA time zone, daylight saving
included, so "03:00 in Europe/Berlin" stays 03:00 all year; a rule only knows UTC. It reaches its target
through a role of its own that may invoke exactly this function (no versions or aliases: aws-cdk-lib's
L2 target would grant `<function>:*`), or start exactly this state machine, and put a hand-over that
failed in the failure queue.
"""

from __future__ import annotations

import json

from aws_cdk import Aws, Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

SCHEDULED_EVENT: dict[str, object] = {}
"""A plain run: the config decides dry run or not. The handler also accepts {"dryRun": true}."""

HAND_OVER_RETRIES = 2
"""Scheduler only hands the event over (an async invoke, or StartExecution); Lambda's own retry and
failure destination, or the state machine, take it from there. A refused hand-over is retried twice,
then the event goes to the failure queue, whose alarm fires."""
HAND_OVER_MAX_AGE = Duration.hours(6)
"""Like the function's own queue age: a nightly run handed over more than 6 hours late is not worth it."""


class NightlySchedule(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.IFunction,
        expression: str,
        time_zone: str,
        failure_queue: sqs.IQueue,
        state_machine: sfn.IStateMachine | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            ),
            description="ECR Janitor schedule: start the nightly run",
        )
        if state_machine is None:
            target_arn = function.function_arn
            self.role.add_to_policy(
                iam.PolicyStatement(sid="StartRun", actions=["lambda:InvokeFunction"], resources=[target_arn])
            )
        else:
            target_arn = state_machine.state_machine_arn
            self.role.add_to_policy(
                iam.PolicyStatement(sid="StartRun", actions=["states:StartExecution"], resources=[target_arn])
            )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="KeepFailedHandOvers", actions=["sqs:SendMessage"], resources=[failure_queue.queue_arn]
            )
        )
        self.schedule = scheduler.CfnSchedule(
            self,
            "Schedule",
            description=f"ECR Janitor run: {expression} ({time_zone})",
            schedule_expression=expression,
            schedule_expression_timezone=time_zone,
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            state="ENABLED",
            target=scheduler.CfnSchedule.TargetProperty(
                arn=target_arn,
                role_arn=self.role.role_arn,
                input=json.dumps(SCHEDULED_EVENT),
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_retry_attempts=HAND_OVER_RETRIES,
                    maximum_event_age_in_seconds=int(HAND_OVER_MAX_AGE.to_seconds()),
                ),
                dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(
                    arn=failure_queue.queue_arn
                ),
            ),
        )
