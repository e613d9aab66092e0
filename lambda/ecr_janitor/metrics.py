"""Every metric the function emits: name, unit and meaning. The dashboard and alarms import this list.

All metrics go to namespace `EcrJanitor` with the single dimension `service`, once per run, zeros
included, so a missing data point always means a missing run.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MetricSpec:
    name: str
    unit: str
    """A CloudWatch unit name, as Powertools' MetricUnit spells it."""
    description: str


IMAGES_SCANNED = MetricSpec("ImagesScanned", "Count", "Images read in repositories the config covers")
IMAGES_EXPIRABLE = MetricSpec("ImagesExpirable", "Count", "Images the plan expires (dry run or not)")
BYTES_EXPIRABLE = MetricSpec("BytesExpirable", "Bytes", "Upper bound of storage the plan frees")
IMAGES_EXPIRED = MetricSpec("ImagesExpired", "Count", "Images ECR confirmed deleted")
BYTES_RECLAIMED = MetricSpec("BytesReclaimed", "Bytes", "Upper bound of storage freed by confirmed deletions")
IMAGES_PROTECTED = MetricSpec("ImagesProtected", "Count", "Images a rule would expire but a protection kept")
DELETE_FAILURES = MetricSpec("DeleteFailures", "Count", "Images ECR refused or did not confirm deleting")
REPOSITORIES_PROCESSED = MetricSpec("RepositoriesProcessed", "Count", "Repositories evaluated")
REPOSITORIES_SKIPPED = MetricSpec("RepositoriesSkipped", "Count", "Repositories opted out by tag")
REPOSITORIES_FAILED = MetricSpec(
    "RepositoriesFailed", "Count", "Repositories or regions that could not be read"
)
REPOSITORIES_BLOCKED = MetricSpec(
    "RepositoriesBlocked", "Count", "Repositories whose deletions were withheld: in-use sources unreadable"
)
IN_USE_SOURCES_FAILED = MetricSpec(
    "InUseSourcesFailed", "Count", "ECS, Lambda, Batch or image-list sources that could not be read"
)
POLICIES_CREATED = MetricSpec("PoliciesCreated", "Count", "Propagate: lifecycle policies put where none was")
POLICIES_UPDATED = MetricSpec(
    "PoliciesUpdated", "Count", "Propagate: differing lifecycle policies overwritten"
)
POLICIES_UNCHANGED = MetricSpec("PoliciesUnchanged", "Count", "Propagate: repositories already on the policy")
POLICY_DRIFT = MetricSpec(
    "PolicyDrift", "Count", "Propagate: differing policies left in place (onDrift: report)"
)
REPOSITORIES_DEFERRED = MetricSpec(
    "RepositoriesDeferred", "Count", "Repositories not reached before the time budget ran out; next run first"
)
RUN_DURATION = MetricSpec("RunDurationSeconds", "Seconds", "Wall time of the run")
DRY_RUN = MetricSpec("DryRun", "Count", "1 when the run wrote nothing, else 0")

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
)
