"""Retain mode's archive: `transition` rules archive, archive-class rules delete from the archive, every
protection vetoes both, and followers end where their leader ends. Every "kept because X" has its
"archived (or expired) when not X" control."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from ecr_janitor.core.model import Image, ImageStatus
from ecr_janitor.core.retain import (
    Protections,
    ReasonCode,
    RepositoryPlan,
    Verdict,
    evaluate,
)
from tests.factories import (
    NOW,
    archive_rule,
    archived,
    digest,
    image,
    index,
    referrer,
    restored,
    rule,
    rules,
    signature,
    transition,
)

NAMES = (
    "a", "b", "c", "old", "new", "idx", "idx2", "amd64", "arm64", "sig", "ref", "child", "loose",
    "restoring", "kept",
)  # fmt: skip
BY_DIGEST = {digest(n): n for n in NAMES}
ARCHIVE_OLD_UNTAGGED = rules(transition(rule(1, "untagged", "sinceImagePushed", 30)))
ARCHIVE_OLD_RELEASES = rules(transition(rule(1, "tagged", "sinceImagePushed", 30, patterns=["v*"])))
DELETE_FROM_ARCHIVE = rules(archive_rule(1, "any", 180))
DELETE_FROM_ARCHIVE_AFTER_90 = rules(archive_rule(1, "any", 90))
GRACE = Protections(restore_grace=timedelta(days=7))


def outcome(plan: RepositoryPlan) -> dict[str, tuple[Verdict, ReasonCode]]:
    return {BY_DIGEST[d.image.digest]: (d.verdict, d.reason.code) for d in plan.decisions}


def detail(plan: RepositoryPlan, name: str) -> str:
    return next(d.reason.detail for d in plan.decisions if d.image.digest == digest(name))


# -- transition rules archive, protections veto ---------------------------------------------------------


def test_a_transition_rule_archives_its_candidates_and_keeps_the_rest() -> None:
    plan = evaluate([image("old", days_ago=40), image("new", days_ago=3)], ARCHIVE_OLD_UNTAGGED, NOW)
    assert outcome(plan) == {
        "old": (Verdict.ARCHIVE, ReasonCode.ARCHIVED_BY_RULE),
        "new": (Verdict.KEEP, ReasonCode.KEPT_BY_RULE),
    }
    assert plan.expired == ()
    assert plan.bytes_archived == 1000
    assert detail(plan, "old").startswith("rule 1 (untagged, sinceImagePushed 30 days): pushed 40.0 days ago")


@pytest.mark.parametrize(
    ("protections", "code"),
    [
        (Protections(in_use={digest("old"): "ECS service prod/api"}), ReasonCode.IN_USE),
        (Protections(tags=("v1*",)), ReasonCode.PROTECTED_TAG),
        (Protections(), None),  # the control: nothing protects it, so it is archived
    ],
)
def test_protections_veto_archiving(protections: Protections, code: ReasonCode | None) -> None:
    plan = evaluate([image("old", "v1.0", days_ago=40)], ARCHIVE_OLD_RELEASES, NOW, protections)
    (decision,) = plan.decisions
    if code is None:
        assert decision.verdict is Verdict.ARCHIVE
    else:
        assert (decision.verdict, decision.reason.code, decision.vetoed_rule) == (Verdict.KEEP, code, 1)
        assert decision in plan.protected


@pytest.mark.parametrize(
    ("restored_days_ago", "verdict"),
    [(2, Verdict.KEEP), (6.9, Verdict.KEEP), (7.1, Verdict.ARCHIVE)],
)
def test_an_image_restored_within_the_grace_is_not_archived_again(
    restored_days_ago: float, verdict: Verdict
) -> None:
    back = restored(image("old", days_ago=400), days_ago=restored_days_ago)
    plan = evaluate([back], ARCHIVE_OLD_UNTAGGED, NOW, GRACE)
    (decision,) = plan.decisions
    assert decision.verdict is verdict
    if verdict is Verdict.KEEP:
        assert decision.reason.code is ReasonCode.RECENTLY_RESTORED
        restored_on = (NOW - timedelta(days=restored_days_ago)).date()
        assert decision.reason.detail == (
            f"restored {restored_on}, grace until {restored_on + timedelta(days=7)}"
        )


def test_the_grace_also_stops_an_expiry_and_zero_days_turns_it_off() -> None:
    back = restored(image("old", days_ago=400), days_ago=1)
    expire_old = rules(rule(1, "untagged", "sinceImagePushed", 30))
    assert evaluate([back], expire_old, NOW, GRACE).decisions[0].reason.code is ReasonCode.RECENTLY_RESTORED
    assert evaluate([back], expire_old, NOW, Protections()).decisions[0].verdict is Verdict.EXPIRE


def test_rules_in_the_standard_class_never_count_archived_images() -> None:
    repo = [image("a", days_ago=1), archived(image("b", days_ago=2)), image("c", days_ago=3)]
    plan = evaluate(repo, rules(transition(rule(1, "untagged", "imageCountMoreThan", 1))), NOW)
    # Counted are a and c only: c is #2 of 2 (not #3 of 3), and b stays where it is.
    assert outcome(plan) == {
        "a": (Verdict.KEEP, ReasonCode.KEPT_BY_RULE),
        "b": (Verdict.KEEP, ReasonCode.ARCHIVED),
        "c": (Verdict.ARCHIVE, ReasonCode.ARCHIVED_BY_RULE),
    }
    assert "#2 newest of 2 selected" in detail(plan, "c")


def test_a_higher_expire_rule_claims_its_images_from_a_lower_transition_rule() -> None:
    repo = [image("old", days_ago=40), image("new", days_ago=20)]
    expire_first = rules(
        rule(1, "untagged", "sinceImagePushed", 30), transition(rule(2, "any", "sinceImagePushed", 10))
    )
    assert outcome(evaluate(repo, expire_first, NOW)) == {
        "old": (Verdict.EXPIRE, ReasonCode.EXPIRED_BY_RULE),
        "new": (Verdict.KEEP, ReasonCode.KEPT_BY_RULE),  # rule 1 selected it: rule 2 can't archive it
    }


# -- archive-class rules delete from the archive --------------------------------------------------------


@pytest.mark.parametrize(
    ("archived_days_ago", "verdict", "code"),
    [
        (200, Verdict.EXPIRE, ReasonCode.EXPIRED_BY_RULE),
        (100, Verdict.KEEP, ReasonCode.KEPT_BY_RULE),
        (None, Verdict.KEEP, ReasonCode.KEPT_BY_RULE),  # no lastArchivedAt: the age is unknown
    ],
)
def test_archive_class_rules_count_from_last_archived_at(
    archived_days_ago: float | None, verdict: Verdict, code: ReasonCode
) -> None:
    old = archived(image("old", days_ago=900), days_ago=archived_days_ago)
    (decision,) = evaluate([old], DELETE_FROM_ARCHIVE, NOW).decisions
    assert (decision.verdict, decision.reason.code) == (verdict, code)
    if archived_days_ago is None:
        assert "no lastArchivedAt" in decision.reason.detail
    else:
        assert f"archived {archived_days_ago:.1f} days ago" in decision.reason.detail


def test_an_archived_image_in_use_is_not_deleted_from_the_archive() -> None:
    old = archived(image("old", days_ago=900), days_ago=200)
    in_use = Protections(in_use={old.digest: "Batch job definition nightly:3"})
    assert evaluate([old], DELETE_FROM_ARCHIVE, NOW, in_use).decisions[0].reason.code is ReasonCode.IN_USE
    assert evaluate([old], DELETE_FROM_ARCHIVE, NOW).decisions[0].verdict is Verdict.EXPIRE  # control


def test_an_image_being_restored_is_left_to_ecr() -> None:
    restoring = replace(
        archived(image("restoring", days_ago=900), days_ago=200), status=ImageStatus.ACTIVATING
    )
    plan = evaluate([restoring, archived(image("old", days_ago=900), days_ago=200)], DELETE_FROM_ARCHIVE, NOW)
    assert outcome(plan) == {
        "restoring": (Verdict.KEEP, ReasonCode.RESTORING),
        "old": (Verdict.EXPIRE, ReasonCode.EXPIRED_BY_RULE),  # the same image, ARCHIVED: deleted
    }


# -- followers: indexes, signatures, referrers ----------------------------------------------------------


def multi_arch(*tags: str, days_ago: float = 40) -> list[Image]:
    return [
        image("amd64", days_ago=days_ago),
        image("arm64", days_ago=days_ago),
        index("idx", ["amd64", "arm64"], *tags, days_ago=days_ago),
        signature("sig", "idx", days_ago=days_ago),
        referrer("ref", "amd64", days_ago=days_ago),
    ]


def test_an_archived_index_takes_its_children_and_referrers_along_index_first() -> None:
    plan = evaluate(multi_arch("v1"), ARCHIVE_OLD_RELEASES, NOW)
    assert outcome(plan) == {
        "idx": (Verdict.ARCHIVE, ReasonCode.ARCHIVED_BY_RULE),
        "amd64": (Verdict.ARCHIVE, ReasonCode.FOLLOWS_ARCHIVED),
        "arm64": (Verdict.ARCHIVE, ReasonCode.FOLLOWS_ARCHIVED),
        "sig": (Verdict.ARCHIVE, ReasonCode.FOLLOWS_ARCHIVED),
        "ref": (Verdict.ARCHIVE, ReasonCode.FOLLOWS_ARCHIVED),
    }
    layers = plan.action_layers()
    assert layers[0] == [digest("idx")]
    assert sorted(layers[1]) == sorted(digest(n) for n in ("amd64", "arm64", "sig"))
    assert layers[2] == [digest("ref")]


def test_a_kept_index_keeps_its_children_and_referrers_active() -> None:
    in_use = Protections(in_use={digest("idx"): "ECS service prod/web"})
    plan = evaluate(multi_arch("v1"), ARCHIVE_OLD_RELEASES, NOW, in_use)
    assert outcome(plan) == {
        "idx": (Verdict.KEEP, ReasonCode.IN_USE),
        "amd64": (Verdict.KEEP, ReasonCode.FOLLOWS_KEPT),
        "arm64": (Verdict.KEEP, ReasonCode.FOLLOWS_KEPT),
        "sig": (Verdict.KEEP, ReasonCode.FOLLOWS_KEPT),
        "ref": (Verdict.KEEP, ReasonCode.FOLLOWS_KEPT),
    }


def test_a_child_in_use_stays_active_while_its_index_goes_to_the_archive() -> None:
    in_use = Protections(in_use={digest("amd64"): "Lambda thumbnailer:$LATEST"})
    result = outcome(evaluate(multi_arch("v1"), ARCHIVE_OLD_RELEASES, NOW, in_use))
    assert result["idx"][0] is Verdict.ARCHIVE
    assert result["amd64"] == (Verdict.KEEP, ReasonCode.IN_USE)
    assert result["ref"] == (Verdict.KEEP, ReasonCode.FOLLOWS_KEPT)  # follows the child that stays
    assert result["arm64"][0] is Verdict.ARCHIVE


def test_a_tagged_child_is_archived_only_if_no_kept_index_lists_it() -> None:
    def repo(index_tag: str) -> list[Image]:
        return [image("child", "v0-amd64", days_ago=40), index("idx", ["child"], index_tag, days_ago=1)]

    # The index is new (kept active): its tagged platform image can't go to the archive.
    kept = outcome(evaluate(repo("v9"), ARCHIVE_OLD_RELEASES, NOW))
    assert kept["child"] == (Verdict.KEEP, ReasonCode.LISTED_BY_KEPT_INDEX)
    # Control: an index no rule keeps active (it is archived already) doesn't stop it.
    loose = [image("child", "v0-amd64", days_ago=40), archived(index("idx", ["child"], "v9", days_ago=1))]
    assert outcome(evaluate(loose, ARCHIVE_OLD_RELEASES, NOW))["child"] == (
        Verdict.ARCHIVE,
        ReasonCode.ARCHIVED_BY_RULE,
    )


def test_an_archived_index_keeps_a_tagged_child_from_deletion_but_an_expired_one_does_not() -> None:
    expire_child = rules(rule(1, "tagged", "sinceImagePushed", 30, patterns=["v0-*"]))
    child = image("child", "v0-amd64", days_ago=40)
    held = outcome(evaluate([child, archived(index("idx", ["child"], "v9"))], expire_child, NOW))
    assert held["child"] == (Verdict.KEEP, ReasonCode.LISTED_BY_KEPT_INDEX)
    gone_index = archived(index("idx", ["child"], "v9", days_ago=400), days_ago=200)
    both = rules(
        archive_rule(1, "tagged", 180, patterns=["v9"]),
        rule(2, "tagged", "sinceImagePushed", 30, patterns=["v0-*"]),
    )
    released = outcome(evaluate([child, gone_index], both, NOW))
    assert released["idx"] == (Verdict.EXPIRE, ReasonCode.EXPIRED_BY_RULE)
    assert released["child"] == (Verdict.EXPIRE, ReasonCode.EXPIRED_BY_RULE)


def test_an_index_deleted_from_the_archive_takes_its_archived_children_first_the_index() -> None:
    repo = [archived(i, days_ago=200) for i in multi_arch("v1", days_ago=400)]
    plan = evaluate(repo, DELETE_FROM_ARCHIVE, NOW)
    assert outcome(plan)["idx"] == (Verdict.EXPIRE, ReasonCode.EXPIRED_BY_RULE)
    for follower in ("amd64", "arm64", "sig", "ref"):
        assert outcome(plan)[follower] == (Verdict.EXPIRE, ReasonCode.FOLLOWS_EXPIRED)
    assert plan.action_layers()[0] == [digest("idx")]


def test_an_archived_child_of_a_kept_index_says_it_stays_archived() -> None:
    repo = [archived(image("amd64", days_ago=40)), index("idx", ["amd64"], "v1", days_ago=1)]
    plan = evaluate(repo, ARCHIVE_OLD_RELEASES, NOW)
    assert outcome(plan)["amd64"] == (Verdict.KEEP, ReasonCode.FOLLOWS_KEPT)
    assert detail(plan, "amd64").endswith("it stays archived until restored")


def test_an_archived_index_whose_manifest_is_unreadable_holds_every_untagged_image() -> None:
    unreadable = replace(archived(index("idx", [], "v1", days_ago=400), days_ago=100), children_unknown=True)
    loose = archived(image("loose", days_ago=400), days_ago=200)
    active = image("old", days_ago=400)
    policy = rules(archive_rule(1, "untagged", 180), rule(2, "untagged", "sinceImagePushed", 30))
    held = evaluate([unreadable, loose, active], policy, NOW)
    assert outcome(held)["loose"] == (Verdict.KEEP, ReasonCode.MAY_BE_LISTED_BY_ARCHIVED_INDEX)
    assert outcome(held)["old"] == (Verdict.KEEP, ReasonCode.MAY_BE_LISTED_BY_ARCHIVED_INDEX)  # ACTIVE too
    # The night the index itself is deleted from the archive, what it may list still stays: a possible
    # child is never taken along (it may be an image of its own), and the next night it is on its own.
    policy = rules(archive_rule(1, "any", 90))
    released = outcome(evaluate([unreadable, loose], policy, NOW))
    assert released == {
        "idx": (Verdict.EXPIRE, ReasonCode.EXPIRED_BY_RULE),
        "loose": (Verdict.KEEP, ReasonCode.MAY_BE_LISTED_BY_ARCHIVED_INDEX),
    }
    # And without the unreadable index, the loose image is the archive rule's own.
    alone = outcome(evaluate([loose], rules(archive_rule(1, "untagged", 180)), NOW))
    assert alone["loose"] == (Verdict.EXPIRE, ReasonCode.EXPIRED_BY_RULE)


# -- ECR's 90-day minimum in the archive holds for followers too --------------------------------------------


def signed_release(*, signature_archived_days_ago: float | None) -> list[Image]:
    """A release archived 200 days ago and its signature, pushed later, archived `…_days_ago`."""
    release = archived(image("a", "v1", days_ago=300), days_ago=200)
    return [release, archived(signature("sig", "a", days_ago=100), days_ago=signature_archived_days_ago)]


def test_a_leader_stays_in_the_archive_until_what_follows_it_has_been_there_90_days() -> None:
    plan = evaluate(signed_release(signature_archived_days_ago=10), DELETE_FROM_ARCHIVE_AFTER_90, NOW)
    assert outcome(plan) == {
        "a": (Verdict.KEEP, ReasonCode.FOLLOWER_ARCHIVE_MINIMUM),
        "sig": (Verdict.KEEP, ReasonCode.FOLLOWS_KEPT),
    }
    (held,) = [d for d in plan.decisions if d.image.digest == digest("a")]
    assert held.vetoed_rule == 1
    reaches = (NOW + timedelta(days=80)).date()
    assert held.reason.detail == (
        f"{digest('sig')[:19]}… ({digest('a').replace(':', '-')}.sig) follows it and has been in the archive "
        f"10.0 days: kept until it reaches ECR's 90-day minimum on {reaches} (allowEarlyArchiveDeletion: "
        "true on the target deletes earlier)"
    )
    assert plan.expired == ()
    # Control: with allowEarlyArchiveDeletion, or once the signature has been archived 90 days, both go.
    for early, days in ((True, 10), (False, 91)):
        repo = signed_release(signature_archived_days_ago=days)
        released = evaluate(repo, DELETE_FROM_ARCHIVE_AFTER_90, NOW, allow_early_archive_deletion=early)
        assert outcome(released) == {
            "a": (Verdict.EXPIRE, ReasonCode.EXPIRED_BY_RULE),
            "sig": (Verdict.EXPIRE, ReasonCode.FOLLOWS_EXPIRED),
        }


def test_the_minimum_holds_through_a_chain_of_followers_and_without_last_archived_at() -> None:
    repo = [
        archived(image("amd64", days_ago=400), days_ago=200),
        archived(index("idx", ["amd64"], "v1", days_ago=400), days_ago=200),
        archived(referrer("ref", "amd64", days_ago=300), days_ago=30),
    ]
    plan = evaluate(repo, DELETE_FROM_ARCHIVE_AFTER_90, NOW)
    assert outcome(plan)["idx"] == (Verdict.KEEP, ReasonCode.FOLLOWER_ARCHIVE_MINIMUM)
    assert outcome(plan)["amd64"] == outcome(plan)["ref"] == (Verdict.KEEP, ReasonCode.FOLLOWS_KEPT)
    unknown = evaluate(signed_release(signature_archived_days_ago=None), DELETE_FROM_ARCHIVE_AFTER_90, NOW)
    assert outcome(unknown)["a"] == (Verdict.KEEP, ReasonCode.FOLLOWER_ARCHIVE_MINIMUM)
    assert "ECR reports no lastArchivedAt for it" in detail(unknown, "a")
    # Control: the referrer archived as long as the others, the three go together.
    repo[2] = archived(referrer("ref", "amd64", days_ago=300), days_ago=200)
    together = outcome(evaluate(repo, DELETE_FROM_ARCHIVE_AFTER_90, NOW))
    assert {verdict for verdict, _ in together.values()} == {Verdict.EXPIRE}


# -- an archived index whose manifest ECR won't serve ------------------------------------------------------


def unreadable_index(*, archived_days_ago: float = 1) -> Image:
    """An archived index: ECR doesn't serve its manifest, so the images it lists are unknown."""
    idx = archived(index("idx", [], "v1", days_ago=300), days_ago=archived_days_ago)
    return replace(idx, children_unknown=True)


UNTAGGED_AFTER_14_DAYS = rules(rule(1, "untagged", "sinceImagePushed", 14))


def test_the_active_children_left_by_a_run_cut_short_after_their_index_are_never_expired() -> None:
    """Archiving goes index first; a run stopped after the index leaves its platform images ACTIVE. The next
    night ECR won't serve the index's manifest: any untagged image may be one of them."""
    children = [image("amd64", days_ago=300), image("arm64", days_ago=300)]
    plan = evaluate([unreadable_index(), *children], UNTAGGED_AFTER_14_DAYS, NOW)
    for name in ("amd64", "arm64"):
        assert outcome(plan)[name] == (Verdict.KEEP, ReasonCode.MAY_BE_LISTED_BY_ARCHIVED_INDEX)
        assert detail(plan, name).startswith(
            f"untagged: may be listed by archived index {digest('idx')[:19]}… (v1), whose manifest ECR "
            "won't serve"
        )
    assert plan.expired == plan.archived == ()
    # Nor are they archived: they stay ACTIVE, where they are.
    archiving = evaluate([unreadable_index(), *children], ARCHIVE_OLD_UNTAGGED, NOW)
    assert outcome(archiving)["amd64"] == (Verdict.KEEP, ReasonCode.MAY_BE_LISTED_BY_ARCHIVED_INDEX)
    # Control: without that index they are the untagged rule's own.
    alone = outcome(evaluate(children, UNTAGGED_AFTER_14_DAYS, NOW))
    assert alone["amd64"] == alone["arm64"] == (Verdict.EXPIRE, ReasonCode.EXPIRED_BY_RULE)


def test_untagged_images_beside_an_unreadable_index_are_not_counted_by_rules() -> None:
    repo = [image("a", days_ago=1), image("b", "v2", days_ago=2)]
    keep_one = rules(rule(1, "any", "imageCountMoreThan", 1))
    held = outcome(evaluate([unreadable_index(), *repo], keep_one, NOW))
    assert held["a"] == (Verdict.KEEP, ReasonCode.MAY_BE_LISTED_BY_ARCHIVED_INDEX)
    assert held["b"] == (Verdict.KEEP, ReasonCode.KEPT_BY_RULE)  # #1 of 1: the untagged a doesn't count
    # Control: without the index, a takes the one place and b is expired.
    assert outcome(evaluate(repo, keep_one, NOW))["b"] == (Verdict.EXPIRE, ReasonCode.EXPIRED_BY_RULE)


def test_a_known_follower_beside_an_unreadable_index_goes_to_the_archive_but_never_to_deletion() -> None:
    followers = [image("amd64", days_ago=40), index("idx2", ["amd64"], "v2", days_ago=40)]
    archive_v2 = rules(transition(rule(1, "tagged", "sinceImagePushed", 30, patterns=["v2"])))
    archived_along = outcome(evaluate([unreadable_index(), *followers], archive_v2, NOW))
    assert archived_along["amd64"] == (Verdict.ARCHIVE, ReasonCode.FOLLOWS_ARCHIVED)
    expire_v2 = rules(rule(1, "tagged", "sinceImagePushed", 30, patterns=["v2"]))
    held = outcome(evaluate([unreadable_index(), *followers], expire_v2, NOW))
    assert held["idx2"] == (Verdict.EXPIRE, ReasonCode.EXPIRED_BY_RULE)
    assert held["amd64"] == (Verdict.KEEP, ReasonCode.MAY_BE_LISTED_BY_ARCHIVED_INDEX)
    # Control: without the unreadable index, the child goes with its expired index.
    alone = outcome(evaluate(followers, expire_v2, NOW))
    assert alone["amd64"] == (Verdict.EXPIRE, ReasonCode.FOLLOWS_EXPIRED)


def test_the_propagate_preview_shows_what_ecr_archives_without_protections() -> None:
    in_use = Protections(in_use={digest("old"): "ECS task prod/api"})
    repo = [image("old", days_ago=40)]
    assert evaluate(repo, ARCHIVE_OLD_UNTAGGED, NOW).archived[0].image.digest == digest("old")
    assert evaluate(repo, ARCHIVE_OLD_UNTAGGED, NOW, in_use).protected[0].image.digest == digest("old")
