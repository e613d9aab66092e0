"""One repository, start to finish: its opt-out tag, then retain (plan, delete and archive in layers) or
propagate (compare, put, preview). Reads and writes through the ECR adapter; decides with the pure core."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ecr_janitor.adapters.clients import AWS_ERRORS, error_code, error_message
from ecr_janitor.adapters.ecr import EcrRegistry, IndexUnreadableError
from ecr_janitor.config import Config, Target
from ecr_janitor.constants import SKIP_TAG_KEY, SKIP_TAG_VALUE
from ecr_janitor.core import native, propagate
from ecr_janitor.core.model import ArchiveResult, DeleteFailure, DeleteResult, Image, Repository
from ecr_janitor.core.propagate import PolicyStatus
from ecr_janitor.core.references import ImageReference, pinned_images
from ecr_janitor.core.retain import Decision, Protections, RepositoryPlan, Verdict, evaluate
from ecr_janitor.outputs import audit
from ecr_janitor.outputs.report import NOTHING_ARCHIVED, PolicyOutcome, RepositoryReport, Status

NOT_ATTEMPTED = "NotAttempted"
WRITES = (PolicyStatus.CREATED, PolicyStatus.UPDATED)
"""The policy statuses that write (unless held, or in a dry run)."""


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
            opt_out = self.registry.repository_tags(self.repository).get(SKIP_TAG_KEY)
            # Exactly what the role's Deny matches (StringEqualsIgnoreCase, infra/permissions.py).
            if opt_out is not None and opt_out.lower() == SKIP_TAG_VALUE:
                return self.outcome(Status.SKIPPED, f"opted out: tag {SKIP_TAG_KEY}={SKIP_TAG_VALUE}")
            if opt_out is not None and opt_out.strip().lower() == SKIP_TAG_VALUE:
                return self.outcome(
                    Status.FAILED,
                    f"tag {SKIP_TAG_KEY}={opt_out!r} has spaces around {SKIP_TAG_VALUE}, so the role's "
                    f"opt-out Deny doesn't match it: not touched; set the value to exactly {SKIP_TAG_VALUE}",
                )
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
        archiving: ArchiveResult = NOTHING_ARCHIVED,
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
            archiving,
        )

    def protections(self, images: Sequence[Image], references: Sequence[ImageReference]) -> Protections:
        protect = self.config.protect
        return Protections(
            tags=tuple(protect.tags),
            in_use=pinned_images(self.repository, images, references),
            restore_grace=timedelta(days=protect.restore_grace_days),
        )

    def propagate(self, references: Sequence[ImageReference]) -> RepositoryReport:
        """Put the target's policy where it is missing or (onDrift: overwrite) differs; preview its effect."""
        name, policy = self.repository.name, self.target.policy
        current = propagate.parse_policy_text(self.registry.lifecycle_policy(name))
        wanted = policy.document()
        status = propagate.decide(current, wanted, self.target.on_drift)
        preview: RepositoryPlan | None = None
        at_risk: tuple[Decision, ...] = ()
        # The preview costs the repository's image listing, every night: a policy already in place that now
        # expires an image in use is reported (and alarmed on) as much as one about to be written. A drifted
        # repository keeps a policy of its own: the target's says nothing about it.
        if status is not PolicyStatus.DRIFTED:
            try:
                images = self.registry.images(name)
            except IndexUnreadableError as error:
                unknown = "the policy was not written" if status in WRITES else "images at risk are unknown"
                return self.outcome(Status.FAILED, f"{error}; {unknown}")
            rules = policy.ordered_rules()
            # What ECR does (every manifest on its own), against what the janitor would keep where it is;
            # an image ECR archives can't be pulled either: at risk as much as one it expires.
            preview = native.evaluate_as_ecr(images, rules, self.now)
            janitor = evaluate(images, rules, self.now, self.protections(images, references))
            at_risk = native.at_risk(preview, janitor)
        at_risk_unknown = self.blocked if preview is not None else ""
        held = self.hold_reason(status, at_risk, at_risk_unknown)
        if held:
            status = PolicyStatus.HELD
        write = not self.dry_run and status in WRITES
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
            at_risk_unknown,
        )
        message = held or _risk_note(status, at_risk)
        return self.outcome(Status.PLANNED if self.dry_run else Status.APPLIED, message, policy=outcome)

    def hold_reason(self, status: PolicyStatus, at_risk: Sequence[Decision], at_risk_unknown: str) -> str:
        """Why the policy is held back (`onRisk: hold`), or empty when it may be written. Held while the
        at-risk list may be incomplete too: an unreadable in-use source could hide an image in use. A held
        policy isn't written, so the next run finds it missing or different again and re-evaluates it."""
        if self.target.on_risk != "hold" or status not in WRITES:
            return ""
        if at_risk:
            return (
                f"held: ECR would expire or archive {len(at_risk)} image(s) the janitor protects (see "
                "atRisk); nothing written. Set onRisk: put on the target to write it anyway"
            )
        if at_risk_unknown:
            return f"held: images at risk can't be known ({at_risk_unknown}); nothing written"
        return ""

    def retain(self, references: Sequence[ImageReference]) -> RepositoryReport:
        """Evaluate the policy here; delete what it expires and archive what it archives, unless a
        protection vetoes it."""
        name = self.repository.name
        try:
            images = self.registry.images(name)
        except IndexUnreadableError as error:
            return self.outcome(
                Status.FAILED, f"{error}; nothing deleted or archived while an index's children are unknown"
            )
        plan = evaluate(
            images,
            self.target.policy.ordered_rules(),
            self.now,
            self.protections(images, references),
            allow_early_archive_deletion=self.target.allow_early_archive_deletion,
        )
        acting = plan.expired or plan.archived
        if self.blocked and acting:
            return self.outcome(
                Status.BLOCKED, f"deletions and archiving withheld: {self.blocked}", plan=plan
            )
        if self.dry_run or not acting:
            return self.outcome(Status.PLANNED if self.dry_run else Status.CLEANED, plan=plan)

        decisions = {d.image.digest: d for d in plan.decisions}
        region = self.repository.region

        account = self.repository.account

        # Logged as ECR answers, so an action is on record even if the run is cut short after it.
        def audit_deletions(result: DeleteResult) -> None:
            deleted = [decisions[digest] for digest in result.deleted]
            audit.images_deleted(region, name, deleted, account=account)
            for failure in result.failures:
                audit.delete_failed(region, name, failure, account=account)

        def audit_archiving(result: ArchiveResult) -> None:
            archived = [decisions[digest] for digest in result.archived]
            audit.images_archived(region, name, archived, account=account)
            for failure in result.failures:
                audit.archive_failed(region, name, failure, account=account)

        deletion, archiving = apply_in_layers(self.registry, name, plan, audit_deletions, audit_archiving)
        problems = [
            f"{len(failures)} of {len(planned)} {what} failed"
            for failures, planned, what in (
                (deletion.failures, plan.expired, "deletions"),
                (archiving.failures, plan.archived, "archivings"),
            )
            if failures
        ]
        status = Status.PARTIAL if problems else Status.CLEANED
        return self.outcome(status, "; ".join(problems), plan=plan, deletion=deletion, archiving=archiving)


def apply_in_layers(
    registry: EcrRegistry,
    repository: str,
    plan: RepositoryPlan,
    on_deleted: Callable[[DeleteResult], None],
    on_archived: Callable[[ArchiveResult], None],
) -> tuple[DeleteResult, ArchiveResult]:
    """Indexes before their children, subjects before their referrers; an image whose index or subject
    was not dealt with as planned is not even asked for, so a kept index never loses a child to the
    archive or to deletion. Within a layer, deletions go first (no archived image waits on them)."""
    verdicts = {d.image.digest: d.verdict for d in plan.decisions}
    done: set[str] = set()
    deleted: list[str] = []
    archived: list[str] = []
    delete_failures: list[DeleteFailure] = []
    archive_failures: list[DeleteFailure] = []
    for layer in plan.action_layers():
        ready: dict[Verdict, list[str]] = {Verdict.EXPIRE: [], Verdict.ARCHIVE: []}
        held: dict[Verdict, list[DeleteFailure]] = {Verdict.EXPIRE: [], Verdict.ARCHIVE: []}
        for digest in layer:
            waiting = sorted(plan.prerequisites.get(digest, frozenset()) - done)
            if waiting:
                message = f"not attempted: {waiting[0]}, which it follows, was not dealt with as planned"
                held[verdicts[digest]].append(DeleteFailure(digest, NOT_ATTEMPTED, message))
            else:
                ready[verdicts[digest]].append(digest)
        if held[Verdict.EXPIRE]:
            on_deleted(DeleteResult((), tuple(held[Verdict.EXPIRE])))
        if held[Verdict.ARCHIVE]:
            on_archived(ArchiveResult((), tuple(held[Verdict.ARCHIVE])))
        deletion = (
            registry.delete_images(repository, ready[Verdict.EXPIRE], on_deleted)
            if ready[Verdict.EXPIRE]
            else DeleteResult((), ())
        )
        archiving = (
            registry.archive_images(repository, ready[Verdict.ARCHIVE], on_archived)
            if ready[Verdict.ARCHIVE]
            else NOTHING_ARCHIVED
        )
        done |= {*deletion.deleted, *archiving.archived}
        deleted += deletion.deleted
        archived += archiving.archived
        delete_failures += [*held[Verdict.EXPIRE], *deletion.failures]
        archive_failures += [*held[Verdict.ARCHIVE], *archiving.failures]
    return DeleteResult(tuple(deleted), tuple(delete_failures)), ArchiveResult(
        tuple(archived), tuple(archive_failures)
    )


def _risk_note(status: PolicyStatus, at_risk: Sequence[Decision]) -> str:
    """What the report says of images at risk under a policy that is, or is about to be, in place."""
    if not at_risk:
        return ""
    where = "the policy already in place" if status is PolicyStatus.UNCHANGED else "this policy"
    return (
        f"at risk: ECR will expire or archive {len(at_risk)} image(s) the janitor keeps under {where} "
        "(see atRisk)"
    )


def _describe_failure(error: Exception) -> str:
    code = error_code(error)
    if code == "RepositoryNotFoundException":
        return f"{code}: the repository was deleted during the run"
    return f"{code}: {error_message(error)}"
