"""The whole deployment: the function, its nightly schedule, the dashboard and the alarms."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aws_cdk import Aws, CfnOutput, Stack
from constructs import Construct

from ecr_janitor.config import Config
from infra.alarms import JanitorAlarms
from infra.dashboard import JanitorDashboard
from infra.eks_access import EksAccess
from infra.fanout import FanOut
from infra.function import JanitorFunction
from infra.permissions import MemberAccess
from infra.schedule import NightlySchedule
from infra.settings import DEFAULT_SCHEDULE_TIMEZONE, FanOutSettings, VpcSettings

STACK_NAME = "EcrJanitor"


class EcrJanitorStack(Stack):
    """Environment-agnostic (no account, no region, no lookups): `cdk synth` needs no credentials.

    `code_dir` is the staged code asset (infra.package.stage_function_code), with the config in it;
    `config` is the same validated config, for what the infrastructure derives from it (the regions).
    `fan_out` (opt-in) adds the Step Functions fan-out and points the schedule at it.
    `eks_clusters` get an access entry for the function's role; `vpc` places the function in subnets.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str = STACK_NAME,
        *,
        config: Config,
        code_dir: Path,
        schedule: str,
        alarm_email: str | None,
        schedule_timezone: str = DEFAULT_SCHEDULE_TIMEZONE,
        fan_out: FanOutSettings | None = None,
        eks_clusters: Sequence[str] = (),
        vpc: VpcSettings | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description="ECR Janitor: nightly cleanup of Amazon ECR repositories, dashboard and alarms",
            **kwargs,
        )
        janitor = JanitorFunction(
            self,
            "Janitor",
            code_dir=code_dir,
            regions=config.regions,
            targets=config.targets,
            image_lists=config.protect.extra_image_lists,
            # With fan-out: the map's workers, plus one slot for a manual invoke or a retried step.
            reserved_concurrency=1 if fan_out is None else fan_out.concurrency + 1,
            eks=config.protect.eks if config.protect.reads_eks else None,
            vpc=vpc,
            member_access=MemberAccess.of(config),
        )
        if eks_clusters:
            EksAccess(self, "EksAccess", role=janitor.role, clusters=eks_clusters)
        runs = (
            None
            if fan_out is None
            else FanOut(self, "FanOut", function=janitor.function, role=janitor.role, settings=fan_out)
        )
        state_machine = runs.state_machine if runs else None
        NightlySchedule(
            self,
            "Schedule",
            function=janitor.function,
            expression=schedule,
            time_zone=schedule_timezone,
            failure_queue=janitor.failure_queue,
            state_machine=state_machine,
        )
        alarms = JanitorAlarms(
            self, "Alarms", janitor=janitor, alarm_email=alarm_email, state_machine=state_machine
        )
        dashboard = JanitorDashboard(self, "Dashboard", janitor=janitor, alarms=list(alarms.alarms.values()))
        CfnOutput(self, "FunctionName", value=janitor.function.function_name)
        CfnOutput(self, "LogGroupName", value=janitor.log_group.log_group_name)
        CfnOutput(self, "AlarmTopicArn", value=alarms.topic.topic_arn)
        CfnOutput(self, "FailureQueueUrl", value=janitor.failure_queue.queue_url)
        # The function's role: the principal of an EKS access entry, and what member accounts trust
        # (stack EcrJanitorMemberRole's parameter JanitorRoleArn).
        CfnOutput(self, "RoleArn", value=janitor.role.role_arn)
        CfnOutput(
            self,
            "DashboardUrl",
            value=f"https://{Aws.REGION}.console.aws.amazon.com/cloudwatch/home?region={Aws.REGION}"
            f"#dashboards/dashboard/{dashboard.dashboard.dashboard_name}",
        )
        if runs is not None:
            CfnOutput(self, "StateMachineArn", value=runs.state_machine.state_machine_arn)
            CfnOutput(self, "RunBucketName", value=runs.bucket.bucket_name)
