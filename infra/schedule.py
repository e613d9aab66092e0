"""The nightly trigger: an EventBridge rule that invokes the function with the event `{}`."""

from __future__ import annotations

from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

SCHEDULED_EVENT: dict[str, object] = {}
"""A plain run: the config decides dry run or not. The handler also accepts {"dryRun": true}."""


class NightlySchedule(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, function: lambda_.IFunction, expression: str
    ) -> None:
        super().__init__(scope, construct_id)
        self.rule = events.Rule(
            self,
            "Rule",
            description=f"ECR Janitor run: {expression} (UTC)",
            schedule=events.Schedule.expression(expression),
            targets=[
                targets.LambdaFunction(
                    function,
                    event=events.RuleTargetInput.from_object(SCHEDULED_EVENT),
                    # EventBridge only hands the event over (an async invoke); Lambda's own retry and
                    # failure destination take it from there. Retry a refused hand-over a few times.
                    retry_attempts=2,
                )
            ],
        )
