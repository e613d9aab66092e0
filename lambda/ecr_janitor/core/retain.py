"""The retain engine (pure): (images, rules, protections, now) -> a plan with a reason for every image.

It follows ECR's documented lifecycle evaluation; docs/retain-semantics.md states the exact semantics:

1. Each rule selects images by tag status and tag list (every list entry must match some tag).
2. `imageCountMoreThan N`: the selected images after the newest N (by push time) are candidates.
   `sinceImagePushed` / `sinceImagePulled N days`: the selected images older than N days are.
3. Rules apply lowest `rulePriority` first. An image a higher-priority rule selected can't be
   expired by a lower-priority rule, though it still counts in that rule's ordering.
4. Protections then veto expiry; they never change what counts in step 2. Kept: images in use, images
   with a protected tag, and tagged manifests listed by a kept image index.
5. Followers are never counted or expired by rules on their own: the untagged children of an image
   index, and signatures, attestations, SBOMs and OCI referrers of an image in the repository. A
   follower is kept when any image it follows is kept, and expired with them when all are expired.
6. Deletion goes in layers: an index before its children, a subject before its referrers.

No I/O and no clock: `now` is an argument, so the same input always gives the same plan.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from ecr_janitor.core.lifecycle import Rule, Selection
from ecr_janitor.core.model import Image
from ecr_janitor.core.patterns import matches, matches_any


class Verdict(StrEnum):
    EXPIRE = "expire"
    KEEP = "keep"


class ReasonCode(StrEnum):
    EXPIRED_BY_RULE = "expired-by-rule"
    KEPT_BY_RULE = "kept-by-rule"
    NOT_SELECTED = "not-selected"
    PROTECTED_TAG = "protected-tag"
    IN_USE = "in-use"
    LISTED_BY_KEPT_INDEX = "listed-by-kept-index"
    FOLLOWS_KEPT = "follows-kept"
    FOLLOWS_EXPIRED = "follows-expired"
    ORPHAN_REFERRER = "orphan-referrer"
    ARCHIVED = "archived"
    """In ECR's archive storage class: never counted or expired here; it still holds its followers."""
    WOULD_ARCHIVE = "would-archive"
    """Propagate previews: a `transition` rule moves the image to the archive class, it isn't expired."""
    UNRESOLVED = "unresolved"


PROTECTION_CODES = frozenset({ReasonCode.PROTECTED_TAG, ReasonCode.IN_USE, ReasonCode.LISTED_BY_KEPT_INDEX})
"""Reasons that veto an expiry a rule or a followed image decided."""


@dataclass(frozen=True, slots=True)
class Reason:
    code: ReasonCode
    detail: str
    rule_priority: int | None = None

    @property
    def is_protection(self) -> bool:
        return self.code in PROTECTION_CODES


@dataclass(frozen=True, slots=True)
class Decision:
    image: Image
    verdict: Verdict
    reason: Reason
    vetoed_rule: int | None = None
    """The rule that would have expired the image had a protection not kept it."""


@dataclass(frozen=True)
class Protections:
    """What vetoes expiry. Built by the caller from config and, later, from workloads in use."""

    tags: tuple[str, ...] = ()
    in_use: Mapping[str, str] = field(default_factory=dict)
    """Digest -> who uses it (for example an ECS task definition)."""

    def veto(self, image: Image) -> Reason | None:
        if image.digest in self.in_use:
            return Reason(ReasonCode.IN_USE, f"in use by {self.in_use[image.digest]}")
        for tag in sorted(image.tags):
            pattern = matches_any(self.tags, tag)
            if pattern is not None:
                return Reason(ReasonCode.PROTECTED_TAG, f"tag {tag} matches protected pattern {pattern}")
        return None


NO_PROTECTIONS = Protections()


@dataclass(frozen=True)
class RepositoryPlan:
    decisions: tuple[Decision, ...]
    """Every image exactly once, newest first."""
    prerequisites: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Expired digest -> expired digests ECR must have deleted first (its index, its subject)."""

    @property
    def expired(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if d.verdict is Verdict.EXPIRE)

    @property
    def kept(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if d.verdict is Verdict.KEEP)

    @property
    def protected(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if d.reason.is_protection)

    @property
    def bytes_expired(self) -> int:
        """Upper bound of the storage freed: layers shared with kept images are stored once."""
        return sum(d.image.size_bytes for d in self.expired)

    def deletion_layers(self) -> list[list[str]]:
        """Expired digests in the order ECR must see them: each layer only after the ones before it."""
        remaining = {d.image.digest for d in self.expired}
        layers: list[list[str]] = []
        while remaining:
            layer = sorted(d for d in remaining if not (self.prerequisites.get(d, frozenset()) & remaining))
            if not layer:  # evaluate() keeps every image of a cycle, so an expired cycle is a bug
                raise RuntimeError(f"reference cycle among expired images: {sorted(remaining)}")
            layers.append(layer)
            remaining -= set(layer)
        return layers


def selects(selection: Selection, image: Image) -> bool:
    """Whether a rule's tag selection covers the image (ECR's step 1)."""
    if selection.storage_class == "archive" or image.archived:
        return False  # archive-class rules act on archived images, which this engine never evaluates
    if selection.tag_status == "untagged":
        return not image.tagged
    if selection.tag_status == "any":
        return True
    if not image.tagged:
        return False
    if selection.tag_pattern_list is not None:
        return all(any(matches(p, tag) for tag in image.tags) for p in selection.tag_pattern_list)
    prefixes = selection.tag_prefix_list or []
    return all(any(tag.startswith(prefix) for tag in image.tags) for prefix in prefixes)


def newest_first(images: Iterable[Image]) -> list[Image]:
    """ECR's count order, with the digest as a tie-break so the order never depends on input order."""
    return sorted(images, key=lambda image: (image.pushed_at, image.digest), reverse=True)


def _age_days(since: datetime, now: datetime) -> float:
    return (now - since) / timedelta(days=1)


def _judge(rule: Rule, selected: Sequence[Image], now: datetime) -> dict[str, tuple[bool, str]]:
    """For each selected image: (is a candidate for expiry, why), per ECR's step 2."""
    sel = rule.selection
    verdicts: dict[str, tuple[bool, str]] = {}
    if sel.count_type == "imageCountMoreThan":
        total = len(selected)
        for position, image in enumerate(selected, start=1):
            if position > sel.count_number:
                why = f"#{position} newest of {total} selected; the rule keeps {sel.count_number}"
            else:
                why = f"#{position} newest of {total} selected; within the {sel.count_number} kept"
            verdicts[image.digest] = (position > sel.count_number, why)
        return verdicts
    pulled = sel.count_type == "sinceImagePulled"
    for image in selected:
        clock = image.last_used_at if pulled else image.pushed_at
        event = "pulled" if pulled and image.last_pulled_at else "pushed"
        age = _age_days(clock, now)
        older = now - clock > timedelta(days=sel.count_number)
        limit = "more than" if older else "within"
        verdicts[image.digest] = (older, f"{event} {age:.1f} days ago, {limit} {sel.count_number} days")
    return verdicts


def followed_by(images: Sequence[Image]) -> dict[str, frozenset[str]]:
    """Image -> the images in the repository that list it (indexes) or that it signs or describes."""
    present = {image.digest for image in images}
    parents: dict[str, set[str]] = {}
    for image in images:
        for child in image.children:
            if child in present and child != image.digest:
                parents.setdefault(child, set()).add(image.digest)
        subject = image.subject
        if subject in present and subject != image.digest:
            parents.setdefault(image.digest, set()).add(subject)
    return {digest: frozenset(found) for digest, found in parents.items()}


def _rule_outcomes(
    independent: Sequence[Image], rules: Sequence[Rule], now: datetime
) -> dict[str, tuple[Verdict, Reason]]:
    """ECR's steps 1-3 over the images rules may count: (verdict, reason) for every selected image."""
    outcomes: dict[str, tuple[Verdict, Reason]] = {}
    for rule in sorted(rules, key=lambda r: r.rule_priority):
        selected = [image for image in independent if selects(rule.selection, image)]
        judged = _judge(rule, selected, now)
        for image in selected:
            if image.digest in outcomes:
                continue
            candidate, why = judged[image.digest]
            if candidate and rule.action.type == "transition":
                code, verdict = ReasonCode.WOULD_ARCHIVE, Verdict.KEEP
            elif candidate:
                code, verdict = ReasonCode.EXPIRED_BY_RULE, Verdict.EXPIRE
            else:
                code, verdict = ReasonCode.KEPT_BY_RULE, Verdict.KEEP
            outcomes[image.digest] = (verdict, Reason(code, f"{rule.summary}: {why}", rule.rule_priority))
    return outcomes


def _describe(image: Image) -> str:
    label = f" ({', '.join(image.tags)})" if image.tags else ""
    return f"{image.digest[:19]}…{label}"


def evaluate(
    images: Iterable[Image],
    rules: Sequence[Rule],
    now: datetime,
    protections: Protections = NO_PROTECTIONS,
) -> RepositoryPlan:
    ordered = newest_first(images)
    by_digest = {image.digest: image for image in ordered}
    parents = followed_by(ordered)
    listed_by = {
        digest: frozenset(p for p in found if by_digest[p].is_index and digest in by_digest[p].children)
        for digest, found in parents.items()
    }

    def is_follower(image: Image) -> bool:
        return image.digest in parents and (not image.tagged or image.subject is not None)

    outcomes = _rule_outcomes([i for i in ordered if not is_follower(i)], rules, now)
    decided: dict[str, Decision] = {}

    def decide(image: Image) -> Decision:
        if image.archived:
            return Decision(
                image, Verdict.KEEP, Reason(ReasonCode.ARCHIVED, "in ECR's archive storage class")
            )
        if is_follower(image):
            kept = sorted(p for p in parents[image.digest] if decided[p].verdict is Verdict.KEEP)
            relation = "listed by" if image.digest in listed_by and not image.subject else "follows"
            if kept:
                who = ", ".join(_describe(by_digest[p]) for p in kept)
                return Decision(
                    image, Verdict.KEEP, Reason(ReasonCode.FOLLOWS_KEPT, f"{relation} kept {who}")
                )
            who = ", ".join(_describe(by_digest[p]) for p in sorted(parents[image.digest]))
            proposed = Decision(
                image, Verdict.EXPIRE, Reason(ReasonCode.FOLLOWS_EXPIRED, f"{relation} expired {who}")
            )
        elif image.subject is not None:
            return Decision(
                image,
                Verdict.KEEP,
                Reason(
                    ReasonCode.ORPHAN_REFERRER, f"its subject {image.subject[:19]}… is not in this repository"
                ),
            )
        elif image.digest in outcomes:
            verdict, reason = outcomes[image.digest]
            proposed = Decision(image, verdict, reason)
        else:
            return Decision(image, Verdict.KEEP, Reason(ReasonCode.NOT_SELECTED, "no rule selects it"))
        if proposed.verdict is Verdict.KEEP:
            return proposed
        veto = protections.veto(image)
        if veto is None:
            kept_indexes = sorted(
                p for p in listed_by.get(image.digest, ()) if decided[p].verdict is Verdict.KEEP
            )
            if kept_indexes:
                who = ", ".join(_describe(by_digest[p]) for p in kept_indexes)
                veto = Reason(ReasonCode.LISTED_BY_KEPT_INDEX, f"listed by kept index {who}")
        if veto is None:
            return proposed
        return Decision(image, Verdict.KEEP, veto, vetoed_rule=proposed.reason.rule_priority)

    pending = {image.digest for image in ordered}
    while pending:
        ready = [d for d in pending if not (parents.get(d, frozenset()) & pending)]
        if not ready:
            for digest in pending:
                decided[digest] = Decision(
                    by_digest[digest],
                    Verdict.KEEP,
                    Reason(ReasonCode.UNRESOLVED, "part of a reference cycle"),
                )
            break
        for digest in ready:
            decided[digest] = decide(by_digest[digest])
        pending -= set(ready)

    expired = {d for d, decision in decided.items() if decision.verdict is Verdict.EXPIRE}
    prerequisites = {
        digest: frozenset(parents.get(digest, frozenset()) & expired)
        for digest in expired
        if parents.get(digest)
    }
    return RepositoryPlan(tuple(decided[image.digest] for image in ordered), prerequisites)
