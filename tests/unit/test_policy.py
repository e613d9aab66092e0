"""The policy engine against ECR's documented semantics.

The first tests rebuild the worked examples of the ECR user guide ("Examples of lifecycle policies in
Amazon ECR"): same repository contents, same policy text, same documented result.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from ecr_janitor.core.model import Image
from ecr_janitor.core.retain import Protections, ReasonCode, RepositoryPlan, Verdict, evaluate, selects
from tests.factories import NOW, digest, image, rule, rules, transition


def expired_names(plan: RepositoryPlan, images: dict[str, Image]) -> set[str]:
    by_digest = {img.digest: name for name, img in images.items()}
    return {by_digest[d.image.digest] for d in plan.expired}


def run(images: dict[str, Image], *documents: dict[str, object], tags: tuple[str, ...] = ()) -> set[str]:
    plan = evaluate(images.values(), rules(*documents), NOW, Protections(tags=tags))
    return expired_names(plan, images)


# -- the ECR user guide's examples -----------------------------------------------------------------

MULTI_RULE_REPO = {
    "A": image("A", "beta-1", "prod-1", days_ago=10),
    "B": image("B", "beta-2", "prod-2", days_ago=9),
    "C": image("C", "beta-3", days_ago=8),
}


def test_guide_multiple_rules_example_a() -> None:
    # Rule 1 (prod) expires A. Rule 2 (beta) would expire A and B, but B was selected by rule 1.
    expired = run(
        MULTI_RULE_REPO,
        rule(1, "tagged", "imageCountMoreThan", 1, patterns=["prod*"]),
        rule(2, "tagged", "imageCountMoreThan", 1, patterns=["beta*"]),
    )
    assert expired == {"A"}


def test_guide_multiple_rules_example_b() -> None:
    # Priorities swapped: rule 1 (beta) expires A and B; rule 2 (prod) sees only images rule 1 saw.
    expired = run(
        MULTI_RULE_REPO,
        rule(1, "tagged", "imageCountMoreThan", 1, patterns=["beta*"]),
        rule(2, "tagged", "imageCountMoreThan", 1, patterns=["prod*"]),
    )
    assert expired == {"A", "B"}


def test_guide_multiple_rules_example_a_with_prefix_lists() -> None:
    expired = run(
        MULTI_RULE_REPO,
        rule(1, "tagged", "imageCountMoreThan", 1, prefixes=["prod"]),
        rule(2, "tagged", "imageCountMoreThan", 1, prefixes=["beta"]),
    )
    assert expired == {"A"}


MULTI_TAG_REPO = {
    "A": image("A", "alpha-1", days_ago=12),
    "B": image("B", "beta-1", days_ago=11),
    "C": image("C", "alpha-2", "beta-2", days_ago=10),
    "D": image("D", "alpha-3", days_ago=4),
    "E": image("E", "beta-3", days_ago=3),
    "F": image("F", "alpha-4", "beta-4", days_ago=2),
}


def test_guide_multiple_tags_example_a() -> None:
    # Only C and F carry both alpha and beta tags; of those only C is older than 5 days.
    expired = run(MULTI_TAG_REPO, rule(1, "tagged", "sinceImagePushed", 5, patterns=["alpha*", "beta*"]))
    assert expired == {"C"}


def test_guide_multiple_tags_example_b_tags_are_not_exclusive() -> None:
    repo = {
        "A": image("A", "alpha-1", "beta-1", "gamma-1", days_ago=10),
        "B": image("B", "alpha-2", "beta-2", days_ago=9),
        "C": image("C", "alpha-3", "beta-3", "gamma-2", days_ago=8),
    }
    expired = run(repo, rule(1, "tagged", "imageCountMoreThan", 1, prefixes=["alpha", "beta"]))
    assert expired == {"A", "B"}


def test_guide_all_images_example_a() -> None:
    repo = {
        "A": image("A", "alpha-1", days_ago=4),
        "B": image("B", "beta-1", days_ago=3),
        "C": image("C", days_ago=2),
        "D": image("D", "alpha-2", days_ago=1),
    }
    assert run(repo, rule(1, "any", "imageCountMoreThan", 1)) == {"A", "B", "C"}


def test_guide_all_images_example_b_combines_every_rule_type() -> None:
    # Rule 1 expires A (older alpha), rule 2 expires B (untagged, older than a day); rule 3 keeps the
    # newest image and could expire the rest, but A, B, C and E were selected by higher rules: only D.
    repo = {
        "A": image("A", "alpha-1", "beta-1", days_ago=4),
        "B": image("B", days_ago=3),
        "C": image("C", "alpha-2", days_ago=2),
        "D": image("D", "git-hash", days_ago=1.0),
        "E": image("E", days_ago=0.9),
    }
    expired = run(
        repo,
        rule(1, "tagged", "imageCountMoreThan", 1, patterns=["alpha*"]),
        rule(2, "untagged", "sinceImagePushed", 1),
        rule(3, "any", "imageCountMoreThan", 1),
    )
    assert expired == {"A", "B", "D"}


# -- the semantics, case by case ---------------------------------------------------------------------

SELECTION_CASES = [
    # (tag status, patterns, prefixes, image tags, selected)
    ("untagged", None, None, (), True),
    ("untagged", None, None, ("v1",), False),
    ("any", None, None, (), True),
    ("any", None, None, ("v1",), True),
    ("tagged", ["v*"], None, (), False),
    ("tagged", ["v*"], None, ("v1", "latest"), True),
    ("tagged", ["v*", "*-rc"], None, ("v1",), False),
    ("tagged", ["v*", "*-rc"], None, ("v1", "2-rc"), True),
    ("tagged", ["v*-rc"], None, ("v1-rc",), True),
    ("tagged", ["prod"], None, ("prod1",), False),  # a pattern without * is an exact match
    ("tagged", None, ["prod"], ("prod1",), True),
    ("tagged", None, ["prod"], ("preprod",), False),
    ("tagged", None, ["a", "b"], ("a1",), False),
    ("tagged", None, ["a", "b"], ("b1", "a1"), True),
    ("tagged", ["*"], None, ("anything",), True),
    ("tagged", ["*"], None, (), False),
    ("tagged", ["v1.*"], None, ("v1x2",), False),  # only * is special; '.' is literal
]


@pytest.mark.parametrize(("status", "patterns", "prefixes", "tags", "selected"), SELECTION_CASES)
def test_selection(
    status: str, patterns: list[str] | None, prefixes: list[str] | None, tags: tuple[str, ...], selected: bool
) -> None:
    (only,) = rules(rule(1, status, "imageCountMoreThan", 1, patterns=patterns, prefixes=prefixes))
    assert selects(only.selection, image("x", *tags)) is selected


def test_image_count_keeps_the_newest_by_push_time() -> None:
    repo = {
        name: image(name, days_ago=age)
        for name, age in [("old", 30), ("mid", 20), ("new", 1), ("newer", 0.5)]
    }
    assert run(repo, rule(1, "untagged", "imageCountMoreThan", 2)) == {"old", "mid"}


def test_image_count_ties_are_broken_the_same_way_whatever_the_order() -> None:
    repo = {name: image(name, days_ago=5) for name in "abcdef"}
    forward = evaluate(list(repo.values()), rules(rule(1, "untagged", "imageCountMoreThan", 3)), NOW)
    backward = evaluate(
        list(reversed(repo.values())), rules(rule(1, "untagged", "imageCountMoreThan", 3)), NOW
    )
    assert forward == backward
    assert len(forward.expired) == 3


@pytest.mark.parametrize(
    ("age_days", "expired"),
    [(13.9, False), (14.0, False), (14.0001, True), (400, True)],
)
def test_since_image_pushed_expires_only_what_is_older_than_the_limit(age_days: float, expired: bool) -> None:
    repo = {"x": image("x", days_ago=age_days)}
    assert run(repo, rule(1, "untagged", "sinceImagePushed", 14)) == ({"x"} if expired else set())


@pytest.mark.parametrize(
    ("pushed", "pulled", "expired"),
    [
        (200, 10, False),  # old but pulled recently
        (200, 100, True),  # last pulled long ago
        (200, None, True),  # never pulled: the push time counts
        (20, None, False),  # never pulled, but pushed recently
    ],
)
def test_since_image_pulled_falls_back_to_push_time(
    pushed: float, pulled: float | None, expired: bool
) -> None:
    repo = {"x": image("x", "v1", days_ago=pushed, pulled_days_ago=pulled)}
    assert run(repo, rule(1, "any", "sinceImagePulled", 90)) == ({"x"} if expired else set())


def test_a_higher_rule_selection_still_counts_in_a_lower_rule() -> None:
    # Rule 1 selects (and keeps) the newest "keep" image; it still occupies rule 2's single slot.
    repo = {
        "kept-by-1": image("kept-by-1", "keep", "app", days_ago=1),
        "second": image("second", "app", days_ago=2),
    }
    expired = run(
        repo,
        rule(1, "tagged", "imageCountMoreThan", 5, patterns=["keep"]),
        rule(2, "tagged", "imageCountMoreThan", 1, patterns=["app"]),
    )
    assert expired == {"second"}


def test_protected_tags_veto_but_do_not_change_the_count() -> None:
    repo = {
        "newest": image("newest", days_ago=1),
        "release": image("release", "release-1.0", days_ago=2),
        "old": image("old", "build-7", days_ago=3),
    }
    plan = evaluate(
        repo.values(), rules(rule(1, "any", "imageCountMoreThan", 1)), NOW, Protections(tags=("release-*",))
    )
    assert expired_names(plan, repo) == {"old"}
    (protected,) = plan.protected
    assert protected.image.digest == digest("release")
    assert protected.reason.code is ReasonCode.PROTECTED_TAG
    assert protected.reason.detail == "tag release-1.0 matches protected pattern release-*"
    assert protected.vetoed_rule == 1


def test_in_use_images_are_kept_with_who_uses_them() -> None:
    repo = {"x": image("x", days_ago=100)}
    protections = Protections(in_use={digest("x"): "ECS service prod/api"})
    plan = evaluate(repo.values(), rules(rule(1, "untagged", "sinceImagePushed", 14)), NOW, protections)
    assert plan.expired == ()
    assert plan.decisions[0].reason.detail == "in use by ECS service prod/api"


def test_every_decision_says_why() -> None:
    repo = {
        "gone": image("gone", days_ago=30),
        "young": image("young", days_ago=1),
        "tagged": image("tagged", "v1", days_ago=30),
    }
    plan = evaluate(repo.values(), rules(rule(1, "untagged", "sinceImagePushed", 14)), NOW)
    reasons = {d.image.digest: (d.verdict, d.reason.code, d.reason.rule_priority) for d in plan.decisions}
    assert reasons == {
        digest("gone"): (Verdict.EXPIRE, ReasonCode.EXPIRED_BY_RULE, 1),
        digest("young"): (Verdict.KEEP, ReasonCode.KEPT_BY_RULE, 1),
        digest("tagged"): (Verdict.KEEP, ReasonCode.NOT_SELECTED, None),
    }
    gone = next(d for d in plan.decisions if d.image.digest == digest("gone"))
    assert (
        gone.reason.detail
        == "rule 1 (untagged, sinceImagePushed 14 days): pushed 30.0 days ago, more than 14 days"
    )


def test_description_names_the_rule_in_reasons() -> None:
    documented = rule(1, "untagged", "imageCountMoreThan", 1)
    documented["description"] = "keep one untagged"
    plan = evaluate([image("a", days_ago=2), image("b", days_ago=1)], rules(documented), NOW)
    assert plan.expired[0].reason.detail.startswith("rule 1 (keep one untagged): #2 newest of 2 selected")


def test_bytes_expired_sums_the_expired_images_only() -> None:
    plan = evaluate(
        [image("a", days_ago=30, size=7), image("b", days_ago=20, size=5), image("c", days_ago=1, size=1000)],
        rules(rule(1, "untagged", "sinceImagePushed", 14)),
        NOW,
    )
    assert plan.bytes_expired == 12


def test_now_is_the_only_clock() -> None:
    repo = [image("x", days_ago=10)]
    policy = rules(rule(1, "untagged", "sinceImagePushed", 14))
    assert evaluate(repo, policy, NOW).expired == ()
    assert len(evaluate(repo, policy, NOW + timedelta(days=5)).expired) == 1


def test_a_transition_rule_archives_rather_than_expires_and_still_claims_its_images() -> None:
    archive = transition(rule(1, "untagged", "sinceImagePushed", 30))
    repo_ = {"old": image("old", days_ago=60), "new": image("new", days_ago=1)}
    plan = evaluate(repo_.values(), rules(archive, rule(2, "any", "imageCountMoreThan", 1)), NOW)
    reasons = {d.image.digest: (d.verdict, d.reason.code) for d in plan.decisions}
    # Rule 1 selected both untagged images, so rule 2 can't expire the old one: it is archived.
    assert reasons[digest("old")] == (Verdict.ARCHIVE, ReasonCode.ARCHIVED_BY_RULE)
    assert reasons[digest("new")] == (Verdict.KEEP, ReasonCode.KEPT_BY_RULE)
    assert plan.expired == ()
    assert [d.image.digest for d in plan.archived] == [digest("old")]


def test_archive_class_rules_select_no_active_image() -> None:
    expire_archived = rule(1, "any", "sinceImageTransitioned", 90)
    expire_archived["selection"]["storageClass"] = "archive"
    plan = evaluate([image("x", days_ago=900)], rules(expire_archived), NOW)
    assert plan.expired == ()
    assert plan.decisions[0].reason.code is ReasonCode.NOT_SELECTED
