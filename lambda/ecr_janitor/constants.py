"""Every name the function shares with infra/: environment variables, the metric catalogue, the opt-out
tag and the fan-out steps. Defined once, here; infra/ imports shared names from this module only."""

from __future__ import annotations

from dataclasses import dataclass

SERVICE_NAME = "ecr-janitor"
METRICS_NAMESPACE = "EcrJanitor"
SERVICE_DIMENSION = "service"

SKIP_TAG_KEY = "ecr-janitor:skip"
SKIP_TAG_VALUE = "true"
"""A repository with this resource tag (the value in any letter case) is never touched: the code skips it
and IAM denies writes to it (StringEqualsIgnoreCase)."""

CONFIG_FILE_NAME = "ecr-janitor.json"
"""The config as the deployed function reads it: the validated YAML, written as JSON at synth time."""

AWS_SERVICES = (
    "ecr",
    "ecs",
    "lambda",
    "batch",
    "ssm",
    "s3",
    "stepfunctions",
    "sts",
    "inspector2",
    "organizations",
    "eks",
    "logs",  # restore --run --log-group reads the function's own log group (the CLI only)
)
"""Every AWS service the function makes a client for (botocore's names), and those other changes are
adding. The function ships the pinned boto3/botocore with only these service models (infra/sdk.py); a
client for a service missing here fails at once in Lambda, and a test scans the code for clients."""

ENV_CONFIG_PATH = "ECR_JANITOR_CONFIG"
ENV_STATE_PARAMETER = "ECR_JANITOR_STATE_PARAMETER"
"""The SSM parameter where a run that ran out of time records where the next one starts."""
ENV_POWERTOOLS_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
ENV_POWERTOOLS_METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"
ENV_POWERTOOLS_LOG_LEVEL = "POWERTOOLS_LOG_LEVEL"

# Fan-out (opt-in, `cdk deploy -c fanOut=true`): a Step Functions Distributed Map runs one nightly run as
# many invocations of this function (ecr_janitor.run.fanout). The stack sets these for the function.
ENV_RUN_BUCKET = "ECR_JANITOR_RUN_BUCKET"
"""The S3 bucket that holds each fan-out run's artifacts (slices, in-use snapshot, worker results)."""
ENV_FANOUT_CONCURRENCY = "ECR_JANITOR_FANOUT_CONCURRENCY"
"""How many workers run at once; each gets this share of `execution.maxRequestsPerSecond`."""
ENV_FANOUT_SLICE_SIZE = "ECR_JANITOR_FANOUT_SLICE_SIZE"
"""At most this many repositories per slice, i.e. per worker invocation."""
FANOUT_DEFAULT_CONCURRENCY = 4
FANOUT_DEFAULT_SLICE_SIZE = 500
RUNS_PREFIX = "runs/"
"""Every object of one run is under runs/<runId>/; a lifecycle rule expires them."""
STATE_PREFIX = "state/"
"""What one run leaves for the next (the repositories it deferred); never expires."""
FANOUT_PREPARE = "prepare"
FANOUT_WORKER = "worker"
FANOUT_SUMMARY = "summary"
"""The `fanOut.step` of each state's event: the state machine sends them, the function dispatches on them."""


# -- the metric catalogue ------------------------------------------------------------------------------
# Every metric goes to namespace `EcrJanitor` with the single dimension `service`, once per run, zeros
# included, so a missing data point always means a missing run. The dashboard and the alarms are built
# from this list; the function publishes it (ecr_janitor.outputs.metrics).


@dataclass(frozen=True, slots=True)
class MetricSpec:
    name: str
    unit: str
    """A CloudWatch unit name, as Powertools' MetricUnit spells it."""
    total: str | None
    """The run report's total this metric publishes (`RunReport.totals()`); None: worked out otherwise."""


# Images read in repositories the config covers.
IMAGES_SCANNED = MetricSpec("ImagesScanned", "Count", "imagesScanned")
# Images the plan expires (dry run or not).
IMAGES_EXPIRABLE = MetricSpec("ImagesExpirable", "Count", "imagesExpirable")
# Upper bound of storage the plan frees.
BYTES_EXPIRABLE = MetricSpec("BytesExpirable", "Bytes", "bytesExpirable")
# Images ECR confirmed deleted.
IMAGES_EXPIRED = MetricSpec("ImagesExpired", "Count", "imagesExpired")
# Upper bound of storage freed by confirmed deletions.
BYTES_RECLAIMED = MetricSpec("BytesReclaimed", "Bytes", "bytesReclaimed")
# Images a rule would expire but a protection kept.
IMAGES_PROTECTED = MetricSpec("ImagesProtected", "Count", "imagesProtected")
# Images ECR refused or did not confirm deleting.
DELETE_FAILURES = MetricSpec("DeleteFailures", "Count", "deleteFailures")
# Repositories opted out by tag.
REPOSITORIES_SKIPPED = MetricSpec("RepositoriesSkipped", "Count", "repositoriesSkipped")
# Repositories or regions that could not be read.
REPOSITORIES_FAILED = MetricSpec("RepositoriesFailed", "Count", "repositoriesFailed")
# Repositories whose deletions were withheld: in-use sources unreadable.
REPOSITORIES_BLOCKED = MetricSpec("RepositoriesBlocked", "Count", "repositoriesBlocked")
# ECS, Lambda, Batch or image-list sources that could not be read.
IN_USE_SOURCES_FAILED = MetricSpec("InUseSourcesFailed", "Count", "inUseSourcesFailed")
# Propagate: lifecycle policies put where none was.
POLICIES_CREATED = MetricSpec("PoliciesCreated", "Count", "policiesCreated")
# Propagate: differing lifecycle policies overwritten.
POLICIES_UPDATED = MetricSpec("PoliciesUpdated", "Count", "policiesUpdated")
# Propagate: repositories already on the policy.
POLICIES_UNCHANGED = MetricSpec("PoliciesUnchanged", "Count", "policiesUnchanged")
# Propagate: differing policies left in place (onDrift: report).
POLICY_DRIFT = MetricSpec("PolicyDrift", "Count", "policyDrift")
# Repositories not reached before the time budget ran out; next run first.
REPOSITORIES_DEFERRED = MetricSpec("RepositoriesDeferred", "Count", "repositoriesDeferred")
# Worked out from the totals, not read from one:
# Repositories evaluated (covered and not opted out).
REPOSITORIES_PROCESSED = MetricSpec("RepositoriesProcessed", "Count", None)
# Wall time of the run.
RUN_DURATION = MetricSpec("RunDurationSeconds", "Seconds", None)
# 1 when the run wrote nothing, else 0.
DRY_RUN = MetricSpec("DryRun", "Count", None)
# -- onRisk: hold (propagate mode) --
# Propagate: policies held back because ECR would expire images the janitor protects (onRisk: hold).
POLICIES_HELD = MetricSpec("PoliciesHeld", "Count", "policiesHeld")
# Propagate: images ECR will (or, when held, would) expire although the janitor protects them.
POLICY_IMAGES_AT_RISK = MetricSpec("PolicyImagesAtRisk", "Count", "previewImagesAtRisk")

# -- the archive storage class (retain-mode `transition` rules, and `restore`) --
# Images the plan archives (dry run or not).
IMAGES_ARCHIVABLE = MetricSpec("ImagesArchivable", "Count", "imagesArchivable")
# Upper bound of storage the plan moves to the archive class.
BYTES_ARCHIVABLE = MetricSpec("BytesArchivable", "Bytes", "bytesArchivable")
# Images ECR confirmed ARCHIVED.
IMAGES_ARCHIVED = MetricSpec("ImagesArchived", "Count", "imagesArchived")
# Upper bound of storage ECR confirmed moved to the archive class.
BYTES_ARCHIVED = MetricSpec("BytesArchived", "Bytes", "bytesArchived")
# Images ECR refused or did not confirm archiving.
ARCHIVE_FAILURES = MetricSpec("ArchiveFailures", "Count", "archiveFailures")
# Archived images ECR confirmed deleted (archive-class rules); also counted in ImagesExpired.
ARCHIVED_IMAGES_EXPIRED = MetricSpec("ArchivedImagesExpired", "Count", "archivedImagesExpired")
# Images ECR restored from the archive in the 24 hours before the run (their lastActivatedAt).
IMAGES_RESTORED = MetricSpec("ImagesRestored", "Count", "imagesRestored")

ALL_METRICS: tuple[MetricSpec, ...] = (
    IMAGES_SCANNED,
    IMAGES_EXPIRABLE,
    BYTES_EXPIRABLE,
    IMAGES_EXPIRED,
    BYTES_RECLAIMED,
    IMAGES_PROTECTED,
    DELETE_FAILURES,
    REPOSITORIES_PROCESSED,
    REPOSITORIES_SKIPPED,
    REPOSITORIES_FAILED,
    REPOSITORIES_BLOCKED,
    REPOSITORIES_DEFERRED,
    IN_USE_SOURCES_FAILED,
    POLICIES_CREATED,
    POLICIES_UPDATED,
    POLICIES_UNCHANGED,
    POLICY_DRIFT,
    RUN_DURATION,
    DRY_RUN,
    # onRisk: hold
    POLICIES_HELD,
    POLICY_IMAGES_AT_RISK,
    # -- the archive storage class --
    IMAGES_ARCHIVABLE,
    BYTES_ARCHIVABLE,
    IMAGES_ARCHIVED,
    BYTES_ARCHIVED,
    ARCHIVE_FAILURES,
    ARCHIVED_IMAGES_EXPIRED,
    IMAGES_RESTORED,
)


# -- the archive cost model ----------------------------------------------------------------------------
# USD, us-east-1. NOT confirmed from an AWS page here: taken on 2026-12-03 from two public write-ups that
# quote the pricing page (hub.pointfive.co "ECR Archive Storage Class Used Below 150 TB Threshold",
# us-east-1, checked March 2026; devjapan.com "AWS ECR Archive Pricing", ap-northeast-1, checked
# 2026-03-22 against the AWS Price List API). Check https://aws.amazon.com/ecr/pricing/ for your region.
# ECR's user guide ("Archiving an image") documents the rest: archived images can't be pulled, a restore
# takes up to about 20 minutes, and archived images are billed for at least 90 days.
PRICES_CHECKED = (
    "2026-12-03 (us-east-1, public sources; unconfirmed: see https://aws.amazon.com/ecr/pricing/)"
)
BYTES_PER_GB = 1024**3
"""AWS bills storage GB as 2^30 bytes."""
STANDARD_STORAGE_USD_PER_GB_MONTH = 0.10
"""ECR private storage, standard class."""
ARCHIVE_STORAGE_USD_PER_GB_MONTH = 0.10
"""The archive class, for the first ARCHIVE_TIER_GB a month: the same as standard."""
ARCHIVE_STORAGE_USD_PER_GB_MONTH_ABOVE_TIER = 0.07
"""The archive class beyond ARCHIVE_TIER_GB a month."""
ARCHIVE_TIER_GB = 150 * 1024
"""150 TB: below it, archiving saves no storage cost at all."""
ARCHIVE_RETRIEVAL_USD_PER_GB = 0.03
"""Restoring an archived image, per GB restored."""
# -- other accounts (`accounts`, `protect.consumerAccounts`): the role the janitor assumes in each, and the
# per-account metrics. The stack EcrJanitorMemberRole (infra/member_role.py) creates the role. ----------

ACCESS_ROLE_DEFAULT_NAME = "ecr-janitor-reader"
"""The role's name in every member account unless `accessRole.name` says otherwise."""
ROLE_SESSION_NAME = "ecr-janitor"
"""The session name of every AssumeRole: what the member account's CloudTrail shows."""
ACCOUNT_ID_PATTERN = r"^\d{12}$"
"""An AWS account id: in the config's account lists and in a fan-out slice's event."""
ROLE_NAME_PATTERN = r"[A-Za-z0-9_+=,.@-]{1,64}"
"""IAM's RoleName (the whole value): checked in the config and as the member stack's parameter."""
EXTERNAL_ID_PATTERN = r"[A-Za-z0-9_+=,.@:/-]{2,1224}"
"""STS AssumeRole's ExternalId (botocore's sts model, the whole value): the config and the member stack."""
ACCOUNT_DIMENSION = "Account"
ACCOUNT_METRICS: tuple[MetricSpec, ...] = (IMAGES_EXPIRED, BYTES_RECLAIMED, REPOSITORIES_FAILED)
"""Also published per cleaned account, with dimensions {service, Account}, when the config lists
`accounts`; the totals above keep their single `service` dimension (the dashboard and alarms read them)."""
