"""The propagate preview: what native ECR does with a policy (every index, platform image and signature
counted and expired on its own, aws/containers-roadmap#2613), and which of those images the janitor would
have kept (at risk). Each "at risk" case has its "not at risk" control."""

from __future__ import annotations

from dataclasses import replace

from ecr_janitor.core.lifecycle import Rule
from ecr_janitor.core.model import Image, ImageStatus
from ecr_janitor.core.native import at_risk, evaluate_as_ecr
from ecr_janitor.core.retain import Protections, ReasonCode, RepositoryPlan, Verdict, evaluate
from tests.factories import (
    NOW,
    archive_rule,
    archived,
    digest,
    image,
    index,
    referrer,
    rule,
    rules,
    signature,
    transition,
)

KEEP_NEWEST = rules(rule(1, "any", "imageCountMoreThan", 1))
UNTAGGED_AFTER_14_DAYS = rules(rule(1, "untagged", "sinceImagePushed", 14))
NAMES = ("v1", "v1-sig", "v2", "idx", "amd64", "arm64", "ref", "old", "restoring")


def name(image: Image) -> str:
    return next(n for n in NAMES if digest(n) == image.digest)


def verdicts(plan: RepositoryPlan) -> dict[str, tuple[Verdict, ReasonCode]]:
    return {name(d.image): (d.verdict, d.reason.code) for d in plan.decisions}


def risk(images: list[Image], policy: list[Rule], protections: Protections) -> dict[str, ReasonCode]:
    janitor = evaluate(images, policy, NOW, protections)
    return {name(d.image): d.reason.code for d in at_risk(evaluate_as_ecr(images, policy, NOW), janitor)}


def signed(*, in_use: bool) -> tuple[list[Image], Protections]:
    """v1 and its cosign signature, then a newer v2; v1 in use or not."""
    images = [
        image("v1", "v1", days_ago=3),
        signature("v1-sig", "v1", days_ago=2),
        image("v2", "v2", days_ago=1),
    ]
    return images, Protections(in_use={digest("v1"): "ECS service prod/api"} if in_use else {})


def multi_arch(*index_tags: str) -> list[Image]:
    return [
        image("amd64", days_ago=60),
        image("arm64", days_ago=60),
        index("idx", ["amd64", "arm64"], *index_tags, days_ago=60),
    ]


def test_ecr_counts_signatures_and_platform_images_as_images_of_their_own() -> None:
    images, _ = signed(in_use=False)
    assert verdicts(evaluate_as_ecr(images, KEEP_NEWEST, NOW)) == {
        "v2": (Verdict.KEEP, ReasonCode.KEPT_BY_RULE),
        "v1-sig": (Verdict.EXPIRE, ReasonCode.EXPIRED_BY_RULE),
        "v1": (Verdict.EXPIRE, ReasonCode.EXPIRED_BY_RULE),
    }
    assert verdicts(evaluate_as_ecr(multi_arch("v1"), UNTAGGED_AFTER_14_DAYS, NOW)) == {
        "amd64": (Verdict.EXPIRE, ReasonCode.EXPIRED_BY_RULE),
        "arm64": (Verdict.EXPIRE, ReasonCode.EXPIRED_BY_RULE),
        "idx": (Verdict.KEEP, ReasonCode.NOT_SELECTED),
    }
    # The retain engine, for contrast, counts neither: the children follow their kept index.
    retained = verdicts(evaluate(multi_arch("v1"), UNTAGGED_AFTER_14_DAYS, NOW))
    assert retained["amd64"] == (Verdict.KEEP, ReasonCode.FOLLOWS_KEPT)


def test_a_signature_counts_in_ecrs_ordering() -> None:
    """Newest first, a signature pushed after its subject takes a place: the subject falls out."""
    images = [image("v1", "v1", days_ago=2), signature("v1-sig", "v1", days_ago=1)]
    assert verdicts(evaluate_as_ecr(images, KEEP_NEWEST, NOW))["v1"] == (
        Verdict.EXPIRE,
        ReasonCode.EXPIRED_BY_RULE,
    )
    assert verdicts(evaluate(images, KEEP_NEWEST, NOW))["v1"] == (Verdict.KEEP, ReasonCode.KEPT_BY_RULE)


def test_the_signature_of_a_kept_image_is_at_risk_under_a_count_rule() -> None:
    images, in_use = signed(in_use=True)
    assert risk(images, KEEP_NEWEST, in_use) == {"v1": ReasonCode.IN_USE, "v1-sig": ReasonCode.FOLLOWS_KEPT}
    # Control: nothing keeps v1, so the janitor would expire both too; nothing is at risk.
    images, nothing = signed(in_use=False)
    assert risk(images, KEEP_NEWEST, nothing) == {}


def test_the_untagged_children_of_a_kept_index_are_at_risk_under_an_untagged_rule() -> None:
    assert risk(multi_arch("v1"), UNTAGGED_AFTER_14_DAYS, Protections()) == {
        "amd64": ReasonCode.FOLLOWS_KEPT,
        "arm64": ReasonCode.FOLLOWS_KEPT,
    }
    # Control: an untagged index the rule expires takes its children with it in retain mode too.
    assert risk(multi_arch(), UNTAGGED_AFTER_14_DAYS, Protections()) == {}


def test_a_referrer_of_a_kept_image_is_at_risk_and_one_of_an_expired_image_is_not() -> None:
    kept = [image("v1", "v1", days_ago=60), referrer("ref", "v1", days_ago=30)]
    assert risk(kept, UNTAGGED_AFTER_14_DAYS, Protections()) == {"ref": ReasonCode.FOLLOWS_KEPT}
    expire_all = rules(rule(1, "any", "sinceImagePushed", 14))
    assert risk(kept, expire_all, Protections()) == {}


def test_what_ecr_deletes_that_the_janitor_would_only_archive_is_at_risk() -> None:
    """A transition rule archives an index; an untagged expire rule in ECR deletes its platform images,
    which the janitor takes into the archive with the index (or a restore brings back a broken index)."""
    policy = rules(
        transition(rule(1, "tagged", "sinceImagePushed", 30, patterns=["v*"])),
        rule(2, "untagged", "sinceImagePushed", 14),
    )
    assert risk(multi_arch("v1"), policy, Protections()) == {
        "amd64": ReasonCode.FOLLOWS_ARCHIVED,
        "arm64": ReasonCode.FOLLOWS_ARCHIVED,
    }
    # Control: with the index archived by the rule and the children archived too, nothing differs.
    both = rules(
        transition(rule(1, "tagged", "sinceImagePushed", 30, patterns=["v*"])),
        transition(rule(2, "untagged", "sinceImagePushed", 14)),
    )
    assert risk(multi_arch("v1"), both, Protections()) == {}


def test_ecr_leaves_restoring_images_alone_and_deletes_archived_ones_by_their_own_age() -> None:
    restoring = replace(
        archived(image("restoring", days_ago=400), days_ago=200), status=ImageStatus.ACTIVATING
    )
    images = [
        archived(image("old", "v0", days_ago=400), days_ago=200),
        archived(image("v1", "v1"), days_ago=10),
    ]
    plan = verdicts(evaluate_as_ecr([*images, restoring], rules(archive_rule(1, "any", 90)), NOW))
    assert plan == {
        "old": (Verdict.EXPIRE, ReasonCode.EXPIRED_BY_RULE),
        "v1": (Verdict.KEEP, ReasonCode.KEPT_BY_RULE),
        "restoring": (Verdict.KEEP, ReasonCode.RESTORING),
    }
