"""The nightly trigger: an EventBridge rule that invokes the function with the event `{}`, or, with
fan-out, starts the state machine with the input `{}`."""

from __future__ import annotations

from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

SCHEDULED_EVENT: dict[str, object] = {}
"""A plain run: the config decides dry run or not. The handler also accepts {"dryRun": true}."""


class NightlySchedule(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.IFunction,
        expression: str,
        state_machine: sfn.IStateMachine | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        event = events.RuleTargetInput.from_object(SCHEDULED_EVENT)
        # EventBridge only hands the event over (an async invoke, or StartExecution); Lambda's own retry
        # and failure destination, or the state machine, take it from there. Retry a refused hand-over.
        target: events.IRuleTarget = (
            targets.LambdaFunction(function, event=event, retry_attempts=2)
            if state_machine is None
            else targets.SfnStateMachine(state_machine, input=event, retry_attempts=2)
        )
        self.rule = events.Rule(
            self,
            "Rule",
            description=f"ECR Janitor run: {expression} (UTC)",
            schedule=events.Schedule.expression(expression),
            targets=[target],
        )
