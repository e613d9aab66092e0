"""The janitor function: code, runtime, layer, role, log group, failure destination.

One construct, so everything the function needs to run is read in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aws_cdk import (
    Acknowledgment,
    CfnDynamicReference,
    CfnDynamicReferenceService,
    Duration,
    RemovalPolicy,
    Validations,
)
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from ecr_janitor.config import Eks, Target
from ecr_janitor.constants import (
    CONFIG_FILE_NAME,
    ENV_CONFIG_PATH,
    ENV_POWERTOOLS_LOG_LEVEL,
    ENV_POWERTOOLS_METRICS_NAMESPACE,
    ENV_POWERTOOLS_SERVICE_NAME,
    ENV_STATE_PARAMETER,
    METRICS_NAMESPACE,
    SERVICE_NAME,
)
from infra.permissions import WILDCARD, MemberAccess, janitor_statements, vpc_access_statement, write_scopes
from infra.settings import VpcSettings

HANDLER = "ecr_janitor.handler.handler"
RUNTIME = lambda_.Runtime.PYTHON_3_14
"""The newest Python runtime aws-cdk-lib 2.275.0 knows (cdk-nag AwsSolutions-L1 checks exactly that)."""
ARCHITECTURE = lambda_.Architecture.ARM_64

POWERTOOLS_VERSION = "3.37.0"
"""The aws-lambda-powertools release the function is tested with: the pin in requirements.txt and
constraints.txt (a test keeps the three equal). The deployed layer is that release's, looked up at deploy
time in the public SSM parameter Powertools publishes per release, architecture and Python version:
/aws/service/powertools/python/<arch>/<python3.XX>/<version>, whose value is the layer version ARN
(arn:aws:lambda:<region>:017000801446:layer:AWSLambdaPowertoolsPythonV3-python3XX-<arch>:N). N is the
layer's own sequence number, not the package version, and couldn't be confirmed offline for this release
(layer 27, pinned here before, is 3.23.0: aws-powertools/powertools-lambda-python#7689). Resolving it from
the publisher's parameter keeps the deployed layer and the tested package one constant. If the parameter
of a release is missing (it once was, #7689), the deploy fails on it before the function changes. To move:
change the pin and this constant together, run `make test`.
"""

TASK_ROOT = "/var/task"
"""LAMBDA_TASK_ROOT: where Lambda unpacks the code asset."""

TIMEOUT = Duration.minutes(15)
"""Lambda's maximum. A registry with thousands of repositories and 100,000 images per repository takes
many paginated DescribeImages calls with adaptive retries; the nightly run has no one waiting for it."""

MEMORY_MB = 1769
"""One vCPU: Lambda allocates CPU in proportion to memory, one vCPU at 1,769 MB, and one Python process
uses at most one (the GIL). The run is CPU-bound: `make bench` measures 4.7 to 6.2 ms of CPU per ECR call,
so at 1,024 MB (0.58 vCPU) a run managed 95 to 120 calls a second, below the 150 a second
`maxRequestsPerSecond` allows; at one vCPU 160 to 210, so the rate limit sets the pace. Lambda bills
memory x time, and CPU-bound time shrinks in proportion, so a run costs about the same (13 to 25% more
when the rate limit, not the CPU, sets the pace), finishes sooner, and one night covers 40 to 55% more
repositories. Memory itself is not the constraint: a full image listing held to plan one repository is
about 1-2 KB of Python objects per image (100,000 images: ~200 MB), and the Lambda keeps totals only."""

LOG_RETENTION = logs.RetentionDays.THREE_MONTHS
"""The audit trail: every deletion is a log line. Three months covers a quarterly review."""

ASYNC_RETRY_ATTEMPTS = 1
"""One retry (Lambda waits about a minute) absorbs a transient fault such as an API throttling storm;
a run is idempotent because it re-plans from the registry as it is and counts only what ECR confirmed.
More retries would mostly repeat a deterministic failure (invalid config, missing permission) for up
to 15 minutes each; the next night's run is the real retry, and the failure queue keeps the event."""

MAX_EVENT_AGE = Duration.hours(6)
"""How long a queued invocation may wait, e.g. behind a manual run holding the single concurrency slot."""

FAILURE_RETENTION = Duration.days(14)
"""SQS's maximum, so a failed invocation is still there after a long weekend."""


ORGANIZATION_LISTINGS = (
    " With `organization`, also Organizations' account listings (ListAccounts, ListAccountsForParent, "
    "ListOrganizationalUnitsForParent), read-only."
)


class JanitorFunction(Construct):
    """The function with its own role (no managed policies), log group, tracing and failure queue."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code_dir: Path,
        regions: Sequence[str] | None,
        targets: Sequence[Target],
        image_lists: Sequence[str] = (),
        reserved_concurrency: int = 1,
        eks: Eks | None = None,
        vpc: VpcSettings | None = None,
        member_access: MemberAccess | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.timeout = TIMEOUT

        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=LOG_RETENTION,
            # The log group is the audit trail of what was deleted: it outlives the stack.
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="ECR Janitor: read registries and workloads, clean repositories",
        )
        for statement in janitor_statements(
            self, regions=regions, targets=targets, image_lists=image_lists, eks=eks
        ):
            self.role.add_to_policy(statement)
        # Other accounts (`accounts`, `protect.consumerAccounts`): only through their member role.
        for statement in member_access.statements() if member_access else ():
            self.role.add_to_policy(statement)
        self.log_group.grant_write(self.role)

        # Where a run that ran out of time records where the next one starts (ecr_janitor.state).
        self.resume_state = ssm.StringParameter(
            self,
            "ResumeState",
            string_value="{}",
            description="ECR Janitor: per region, the repository the next run starts with",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="KeepResumeState",
                actions=["ssm:GetParameter", "ssm:PutParameter"],
                resources=[self.resume_state.parameter_arn],
            )
        )

        self.failure_queue = sqs.Queue(
            self,
            "FailedRuns",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=FAILURE_RETENTION,
        )
        Validations.of(self.failure_queue).acknowledge(
            Acknowledgment(
                id="AwsSolutions-SQS3",
                reason="This queue is itself the terminal failure destination of the function's async "
                "invocations; nothing consumes it, so there is nothing to redrive to a further queue. "
                "An alarm fires as soon as a message arrives.",
            )
        )

        self.function = lambda_.Function(
            self,
            "Function",
            description="ECR Janitor: nightly cleanup of ECR repositories (ecr-janitor.yaml)",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=HANDLER,
            code=lambda_.Code.from_asset(str(code_dir)),
            layers=[
                lambda_.LayerVersion.from_layer_version_arn(
                    self,
                    "Powertools",
                    CfnDynamicReference(
                        CfnDynamicReferenceService.SSM, powertools_layer_parameter(RUNTIME, ARCHITECTURE)
                    ).to_string(),
                )
            ],
            role=self.role,
            log_group=self.log_group,
            timeout=TIMEOUT,
            memory_size=MEMORY_MB,
            # One run at a time: with 1 (the default), a second invocation waits (async) instead of
            # racing the first. With fan-out, the Distributed Map's workers plus one spare slot; the
            # state machine keeps runs from overlapping (infra/fanout.py).
            reserved_concurrent_executions=reserved_concurrency,
            tracing=lambda_.Tracing.ACTIVE,
            retry_attempts=ASYNC_RETRY_ATTEMPTS,
            max_event_age=MAX_EVENT_AGE,
            on_failure=destinations.SqsDestination(self.failure_queue),
            environment={
                ENV_POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
                ENV_POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
                ENV_POWERTOOLS_LOG_LEVEL: "INFO",
                ENV_CONFIG_PATH: f"{TASK_ROOT}/{CONFIG_FILE_NAME}",
                ENV_STATE_PARAMETER: self.resume_state.parameter_name,
            },
        )
        if vpc is not None:
            self._place_in_vpc(vpc)
        organization = member_access is not None and member_access.organization
        Validations.of(self.role).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason="Two groups of actions have no resource-level permissions: X-Ray's "
                "PutTraceSegments/PutTelemetryRecords (active tracing), and the account-wide listings "
                "in-use detection needs (ecs:ListClusters, lambda:ListFunctions, eks:ListClusters, "
                "batch:DescribeJobDefinitions, ...), all read-only. With a VPC (-c vpcSubnets), also the "
                "network-interface actions Lambda needs to place the function there, as AWS's own "
                "AWSLambdaVPCAccessExecutionRole grants them. Nothing that changes a registry is on *."
                + (ORGANIZATION_LISTINGS if organization else ""),
            ),
            *(
                Acknowledgment(
                    id=f"AwsSolutions-IAM5[Resource::{arn}]",
                    reason="protect.eks is auto: the janitor reads every EKS cluster of the configured "
                    "regions, which it finds at run time, so DescribeCluster (read-only) can't name them.",
                )
                for arn in nag_cluster_arns(regions, eks)
            ),
            *repository_acknowledgments(regions, targets),
        )
        if member_access is not None and member_access.organization:
            Validations.of(self.role).acknowledge(
                Acknowledgment(
                    id=f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::*:role/{member_access.role_name}]",
                    reason="With `organization` the accounts are the organization's ACTIVE ones at run "
                    "time, unknown at synth: the janitor may assume the member role of that one name in "
                    "any account. Each member role trusts only this role, and only with the external id.",
                )
            )

    def _place_in_vpc(self, vpc: VpcSettings) -> None:
        """Subnets and security groups as given (no VPC lookup: synth stays offline), set on the
        CloudFormation resource; the L2 construct would want the VPC itself. The ENI permissions go on
        the role's inline policy, which the function already depends on."""
        self.role.add_to_policy(vpc_access_statement())
        function = self.function.node.default_child
        assert isinstance(function, lambda_.CfnFunction)
        function.vpc_config = lambda_.CfnFunction.VpcConfigProperty(
            subnet_ids=list(vpc.subnets), security_group_ids=list(vpc.security_groups)
        )


def powertools_layer_parameter(runtime: lambda_.Runtime, architecture: lambda_.Architecture) -> str:
    """The public SSM parameter that holds the ARN of the Powertools layer of POWERTOOLS_VERSION."""
    return f"/aws/service/powertools/python/{architecture.name}/{runtime.name}/{POWERTOOLS_VERSION}"


READ_EVERY_REPOSITORY = (
    "The janitor reads every repository of the account in the regions the config names: it lists them all "
    "to find the ones a target covers. Read-only."
)
WRITE_COVERED_REPOSITORIES = (
    "Writes (deletions, lifecycle policies) go only to the repositories a target's `repositories` pattern "
    "names, in the regions the config names (IAM's * matches / as the janitor's does), and are denied on "
    "repositories tagged ecr-janitor:skip=true."
)


def repository_acknowledgments(
    regions: Sequence[str] | None, targets: Sequence[Target]
) -> list[Acknowledgment]:
    """One per wildcard repository ARN of the role, built from the same patterns as the statements."""
    reasons = dict.fromkeys(_nag_repository_arns(regions, [WILDCARD]), READ_EVERY_REPOSITORY)
    for write in write_scopes(targets):
        for arn in _nag_repository_arns(regions, write.names):
            if WILDCARD in arn:
                reasons[arn] = (
                    WRITE_COVERED_REPOSITORIES
                    if arn not in reasons
                    else f"{READ_EVERY_REPOSITORY} {WRITE_COVERED_REPOSITORIES}"
                )
    return [
        Acknowledgment(id=f"AwsSolutions-IAM5[Resource::{arn}]", reason=reason)
        for arn, reason in reasons.items()
    ]


def _nag_repository_arns(regions: Sequence[str] | None, names: Sequence[str]) -> list[str]:
    """The repository ARNs as cdk-nag spells them in a finding id (tokens as <AWS::...>), for the same
    regions and name patterns as infra.permissions.repository_arns."""
    return [
        f"arn:<AWS::Partition>:ecr:{region}:<AWS::AccountId>:repository/{name}"
        for region in (regions or ["<AWS::Region>"])
        for name in names
    ]


def nag_cluster_arns(regions: Sequence[str] | None, eks: Eks | None) -> list[str]:
    """The wildcard cluster ARNs (clusters: auto) as cdk-nag spells them in a finding id."""
    if eks is None or not eks.discover:
        return []
    return [
        f"arn:<AWS::Partition>:eks:{region}:<AWS::AccountId>:cluster/*"
        for region in (regions or ["<AWS::Region>"])
    ]
