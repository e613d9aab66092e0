"""The retain engine (pure): (images, rules, protections, now) -> a plan with a reason for every image.

It follows ECR's documented lifecycle evaluation; docs/retain-semantics.md states the exact semantics:

1. Each rule selects images by tag status and tag list (every list entry must match some tag), in its
   storage class: a rule without `storageClass` (or `standard`) selects ACTIVE images only, a
   `storageClass: archive` rule ARCHIVED images only. ACTIVATING images (being restored) are selected
   by no rule.
2. `imageCountMoreThan N`: the selected images after the newest N (by push time) are candidates.
   `sinceImagePushed` / `sinceImagePulled N days`: the selected images older than N days are;
   `sinceImageTransitioned N days`: those archived (`lastArchivedAt`) more than N days ago.
3. Rules apply lowest `rulePriority` first. An image a higher-priority rule selected can't be acted on
   by a lower-priority rule, though it still counts in that rule's ordering. A candidate of an `expire`
   rule is expired; of a `transition` rule, archived (moved to ECR's archive storage class).
4. Protections then veto expiry and archiving alike; they never change what counts in step 2. Kept:
   images in use, images with a protected tag, images restored from the archive within the grace
   period, and tagged manifests listed by a kept image index (an archived index vetoes only expiry).
5. Followers are never counted or acted on by rules on their own: the untagged children of an image
   index, and signatures, attestations, SBOMs and OCI referrers of an image in the repository. A
   follower ends where the most alive of the images it follows ends: kept (active) if any of them
   stays active, archived if any of them stays or goes into the archive, expired when all are expired.
   While an archived index whose manifest ECR won't serve is in the repository, any untagged image may be
   one of its platform images: none is counted by rules or expired (with anything); one stays where it is
   unless an index it is known to follow takes it into the archive. Nothing is expired while an archived
   image that would go with it has been in the archive less than ECR's 90 days (unless the target allows
   early archive deletion).
6. Actions go in layers: an index before its children, a subject before its referrers, so a run cut
   short never leaves an active index whose child is archived or gone.

No I/O and no clock: `now` is an argument, so the same input always gives the same plan.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import IntEnum, StrEnum
from functools import cached_property

from ecr_janitor.core.lifecycle import MIN_ARCHIVE_DAYS, Rule, Selection
from ecr_janitor.core.model import Image, ImageStatus
from ecr_janitor.core.patterns import matches, matches_any


class Verdict(StrEnum):
    EXPIRE = "expire"
    KEEP = "keep"
    ARCHIVE = "archive"
    """Move to ECR's archive storage class: not pullable, but restorable, unlike an expiry."""


class ReasonCode(StrEnum):
    EXPIRED_BY_RULE = "expired-by-rule"
    ARCHIVED_BY_RULE = "archived-by-rule"
    KEPT_BY_RULE = "kept-by-rule"
    NOT_SELECTED = "not-selected"
    PROTECTED_TAG = "protected-tag"
    IN_USE = "in-use"
    LISTED_BY_KEPT_INDEX = "listed-by-kept-index"
    RECENTLY_RESTORED = "recently-restored"
    """Restored from the archive within the grace period: neither archived nor expired again yet."""
    FOLLOWS_KEPT = "follows-kept"
    FOLLOWS_ARCHIVED = "follows-archived"
    FOLLOWS_EXPIRED = "follows-expired"
    ORPHAN_REFERRER = "orphan-referrer"
    ARCHIVED = "archived"
    """In ECR's archive storage class, and no archive-class rule selects it: it stays there."""
    RESTORING = "restoring"
    """ACTIVATING: ECR is restoring it from the archive; no rule acts on it."""
    UNRESOLVED = "unresolved"
    FOLLOWER_ARCHIVE_MINIMUM = "follower-archive-minimum"
    """Would be expired, but something that goes with it has been archived less than ECR's 90 days."""
    MAY_BE_LISTED_BY_ARCHIVED_INDEX = "may-be-listed-by-archived-index"
    """Untagged, beside an archived index whose manifest ECR won't serve: possibly one of its platform images,
    so neither counted nor acted on by rules, nor expired with anything, while that index is there."""


PROTECTION_CODES = frozenset(
    {
        ReasonCode.PROTECTED_TAG,
        ReasonCode.IN_USE,
        ReasonCode.LISTED_BY_KEPT_INDEX,
        ReasonCode.RECENTLY_RESTORED,
    }
)
"""Reasons that veto an expiry or an archiving a rule or a followed image decided."""


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
    restore_grace: timedelta = timedelta(0)
    """An ACTIVE image ECR restored from the archive less than this long ago (`lastActivatedAt`) is
    neither archived nor expired: an undo sticks, whoever did it."""

    def veto(self, image: Image, now: datetime) -> Reason | None:
        if image.digest in self.in_use:
            return Reason(ReasonCode.IN_USE, f"in use by {self.in_use[image.digest]}")
        for tag in sorted(image.tags):
            pattern = matches_any(self.tags, tag)
            if pattern is not None:
                return Reason(ReasonCode.PROTECTED_TAG, f"tag {tag} matches protected pattern {pattern}")
        restored = image.last_activated_at
        if (
            image.status is ImageStatus.ACTIVE
            and restored is not None
            and now < restored + self.restore_grace
        ):
            until = restored + self.restore_grace
            return Reason(
                ReasonCode.RECENTLY_RESTORED,
                f"restored {restored:%Y-%m-%d}, grace until {until:%Y-%m-%d}",
            )
        return None


NO_PROTECTIONS = Protections()


class After(IntEnum):
    """Where an image ends once the plan is applied, from least to most alive."""

    GONE = 0
    ARCHIVED = 1
    ACTIVE = 2


def ends_as(decision: Decision) -> After:
    if decision.verdict is Verdict.EXPIRE:
        return After.GONE
    if decision.verdict is Verdict.ARCHIVE or decision.image.archived:
        return After.ARCHIVED
    return After.ACTIVE  # ACTIVE, or ACTIVATING: on its way back


@dataclass(frozen=True)
class RepositoryPlan:
    decisions: tuple[Decision, ...]
    """Every image exactly once, newest first."""
    prerequisites: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Digest expired or archived -> the digests expired or archived that ECR must have dealt with first
    (the indexes that list it, the subject it signs)."""

    # Derived once: the report, the audit line and the metrics each ask for them (the plan is immutable).
    @cached_property
    def expired(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if d.verdict is Verdict.EXPIRE)

    @cached_property
    def archived(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if d.verdict is Verdict.ARCHIVE)

    @cached_property
    def kept(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if d.verdict is Verdict.KEEP)

    @cached_property
    def protected(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if d.reason.is_protection)

    @cached_property
    def bytes_expired(self) -> int:
        """Upper bound of the storage freed: layers shared with kept images are stored once."""
        return sum(d.image.size_bytes for d in self.expired)

    @cached_property
    def bytes_archived(self) -> int:
        """Upper bound of the storage moved to the archive class."""
        return sum(d.image.size_bytes for d in self.archived)

    def action_layers(self) -> list[list[str]]:
        """Expired and archived digests in the order ECR must see them: each layer only after the ones
        before it (an index before its children, a subject before its referrers)."""
        remaining = {d.image.digest for d in self.decisions if d.verdict is not Verdict.KEEP}
        layers: list[list[str]] = []
        while remaining:
            layer = sorted(d for d in remaining if not (self.prerequisites.get(d, frozenset()) & remaining))
            if not layer:  # evaluate() keeps every image of a cycle, so an acted-on cycle is a bug
                raise RuntimeError(f"reference cycle among expired or archived images: {sorted(remaining)}")
            layers.append(layer)
            remaining -= set(layer)
        return layers


def selects(selection: Selection, image: Image) -> bool:
    """Whether a rule's storage class and tag selection cover the image (ECR's step 1)."""
    wanted = ImageStatus.ARCHIVED if selection.storage_class == "archive" else ImageStatus.ACTIVE
    if image.status is not wanted:
        return False
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
        if sel.count_type == "sinceImageTransitioned":
            if image.last_archived_at is None:
                verdicts[image.digest] = (
                    False,
                    "ECR reports no lastArchivedAt: its time in the archive is unknown",
                )
                continue
            clock, event = image.last_archived_at, "archived"
        age = _age_days(clock, now)
        older = now - clock > timedelta(days=sel.count_number)
        limit = "more than" if older else "within"
        verdicts[image.digest] = (older, f"{event} {age:.1f} days ago, {limit} {sel.count_number} days")
    return verdicts


def leaders_of(images: Sequence[Image]) -> dict[str, set[str]]:
    """Image -> the images in the repository ECR links it to as a follower: the indexes that list it,
    the subject it signs or describes."""
    present = {image.digest for image in images}
    leaders: dict[str, set[str]] = {}
    for image in images:
        for child in image.children:
            if child in present and child != image.digest:
                leaders.setdefault(child, set()).add(image.digest)
        subject = image.subject
        if subject in present and subject != image.digest:
            leaders.setdefault(image.digest, set()).add(subject)
    return leaders


def followed_by(images: Sequence[Image]) -> dict[str, frozenset[str]]:
    """Image -> the images in the repository that list it (indexes) or that it signs or describes."""
    return {digest: frozenset(found) for digest, found in leaders_of(images).items()}


def followers_of(leaders: Mapping[str, Iterable[str]]) -> dict[str, set[str]]:
    """Leader -> the images that follow it: `leaders_of` turned around."""
    followers: dict[str, set[str]] = {}
    for follower, its_leaders in leaders.items():
        for leader in its_leaders:
            followers.setdefault(leader, set()).add(follower)
    return followers


def unreadable_indexes(images: Sequence[Image]) -> list[Image]:
    """The indexes whose children are unknown: archived, so ECR won't serve their manifests."""
    return [image for image in images if image.is_index and image.children_unknown]


def may_be_listed(image: Image, unreadable: Sequence[Image]) -> bool:
    """Whether an unreadable index may list the image: it is an untagged manifest (a platform image or a
    referrer) and such an index is in the repository."""
    return bool(unreadable) and not image.tagged and not image.is_index


def rule_outcomes(
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
                code, verdict = ReasonCode.ARCHIVED_BY_RULE, Verdict.ARCHIVE
            elif candidate:
                code, verdict = ReasonCode.EXPIRED_BY_RULE, Verdict.EXPIRE
            else:
                code, verdict = ReasonCode.KEPT_BY_RULE, Verdict.KEEP
            outcomes[image.digest] = (verdict, Reason(code, f"{rule.summary}: {why}", rule.rule_priority))
    return outcomes


def left_alone(image: Image) -> Decision:
    """An image no rule acts on: being restored (ACTIVATING), in the archive class, or selected by none."""
    if image.status is ImageStatus.ACTIVATING:
        reason = Reason(ReasonCode.RESTORING, "being restored from the archive (ACTIVATING)")
    elif image.archived:
        reason = Reason(
            ReasonCode.ARCHIVED, "in ECR's archive storage class; no archive-class rule selects it"
        )
    else:
        reason = Reason(ReasonCode.NOT_SELECTED, "no rule selects it")
    return Decision(image, Verdict.KEEP, reason)


def _describe(image: Image) -> str:
    label = f" ({', '.join(image.tags)})" if image.tags else ""
    return f"{image.digest[:19]}…{label}"


def evaluate(
    images: Iterable[Image],
    rules: Sequence[Rule],
    now: datetime,
    protections: Protections = NO_PROTECTIONS,
    *,
    allow_early_archive_deletion: bool = False,
) -> RepositoryPlan:
    """`allow_early_archive_deletion`: the target's allowEarlyArchiveDeletion (without it, nothing is
    expired while something that goes with it has been archived less than ECR's 90-day minimum)."""
    ordered = newest_first(images)
    by_digest = {image.digest: image for image in ordered}
    parents = followed_by(ordered)
    unreadable = unreadable_indexes(ordered)
    following = followers_of(parents)
    listed_by = {
        digest: frozenset(p for p in found if by_digest[p].is_index and digest in by_digest[p].children)
        for digest, found in parents.items()
    }

    def is_follower(image: Image) -> bool:
        return image.digest in parents and (not image.tagged or image.subject is not None)

    counted = [i for i in ordered if not is_follower(i) and not may_be_listed(i, unreadable)]
    outcomes = rule_outcomes(counted, rules, now)
    decided: dict[str, Decision] = {}

    def who(digests: Iterable[str]) -> str:
        return ", ".join(_describe(by_digest[p]) for p in sorted(digests))

    def relation(image: Image) -> str:
        if listed_by.get(image.digest) and not image.subject:
            return "listed by"
        return "follows"

    def possible_child(image: Image) -> Decision:
        """Kept where it is: an unreadable index may list it, and its restore would need it."""
        shown = [_describe(index) for index in unreadable[:3]]
        more = f" and {len(unreadable) - 3} more" if len(unreadable) > 3 else ""
        detail = (
            f"untagged: may be listed by archived index {', '.join(shown)}{more}, whose manifest ECR won't "
            "serve; kept where it is and not counted by rules while such an index is in the repository"
        )
        return Decision(image, Verdict.KEEP, Reason(ReasonCode.MAY_BE_LISTED_BY_ARCHIVED_INDEX, detail))

    def archive_minimum(image: Image, proposed: Decision) -> Decision | None:
        """Kept while an archived image that would go with it (transitively) is younger in the archive
        than ECR's minimum: deleting the leader would take it early, or leave it behind."""
        if allow_early_archive_deletion or proposed.verdict is not Verdict.EXPIRE:
            return None
        young: list[Image] = []
        seen: set[str] = set()
        pending = sorted(following.get(image.digest, ()))
        while pending:
            digest = pending.pop()
            if digest in seen:
                continue
            seen.add(digest)
            follower = by_digest[digest]
            since = follower.last_archived_at
            if follower.archived and (since is None or now - since < timedelta(days=MIN_ARCHIVE_DAYS)):
                young.append(follower)
            pending += sorted(following.get(digest, ()))
        if not young:
            return None
        unknown = [f for f in young if f.last_archived_at is None]
        last = unknown[0] if unknown else max(young, key=lambda f: (f.last_archived_at, f.digest))
        more = f" (and {len(young) - 1} more)" if len(young) > 1 else ""
        if last.last_archived_at is None:
            how_long = "ECR reports no lastArchivedAt for it: kept until it does"
        else:
            days = _age_days(last.last_archived_at, now)
            reaches = last.last_archived_at + timedelta(days=MIN_ARCHIVE_DAYS)
            how_long = (
                f"has been in the archive {days:.1f} days: kept until it reaches ECR's "
                f"{MIN_ARCHIVE_DAYS}-day minimum on {reaches:%Y-%m-%d}"
            )
        detail = (
            f"{_describe(last)}{more} follows it and {how_long} (allowEarlyArchiveDeletion: true on the "
            "target deletes earlier)"
        )
        reason = Reason(ReasonCode.FOLLOWER_ARCHIVE_MINIMUM, detail)
        return Decision(image, Verdict.KEEP, reason, vetoed_rule=proposed.reason.rule_priority)

    def follow(image: Image) -> Decision:
        """A follower ends where the most alive of the images it follows ends."""
        ends = {p: ends_as(decided[p]) for p in parents[image.digest]}
        target = max(ends.values())
        leaders = who(p for p, end in ends.items() if end is target)
        if target is After.ACTIVE or (target is After.ARCHIVED and image.archived):
            state = "kept" if target is After.ACTIVE else "archived"
            detail = f"{relation(image)} {state} {leaders}"
            if target is After.ACTIVE and image.archived:
                detail += "; it stays archived until restored"
            return Decision(image, Verdict.KEEP, Reason(ReasonCode.FOLLOWS_KEPT, detail))
        if target is After.ARCHIVED:
            reason = Reason(ReasonCode.FOLLOWS_ARCHIVED, f"{relation(image)} archived {leaders}")
            return Decision(image, Verdict.ARCHIVE, reason)
        reason = Reason(ReasonCode.FOLLOWS_EXPIRED, f"{relation(image)} expired {leaders}")
        return Decision(image, Verdict.EXPIRE, reason)

    def index_veto(image: Image, verdict: Verdict) -> Reason | None:
        """A kept index keeps what it lists active; an archived one keeps it from being expired."""
        needed = After.ACTIVE if verdict is Verdict.ARCHIVE else After.ARCHIVED
        holding = {
            p: ends_as(decided[p]) for p in listed_by.get(image.digest, ()) if ends_as(decided[p]) >= needed
        }
        if not holding:
            return None
        state = "kept" if After.ACTIVE in holding.values() else "archived"
        return Reason(ReasonCode.LISTED_BY_KEPT_INDEX, f"listed by {state} index {who(holding)}")

    def decide(image: Image) -> Decision:
        if image.status is ImageStatus.ACTIVATING:
            return left_alone(image)
        if is_follower(image):
            proposed = follow(image)
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
        elif may_be_listed(image, unreadable):
            return possible_child(image)
        else:
            return left_alone(image)
        if proposed.verdict is Verdict.KEEP:
            return proposed
        veto = protections.veto(image, now) or index_veto(image, proposed.verdict)
        if veto is not None:
            return Decision(image, Verdict.KEEP, veto, vetoed_rule=proposed.reason.rule_priority)
        if proposed.verdict is Verdict.EXPIRE and may_be_listed(image, unreadable):
            return possible_child(image)  # a known follower may go to the archive with its index, not further
        return archive_minimum(image, proposed) or proposed

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

    acting = {d for d, decision in decided.items() if decision.verdict is not Verdict.KEEP}
    prerequisites = {
        digest: frozenset(parents.get(digest, frozenset()) & acting)
        for digest in acting
        if parents.get(digest)
    }
    return RepositoryPlan(tuple(decided[image.digest] for image in ordered), prerequisites)
