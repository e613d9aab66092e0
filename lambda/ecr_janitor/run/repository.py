"""One repository, start to finish: its opt-out tag, then retain (plan, delete in layers) or propagate
(compare, put, preview). Reads and writes through the ECR adapter; decides with the pure core."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from ecr_janitor.adapters.clients import AWS_ERRORS, error_code, error_message
from ecr_janitor.adapters.ecr import EcrRegistry, IndexUnreadableError
from ecr_janitor.config import Config, Target
from ecr_janitor.constants import SKIP_TAG_KEY, SKIP_TAG_VALUE
from ecr_janitor.core import propagate
from ecr_janitor.core.model import DeleteFailure, DeleteResult, Image, Repository
from ecr_janitor.core.propagate import PolicyStatus
from ecr_janitor.core.references import ImageReference, pinned_images
from ecr_janitor.core.retain import Decision, Protections, RepositoryPlan, evaluate
from ecr_janitor.outputs import audit
from ecr_janitor.outputs.report import PolicyOutcome, RepositoryReport, Status

NOT_ATTEMPTED = "NotAttempted"


@dataclass(frozen=True)
class Covered:
    """A repository and the target that covers it (the first that matches), with the target's index."""

    repository: Repository
    target_index: int
    target: Target


@dataclass(frozen=True)
class RepositoryRun:
    registry: EcrRegistry
    covered: Covered
    config: Config
    now: datetime
    dry_run: bool
    blocked: str
    """Why deletions are withheld in this run, or empty."""

    @property
    def repository(self) -> Repository:
        return self.covered.repository

    @property
    def target(self) -> Target:
        return self.covered.target

    def process(self, references: Sequence[ImageReference]) -> RepositoryReport:
        try:
            tags = self.registry.repository_tags(self.repository)
            if tags.get(SKIP_TAG_KEY, "").strip().lower() == SKIP_TAG_VALUE:
                return self.outcome(Status.SKIPPED, f"opted out: tag {SKIP_TAG_KEY}={SKIP_TAG_VALUE}")
            if self.target.mode == "propagate":
                return self.propagate(references)
            return self.retain(references)
        except AWS_ERRORS as error:
            return self.outcome(Status.FAILED, _describe_failure(error))

    def outcome(
        self,
        status: Status,
        message: str = "",
        plan: RepositoryPlan | None = None,
        deletion: DeleteResult | None = None,
        policy: PolicyOutcome | None = None,
    ) -> RepositoryReport:
        return RepositoryReport(
            self.repository,
            self.target.mode,
            self.covered.target_index,
            self.target.label,
            status,
            message,
            plan,
            deletion,
            policy,
        )

    def protections(self, images: Sequence[Image], references: Sequence[ImageReference]) -> Protections:
        return Protections(
            tags=tuple(self.config.protect.tags), in_use=pinned_images(self.repository, images, references)
        )

    def propagate(self, references: Sequence[ImageReference]) -> RepositoryReport:
        """Put the target's policy where it is missing or (onDrift: overwrite) differs; preview its effect."""
        name, policy = self.repository.name, self.target.policy
        current = propagate.parse_policy_text(self.registry.lifecycle_policy(name))
        wanted = policy.document()
        status = propagate.decide(current, wanted, self.target.on_drift)
        preview: RepositoryPlan | None = None
        at_risk: tuple[Decision, ...] = ()
        # The preview costs a full image listing: always in a dry run, and in a real run when the policy
        # is about to change what ECR does.
        if status is not PolicyStatus.DRIFTED and (self.dry_run or status is not PolicyStatus.UNCHANGED):
            try:
                images = self.registry.images(name)
            except IndexUnreadableError as error:
                return self.outcome(Status.FAILED, f"{error}; the policy was not written")
            rules = policy.ordered_rules()
            preview = evaluate(images, rules, self.now)
            protected = evaluate(images, rules, self.now, self.protections(images, references))
            expired_by_ecr = {d.image.digest for d in preview.expired}
            at_risk = tuple(d for d in protected.protected if d.image.digest in expired_by_ecr)
        write = not self.dry_run and status in (PolicyStatus.CREATED, PolicyStatus.UPDATED)
        if write:
            self.registry.put_lifecycle_policy(name, policy.text())
            audit.policy_written(
                self.repository.region,
                name,
                status,
                previous=current,
                written=wanted,
                account=self.repository.account,
            )
        outcome = PolicyOutcome(
            status,
            write,
            self.target.on_drift,
            tuple(propagate.differences(current, wanted)),
            preview,
            at_risk,
            self.blocked if preview is not None else "",
        )
        return self.outcome(Status.PLANNED if self.dry_run else Status.APPLIED, policy=outcome)

    def retain(self, references: Sequence[ImageReference]) -> RepositoryReport:
        """Evaluate the policy here and delete what it expires, unless a protection vetoes it."""
        name = self.repository.name
        try:
            images = self.registry.images(name)
        except IndexUnreadableError as error:
            return self.outcome(
                Status.FAILED, f"{error}; nothing deleted while an index's children are unknown"
            )
        plan = evaluate(
            images, self.target.policy.ordered_rules(), self.now, self.protections(images, references)
        )
        if self.blocked and plan.expired:
            return self.outcome(Status.BLOCKED, f"deletions withheld: {self.blocked}", plan=plan)
        if self.dry_run or not plan.expired:
            return self.outcome(Status.PLANNED if self.dry_run else Status.CLEANED, plan=plan)

        expired = {d.image.digest: d for d in plan.expired}

        def audit_batch(result: DeleteResult) -> None:
            # Logged as ECR answers, so a deletion is on record even if the run is cut short after it.
            account = self.repository.account
            for digest in result.deleted:
                audit.image_deleted(self.repository.region, name, expired[digest], account=account)
            for failure in result.failures:
                audit.delete_failed(self.repository.region, name, failure, account=account)

        deletion = delete_in_layers(self.registry, name, plan, audit_batch)
        if deletion.failures:
            message = f"{len(deletion.failures)} of {len(plan.expired)} deletions failed"
            return self.outcome(Status.PARTIAL, message, plan=plan, deletion=deletion)
        return self.outcome(Status.CLEANED, plan=plan, deletion=deletion)


def delete_in_layers(
    registry: EcrRegistry, repository: str, plan: RepositoryPlan, on_batch: Callable[[DeleteResult], None]
) -> DeleteResult:
    """Indexes before their children, subjects before their referrers; never a child whose index stays."""
    deleted: list[str] = []
    failures: list[DeleteFailure] = []
    for layer in plan.deletion_layers():
        done = set(deleted)
        ready = []
        held = []
        for digest in layer:
            waiting = sorted(plan.prerequisites.get(digest, frozenset()) - done)
            if waiting:
                message = f"not attempted: {waiting[0]}, which it follows, was not deleted"
                held.append(DeleteFailure(digest, NOT_ATTEMPTED, message))
            else:
                ready.append(digest)
        if held:
            on_batch(DeleteResult((), tuple(held)))
        result = registry.delete_images(repository, ready, on_batch)
        deleted += result.deleted
        failures += [*held, *result.failures]
    return DeleteResult(tuple(deleted), tuple(failures))


def _describe_failure(error: Exception) -> str:
    code = error_code(error)
    if code == "RepositoryNotFoundException":
        return f"{code}: the repository was deleted during the run"
    return f"{code}: {error_message(error)}"
