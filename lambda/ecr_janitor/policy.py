"""The pure policy engine: (images, rules, protections, now) -> a plan with a reason for every image.

It follows ECR's documented lifecycle evaluation (DESIGN.md, retain-mode semantics):

1. Each rule selects images by tag status and tag list (every list entry must match some tag).
2. `imageCountMoreThan N`: the selected images after the newest N (by push time) are candidates.
   `sinceImagePushed` / `sinceImagePulled N days`: the selected images older than N days are.
3. Rules apply lowest `rulePriority` first. An image a higher-priority rule selected can't be
   expired by a lower-priority rule, though it still counts in that rule's ordering.
4. Protections then veto expiry; they never change what counts in step 2.

No I/O and no clock: `now` is an argument, so the same input always gives the same plan.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from ecr_janitor.config import Rule, Selection
from ecr_janitor.model import Image
from ecr_janitor.patterns import matches, matches_any

DELETE_BATCH_SIZE = 100


class Verdict(StrEnum):
    EXPIRE = "expire"
    KEEP = "keep"


class ReasonCode(StrEnum):
    EXPIRED_BY_RULE = "expired-by-rule"
    KEPT_BY_RULE = "kept-by-rule"
    NOT_SELECTED = "not-selected"
    PROTECTED_TAG = "protected-tag"
    IN_USE = "in-use"


PROTECTION_CODES = frozenset({ReasonCode.PROTECTED_TAG, ReasonCode.IN_USE})


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

    def deletion_batches(self, size: int = DELETE_BATCH_SIZE) -> list[list[str]]:
        """Digests to delete, in order, at most `size` per BatchDeleteImage call."""
        digests = sorted(d.image.digest for d in self.expired)
        return [digests[start : start + size] for start in range(0, len(digests), size)]


def selects(selection: Selection, image: Image) -> bool:
    """Whether a rule's tag selection covers the image (ECR's step 1)."""
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


def evaluate(
    images: Iterable[Image],
    rules: Sequence[Rule],
    now: datetime,
    protections: Protections = NO_PROTECTIONS,
) -> RepositoryPlan:
    ordered = newest_first(images)
    claimed: dict[str, Reason] = {}
    expired: dict[str, Reason] = {}
    for rule in sorted(rules, key=lambda r: r.rule_priority):
        selected = [image for image in ordered if selects(rule.selection, image)]
        judged = _judge(rule, selected, now)
        for image in selected:
            candidate, why = judged[image.digest]
            if image.digest in claimed:
                continue
            if candidate:
                reason = Reason(ReasonCode.EXPIRED_BY_RULE, f"{rule.summary}: {why}", rule.rule_priority)
                expired[image.digest] = reason
            else:
                reason = Reason(ReasonCode.KEPT_BY_RULE, f"{rule.summary}: {why}", rule.rule_priority)
            claimed[image.digest] = reason

    decisions: list[Decision] = []
    for image in ordered:
        if image.digest in expired:
            rule_reason = expired[image.digest]
            veto = protections.veto(image)
            if veto is None:
                decisions.append(Decision(image, Verdict.EXPIRE, rule_reason))
            else:
                decisions.append(Decision(image, Verdict.KEEP, veto, vetoed_rule=rule_reason.rule_priority))
        elif image.digest in claimed:
            decisions.append(Decision(image, Verdict.KEEP, claimed[image.digest]))
        else:
            decisions.append(
                Decision(image, Verdict.KEEP, Reason(ReasonCode.NOT_SELECTED, "no rule selects it"))
            )
    return RepositoryPlan(tuple(decisions))
