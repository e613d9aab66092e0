"""Alarms to one SNS topic: the run failed, a repository or a deletion failed, no run for 26 hours, the run
is close to the Lambda timeout, an invocation ended in the failure queue, a propagate policy was held or
puts images the janitor keeps at risk; with fan-out, an execution of the state machine failed."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from ecr_janitor import constants as c
from infra.cloudwatch import DURATION_WARNING_FRACTION, janitor_metric
from infra.function import JanitorFunction

NO_RUN_HOURS = 26
"""A nightly run plus two hours of slack for a run delayed behind a manual one."""
HOUR = Duration.hours(1)


class JanitorAlarms(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        janitor: JanitorFunction,
        alarm_email: str | None,
        state_machine: sfn.IStateMachine | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        function, timeout, failure_queue = janitor.function, janitor.timeout, janitor.failure_queue
        # TLS-only. Not KMS-encrypted: it carries only alarm state changes, and CloudWatch can't publish
        # to a topic under the AWS-managed SNS key (a customer-managed key would be needed, for nothing).
        self.topic = sns.Topic(self, "Topic", display_name="ECR Janitor alarms", enforce_ssl=True)
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))

        prefix = Stack.of(self).stack_name
        action = cw_actions.SnsAction(self.topic)
        missing_is_fine = cw.TreatMissingData.NOT_BREACHING
        above_zero = cw.ComparisonOperator.GREATER_THAN_THRESHOLD

        def alarm(
            name: str,
            metric: cw.IMetric,
            description: str,
            *,
            threshold: float = 0,
            operator: cw.ComparisonOperator = above_zero,
            periods: int = 1,
            missing: cw.TreatMissingData = missing_is_fine,
        ) -> cw.Alarm:
            created = cw.Alarm(
                self,
                name,
                alarm_name=f"{prefix}-{name}",
                alarm_description=description,
                metric=metric,
                threshold=threshold,
                comparison_operator=operator,
                evaluation_periods=periods,
                datapoints_to_alarm=periods,
                treat_missing_data=missing,
            )
            created.add_alarm_action(action)
            created.add_ok_action(action)
            return created

        timeout_ms = timeout.to_milliseconds()
        self.alarms: dict[str, cw.Alarm] = {
            "FunctionErrors": alarm(
                "FunctionErrors",
                function.metric_errors(period=HOUR, statistic=cw.Stats.SUM),
                "The janitor run raised an error (invalid config, missing permission, bug). Nothing after "
                "the error was done. See the function's log group.",
            ),
            "RepositoriesFailed": alarm(
                "RepositoriesFailed",
                janitor_metric(c.REPOSITORIES_FAILED, statistic=cw.Stats.MAXIMUM, period=HOUR),
                "The last run could not read some repositories or regions; they were left untouched. "
                "See 'Latest failures' on the dashboard.",
            ),
            "DeleteFailures": alarm(
                "DeleteFailures",
                janitor_metric(c.DELETE_FAILURES, statistic=cw.Stats.MAXIMUM, period=HOUR),
                "ECR refused or did not confirm some deletions in the last run. "
                "See 'Latest failures' on the dashboard.",
            ),
            "ArchiveFailures": alarm(
                "ArchiveFailures",
                janitor_metric(c.ARCHIVE_FAILURES, statistic=cw.Stats.MAXIMUM, period=HOUR),
                "ECR refused or did not confirm archiving some images in the last run; an image whose "
                "index or subject was not archived was not asked for. See 'Latest failures' on the "
                "dashboard.",
            ),
            "InUseSourcesFailed": alarm(
                "InUseSourcesFailed",
                janitor_metric(c.IN_USE_SOURCES_FAILED, statistic=cw.Stats.MAXIMUM, period=HOUR),
                "The last run could not read a source of images in use (ECS, Lambda, Batch, Inspector, an "
                "EKS cluster, an image list or another account's role), so it deleted nothing at all. "
                "Usually a missing permission; see 'Latest failures' on the dashboard.",
            ),
            "NoRecentRun": alarm(
                "NoRecentRun",
                # Emitted once by every completed run, so no data point means no completed run.
                janitor_metric(c.RUN_DURATION, statistic=cw.Stats.SAMPLE_COUNT, period=HOUR),
                f"No janitor run completed in the last {NO_RUN_HOURS} hours: the schedule is disabled, "
                "the function fails or times out before publishing metrics, or it is throttled.",
                threshold=1,
                operator=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
                periods=NO_RUN_HOURS,
                missing=cw.TreatMissingData.BREACHING,
            ),
            "DurationNearTimeout": alarm(
                "DurationNearTimeout",
                # Lambda's own metric: a run that times out publishes none of the janitor's.
                function.metric_duration(period=HOUR, statistic=cw.Stats.MAXIMUM),
                f"A run took more than {DURATION_WARNING_FRACTION:.0%} of the "
                f"{timeout.to_minutes()}-minute timeout: the registry is outgrowing one invocation.",
                threshold=timeout_ms * DURATION_WARNING_FRACTION,
            ),
            "FailedInvocations": alarm(
                "FailedInvocations",
                failure_queue.metric_approximate_number_of_messages_visible(
                    period=HOUR, statistic=cw.Stats.MAXIMUM
                ),
                "An invocation failed after its retry, or the schedule could not hand a run over, and "
                "the event was sent to the failure queue; the message says why. Delete it from the queue "
                "once handled.",
            ),
        }

        def on_first(spec: c.MetricSpec, description: str) -> cw.Alarm:
            """Fires when the last run's count of `spec` was above 0."""
            metric = janitor_metric(spec, statistic=cw.Stats.MAXIMUM, period=HOUR)
            return alarm(spec.name, metric, description)

        # onRisk: hold
        self.alarms["PoliciesHeld"] = on_first(
            c.POLICIES_HELD,
            "The last run held back propagate lifecycle policies: ECR would expire images the janitor "
            "protects (in use, protected tag), or an in-use source was unreadable. Nothing was written to "
            "those repositories. See the run's report (policy status held, atRisk) or the repository log "
            "lines; fix the policy, or set onRisk: put on the target to write it anyway.",
        )
        # ECR expires images the janitor keeps, under a policy in place, held, or written with onRisk: put
        self.alarms["PolicyImagesAtRisk"] = on_first(
            c.POLICY_IMAGES_AT_RISK,
            "Under a propagate lifecycle policy, ECR will expire or archive images the janitor would keep "
            "(in use, protected tag, the platform images or signatures of a kept image), whether the policy "
            "is already in place, held, or written with onRisk: put. ECR acts on its own schedule, within 24 "
            "hours: see the run's report (policy.preview.atRisk) or the repository log lines, and change "
            "the target's policy or move the repository to mode retain.",
        )
        if state_machine is not None:
            self.alarms["FanOutRunFailed"] = alarm(
                "FanOutRunFailed",
                state_machine.metric_failed(period=HOUR, statistic=cw.Stats.SUM),
                "A fan-out run ended failed: a worker failed (WorkersFailed: its slice counts in "
                "RepositoriesFailed, metrics were published), Prepare or Summary raised, or Prepare found "
                "an earlier run still running. The execution's failed step says which.",
            )
