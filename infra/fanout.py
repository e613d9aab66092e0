"""The opt-in fan-out (`-c fanOut=true`): a Step Functions state machine that runs one nightly run as many
invocations of the same function, for registries one 15-minute invocation can't cover.

    Prepare ─► AnySlices? ─► Slices (Distributed Map) ─► Summary ─► AllWorkersDone? ─► Done
                   └───────► NoSlices ────────────────────┘                 └──────► WorkersFailed

- Prepare reads what is in use once, lists the covered repositories and writes runs/<runId>/slices.json.
- Slices reads that JSON array from S3 and runs one child execution (a worker invocation) per slice,
  at most `concurrency` at once. Every child's result goes to S3 (ResultWriter), not into the state.
- Summary adds the results up and publishes the run's metrics once, under the names the dashboard and
  the alarms already use. A failed worker makes the execution end in WorkersFailed.

Runs never overlap: Prepare stops (and fails the execution) while an earlier execution is running.
"""

from __future__ import annotations

import json

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from ecr_janitor.constants import (
    ENV_FANOUT_CONCURRENCY,
    ENV_FANOUT_SLICE_SIZE,
    ENV_RUN_BUCKET,
    FANOUT_PREPARE,
    FANOUT_SUMMARY,
    FANOUT_WORKER,
    RUNS_PREFIX,
    STATE_PREFIX,
)
from infra.settings import FanOutSettings

RESULT_WRITER_V2 = "@aws-cdk/aws-stepfunctions:useDistributedMapResultWriterV2"
"""aws-cdk-lib keeps the current ResultWriter behind a feature flag; set for this construct only."""

RUN_RETENTION = Duration.days(14)
"""A run's artifacts (slices, in-use snapshot, worker results, summary) are for looking into a run
after the fact; two weeks covers a holiday. state/ (what the next run starts with) never expires."""

LOG_RETENTION = logs.RetentionDays.THREE_MONTHS
"""Like the function's log group. The audit trail (every deletion) is in the function's log group."""

TOLERATED_FAILURE_PERCENTAGE = 100
"""A failed worker must not throw away what the others did: the map always completes, the summary
counts each failed slice's repositories in RepositoriesFailed, publishes the run's metrics, and the
execution then ends in WorkersFailed. With 0, one failed slice would fail the map, skip the summary and
leave the night without metrics."""

THROTTLED_RETRY_INTERVAL = Duration.seconds(30)
THROTTLED_RETRY_ATTEMPTS = 6
"""Lambda refuses an invoke when the reserved concurrency is used up (e.g. by a manual invoke): wait
and retry for ~30 minutes in all rather than fail the slice."""


class FanOut(Construct):
    """The run bucket, the state machine and its log group; the function's extra permissions and env."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.Function,
        role: iam.Role,
        settings: FanOutSettings,
    ) -> None:
        super().__init__(scope, construct_id)
        self.node.set_context(RESULT_WRITER_V2, True)  # before any state is created under this scope

        self.bucket = s3.Bucket(
            self,
            "Runs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireRuns",
                    prefix=RUNS_PREFIX,
                    expiration=RUN_RETENTION,
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            # No auto-delete (it needs a custom-resource Lambda): the bucket outlives the stack.
            removal_policy=RemovalPolicy.RETAIN,
        )
        Validations.of(self.bucket).acknowledge(
            Acknowledgment(
                id="AwsSolutions-S1",
                reason="The bucket holds only the janitor's own intermediate run files, written and read "
                "by the function and the state machine, whose every step is logged; access logs would add "
                "a second bucket for no audit value. Deletions are audited in the function's log group.",
            )
        )

        self._grant_function(function, role, settings)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            # /aws/vendedlogs/ keeps Step Functions' log delivery off the account's log resource policy.
            log_group_name=f"/aws/vendedlogs/states/{Stack.of(self).stack_name}-FanOut",
            retention=LOG_RETENTION,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            comment="ECR Janitor: one nightly run fanned out over many invocations of the janitor function",
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(self._definition(function, settings)),
            logs=sfn.LogOptions(
                destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True
            ),
            tracing_enabled=True,
        )
        # Prepare lists the running executions to keep runs from overlapping. A policy of its own: on the
        # function's role it would make the function depend on the state machine that invokes it.
        iam.Policy(
            self,
            "SeeRunningRuns",
            roles=[role],
            statements=[
                iam.PolicyStatement(
                    sid="SeeRunningRuns",
                    actions=["states:ListExecutions"],
                    resources=[self.state_machine.state_machine_arn],
                )
            ],
        )
        self._acknowledge_state_machine_role(function)

    def _grant_function(self, function: lambda_.Function, role: iam.Role, settings: FanOutSettings) -> None:
        function.add_environment(ENV_RUN_BUCKET, self.bucket.bucket_name)
        function.add_environment(ENV_FANOUT_CONCURRENCY, str(settings.concurrency))
        function.add_environment(ENV_FANOUT_SLICE_SIZE, str(settings.slice_size))
        role.add_to_policy(
            iam.PolicyStatement(
                sid="KeepRunArtifacts",
                actions=["s3:GetObject", "s3:PutObject"],
                resources=[
                    self.bucket.arn_for_objects(f"{RUNS_PREFIX}*"),
                    self.bucket.arn_for_objects(f"{STATE_PREFIX}*"),
                ],
            )
        )
        # Without ListBucket, S3 answers a missing object (the first run has no state/deferred.json)
        # with AccessDenied instead of NoSuchKey.
        role.add_to_policy(
            iam.PolicyStatement(
                sid="FindRunArtifacts", actions=["s3:ListBucket"], resources=[self.bucket.bucket_arn]
            )
        )
        Validations.of(role).acknowledge(
            *(
                Acknowledgment(
                    id=f"AwsSolutions-IAM5[Resource::<{Stack.of(self).get_logical_id(self.bucket.node.default_child)}.Arn>/{prefix}*]",  # type: ignore[arg-type]
                    reason="Objects under one prefix of the stack's own run bucket: runs/<runId>/ is named "
                    "by the execution at run time, and state/ holds what one run leaves for the next.",
                )
                for prefix in (RUNS_PREFIX, STATE_PREFIX)
            )
        )

    def _definition(self, function: lambda_.IFunction, settings: FanOutSettings) -> sfn.IChainable:
        runs = self.bucket.arn_for_objects(f"{RUNS_PREFIX}*")
        prepare = _invoke(
            self,
            "Prepare",
            function,
            sfn.TaskInput.from_object(
                {
                    "fanOut": {
                        "step": FANOUT_PREPARE,
                        "runId": sfn.JsonPath.string_at("$$.Execution.Name"),
                        "startedAt": sfn.JsonPath.string_at("$$.Execution.StartTime"),
                        "executionArn": sfn.JsonPath.string_at("$$.Execution.Id"),
                        "stateMachineArn": sfn.JsonPath.string_at("$$.StateMachine.Id"),
                        "input": sfn.JsonPath.object_at("$$.Execution.Input"),
                    }
                }
            ),
            "Read what is in use once, list the covered repositories into slices (runs/<runId>/)",
        )
        worker = _invoke(
            self,
            "CleanSlice",
            function,
            sfn.TaskInput.from_json_path_at("$"),
            "Clean the repositories of one slice: janitor.run on exactly them, no listing",
        )
        slices = sfn.DistributedMap(
            self,
            "Slices",
            comment="One worker invocation per slice, at most fanOutConcurrency at once",
            item_reader=RunsItemReader(runs, bucket=self.bucket, key=sfn.JsonPath.string_at("$.slicesKey")),
            item_selector={
                "dryRun": sfn.JsonPath.string_at("$.dryRun"),  # the run's decision reaches every worker
                "fanOut": {
                    "step": FANOUT_WORKER,
                    "runId": sfn.JsonPath.string_at("$.runId"),
                    "startedAt": sfn.JsonPath.string_at("$.startedAt"),
                    "sliceIndex": sfn.JsonPath.number_at("$$.Map.Item.Index"),
                    "slice": sfn.JsonPath.object_at("$$.Map.Item.Value"),
                },
            },
            max_concurrency=settings.concurrency,
            tolerated_failure_percentage=TOLERATED_FAILURE_PERCENTAGE,
            result_writer_v2=RunsResultWriter(
                runs, bucket=self.bucket, prefix=sfn.JsonPath.string_at("$.resultsPrefix")
            ),
            result_selector={"manifestKey": sfn.JsonPath.string_at("$.ResultWriterDetails.Key")},
            result_path="$.results",
            map_execution_type=sfn.StateMachineType.STANDARD,  # a worker runs up to 15 minutes
        )
        slices.item_processor(worker)
        no_slices = sfn.Pass(
            self,
            "NoSlices",
            comment="Nothing to clean (or no region could be listed): the summary still reports the run",
            result=sfn.Result.from_object({}),
            result_path="$.results",
        )
        summary = _invoke(
            self,
            "Summary",
            function,
            sfn.TaskInput.from_object(
                {
                    "dryRun": sfn.JsonPath.string_at("$.dryRun"),
                    "fanOut": {
                        "step": FANOUT_SUMMARY,
                        "runId": sfn.JsonPath.string_at("$.runId"),
                        "results": sfn.JsonPath.object_at("$.results"),
                    },
                }
            ),
            "Add the workers' results up and publish the run's metrics, once",
        )
        outcome = (
            sfn.Choice(self, "AllWorkersDone")
            .when(
                sfn.Condition.number_greater_than("$.workersFailed", 0),
                sfn.Fail(
                    self,
                    "WorkersFailed",
                    comment="Metrics are published; the failed slices' repositories count as failed",
                    error="WorkersFailed",
                    cause_path=sfn.JsonPath.string_at("$.message"),
                ),
            )
            .otherwise(sfn.Succeed(self, "Done"))
        )
        slices.next(summary)
        no_slices.next(summary)
        summary.next(outcome)
        return prepare.next(
            sfn.Choice(self, "AnySlices")
            .when(sfn.Condition.number_greater_than("$.slices", 0), slices)
            .otherwise(no_slices)
        )

    def _acknowledge_state_machine_role(self, function: lambda_.IFunction) -> None:
        stack = Stack.of(self)
        function_id = stack.get_logical_id(function.node.default_child)  # type: ignore[arg-type]
        machine_id = stack.get_logical_id(self.state_machine.node.default_child)  # type: ignore[arg-type]
        bucket_id = stack.get_logical_id(self.bucket.node.default_child)  # type: ignore[arg-type]
        # cdk-nag's spelling of the state machine's name in an ARN: {"Fn::Select": [6, Split(":", Ref)]}
        name = json.dumps(
            {"Fn::Select": [6, {"Fn::Split": [":", {"Ref": machine_id}]}]}, separators=(",", ":")
        )
        executions = f"arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{name}"
        # On the state machine: covers its role's default policy and the Distributed Map's own policy.
        Validations.of(self.state_machine).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason="Step Functions' log delivery (logs:CreateLogDelivery, PutResourcePolicy, ...) and "
                "X-Ray tracing (xray:PutTraceSegments, ...) have no resource-level permissions; aws-cdk-lib "
                "adds exactly those for logging at level ALL and tracing, which cdk-nag itself requires.",
            ),
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::<{function_id}.Arn>:*]",
                reason="aws-cdk-lib's LambdaInvoke grants the janitor function and its versions; the "
                "state machine invokes nothing but this one function of the same stack.",
            ),
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::<{bucket_id}.Arn>/{RUNS_PREFIX}*]",
                reason="The Distributed Map reads the run's slices and writes its workers' results under "
                "runs/<runId>/ of the stack's own run bucket; the run ID is the execution's name.",
            ),
            *(
                Acknowledgment(
                    id=f"AwsSolutions-IAM5[Resource::{executions}{suffix}]",
                    reason="A Distributed Map describes, stops and redrives its own child executions, "
                    "whose names are made at run time; aws-cdk-lib limits these to this state machine's.",
                )
                for suffix in (":*", "/*:*")
            ),
        )


class RunsItemReader(sfn.S3JsonItemReader):
    """Reads the slices, with read access to runs/ only (aws-cdk-lib would grant the whole bucket)."""

    def __init__(self, objects: str, *, bucket: s3.IBucket, key: str) -> None:
        super().__init__(bucket=bucket, key=key)
        self._objects = objects

    def provide_policy_statements(self) -> list[iam.PolicyStatement]:
        return [iam.PolicyStatement(sid="ReadSlices", actions=["s3:GetObject"], resources=[self._objects])]


class RunsResultWriter(sfn.ResultWriterV2):
    """Writes the workers' results, with access to runs/ only (aws-cdk-lib would grant the whole bucket)."""

    def __init__(self, objects: str, *, bucket: s3.IBucket, prefix: str) -> None:
        super().__init__(bucket=bucket, prefix=prefix)
        self._objects = objects

    def provide_policy_statements(self) -> list[iam.PolicyStatement]:
        return [
            iam.PolicyStatement(
                sid="WriteWorkerResults",
                actions=[
                    "s3:PutObject",
                    "s3:GetObject",
                    "s3:ListMultipartUploadParts",
                    "s3:AbortMultipartUpload",
                ],
                resources=[self._objects],
            )
        ]


def _invoke(
    scope: Construct, construct_id: str, function: lambda_.IFunction, payload: sfn.TaskInput, comment: str
) -> tasks.LambdaInvoke:
    task = tasks.LambdaInvoke(
        scope,
        construct_id,
        lambda_function=function,
        payload=payload,
        output_path="$.Payload",  # the function's return value, without Lambda's response metadata
        comment=comment,
    )
    task.add_retry(
        errors=["Lambda.TooManyRequestsException"],
        interval=THROTTLED_RETRY_INTERVAL,
        max_attempts=THROTTLED_RETRY_ATTEMPTS,
        backoff_rate=2,
    )
    return task
