"""Multi-arch indexes, signatures and referrers: followers are never counted, and go with what they follow."""

from __future__ import annotations

from ecr_janitor.core.model import Image
from ecr_janitor.core.retain import Protections, ReasonCode, RepositoryPlan, Verdict, evaluate
from tests.factories import NOW, archived, digest, image, index, referrer, rule, rules, signature

UNTAGGED_AFTER_14_DAYS = rules(rule(1, "untagged", "sinceImagePushed", 14))
KEEP_ONE_TAGGED = rules(rule(1, "tagged", "imageCountMoreThan", 1, patterns=["v*"]))


def verdicts(plan: RepositoryPlan) -> dict[str, tuple[Verdict, ReasonCode]]:
    names = {d.image.digest: d for d in plan.decisions}
    return {digest_to_name[d]: (dec.verdict, dec.reason.code) for d, dec in names.items()}


digest_to_name: dict[str, str] = {}


def repo(*images: Image) -> list[Image]:
    return list(images)


def names(*items: str) -> None:
    digest_to_name.update({digest(n): n for n in items})


names(
    "amd64", "arm64", "idx", "amd64-2", "arm64-2", "idx2", "shared", "sig", "sig2", "att", "sbom", "ref",
    "old-untagged", "new-untagged", "img", "orphan-sig", "child-tagged",
)  # fmt: skip


def test_children_of_a_kept_index_are_kept_and_not_counted() -> None:
    # The children are untagged and old: on their own, the untagged rule would expire them.
    plan = evaluate(
        repo(
            image("amd64", days_ago=60),
            image("arm64", days_ago=60),
            index("idx", ["amd64", "arm64"], "v1", days_ago=60),
            image("old-untagged", days_ago=30),
        ),
        UNTAGGED_AFTER_14_DAYS,
        NOW,
    )
    assert verdicts(plan) == {
        "amd64": (Verdict.KEEP, ReasonCode.FOLLOWS_KEPT),
        "arm64": (Verdict.KEEP, ReasonCode.FOLLOWS_KEPT),
        "idx": (Verdict.KEEP, ReasonCode.NOT_SELECTED),
        "old-untagged": (Verdict.EXPIRE, ReasonCode.EXPIRED_BY_RULE),
    }
    amd64 = next(d for d in plan.decisions if d.image.digest == digest("amd64"))
    assert amd64.reason.detail.startswith("listed by kept sha256:")
    assert "(v1)" in amd64.reason.detail


def test_children_do_not_take_places_in_a_count_rule() -> None:
    plan = evaluate(
        repo(
            image("amd64", days_ago=1),
            image("arm64", days_ago=1),
            index("idx", ["amd64", "arm64"], "keep", days_ago=1),
            image("new-untagged", days_ago=2),
            image("old-untagged", days_ago=3),
        ),
        rules(rule(1, "untagged", "imageCountMoreThan", 1)),
        NOW,
    )
    # Counted are only the two independent untagged images: the newest stays, the other goes.
    assert {digest_to_name[d.image.digest] for d in plan.expired} == {"old-untagged"}


def test_an_expired_index_takes_its_children_and_goes_first() -> None:
    plan = evaluate(
        repo(
            image("amd64-2", days_ago=1),
            image("arm64-2", days_ago=1),
            index("idx2", ["amd64-2", "arm64-2"], "v2", days_ago=1),
            image("amd64", days_ago=40),
            image("arm64", days_ago=40),
            index("idx", ["amd64", "arm64"], "v1", days_ago=40),
        ),
        KEEP_ONE_TAGGED,
        NOW,
    )
    result = verdicts(plan)
    assert result["idx"] == (Verdict.EXPIRE, ReasonCode.EXPIRED_BY_RULE)
    assert result["amd64"] == result["arm64"] == (Verdict.EXPIRE, ReasonCode.FOLLOWS_EXPIRED)
    assert result["idx2"][0] is Verdict.KEEP
    assert result["amd64-2"] == (Verdict.KEEP, ReasonCode.FOLLOWS_KEPT)
    assert plan.action_layers() == [[digest("idx")], sorted([digest("amd64"), digest("arm64")])]
    assert plan.prerequisites[digest("amd64")] == frozenset({digest("idx")})


def test_a_child_shared_with_a_kept_index_stays() -> None:
    plan = evaluate(
        repo(
            image("shared", days_ago=40),
            image("arm64", days_ago=40),
            image("arm64-2", days_ago=1),
            index("idx", ["shared", "arm64"], "v1", days_ago=40),
            index("idx2", ["shared", "arm64-2"], "v2", days_ago=1),
        ),
        KEEP_ONE_TAGGED,
        NOW,
    )
    result = verdicts(plan)
    assert result["idx"][0] is Verdict.EXPIRE
    assert result["arm64"][0] is Verdict.EXPIRE
    assert result["shared"] == (Verdict.KEEP, ReasonCode.FOLLOWS_KEPT)
    assert digest("shared") not in {d for layer in plan.action_layers() for d in layer}


def test_a_protected_index_keeps_its_children() -> None:
    plan = evaluate(
        repo(
            image("amd64", days_ago=40),
            index("idx", ["amd64"], "v1", "release-1", days_ago=40),
            index("idx2", [], "v2", days_ago=1),
        ),
        KEEP_ONE_TAGGED,
        NOW,
        Protections(tags=("release-*",)),
    )
    result = verdicts(plan)
    assert result["idx"] == (Verdict.KEEP, ReasonCode.PROTECTED_TAG)
    assert result["amd64"] == (Verdict.KEEP, ReasonCode.FOLLOWS_KEPT)


def test_an_in_use_child_survives_its_expired_index() -> None:
    plan = evaluate(
        repo(
            image("amd64", days_ago=40),
            image("arm64", days_ago=40),
            index("idx", ["amd64", "arm64"], days_ago=40),
        ),
        UNTAGGED_AFTER_14_DAYS,
        NOW,
        Protections(in_use={digest("arm64"): "ECS task prod/abc"}),
    )
    result = verdicts(plan)
    assert result["idx"][0] is Verdict.EXPIRE
    assert result["amd64"] == (Verdict.EXPIRE, ReasonCode.FOLLOWS_EXPIRED)
    assert result["arm64"] == (Verdict.KEEP, ReasonCode.IN_USE)


def test_a_tagged_child_counts_on_its_own_but_a_kept_index_protects_it() -> None:
    plan = evaluate(
        repo(
            image("child-tagged", "v0-arm64", days_ago=40),
            index("idx", ["child-tagged"], "v1", days_ago=40),
            image("img", "v2", days_ago=1),
        ),
        rules(
            rule(1, "tagged", "imageCountMoreThan", 1, patterns=["v*"]),
            rule(2, "untagged", "sinceImagePushed", 1),
        ),
        NOW,
        Protections(tags=("v1",)),
    )
    child = next(d for d in plan.decisions if d.image.digest == digest("child-tagged"))
    assert child.verdict is Verdict.KEEP
    assert child.reason.code is ReasonCode.LISTED_BY_KEPT_INDEX
    assert child.vetoed_rule == 1


def test_signatures_attestations_and_referrers_follow_their_subject() -> None:
    plan = evaluate(
        repo(
            image("img", "v1", days_ago=40),
            signature("sig", "img", days_ago=40),
            signature("att", "img", kind="att", days_ago=40),
            image("new-untagged", "v2", days_ago=1),
            signature("sig2", "new-untagged", days_ago=1),
            referrer("ref", "new-untagged", days_ago=1),
            signature("sbom", "img", kind="sbom", days_ago=1),
        ),
        KEEP_ONE_TAGGED,
        NOW,
    )
    result = verdicts(plan)
    assert result["img"] == (Verdict.EXPIRE, ReasonCode.EXPIRED_BY_RULE)
    for follower in ("sig", "att", "sbom"):
        assert result[follower] == (Verdict.EXPIRE, ReasonCode.FOLLOWS_EXPIRED)
    for follower in ("sig2", "ref"):
        assert result[follower] == (Verdict.KEEP, ReasonCode.FOLLOWS_KEPT)
    # Signatures are tagged, but a tagged rule never counts them: v2 alone is the one v* image kept.
    assert result["new-untagged"] == (Verdict.KEEP, ReasonCode.KEPT_BY_RULE)
    assert plan.action_layers()[0] == [digest("img")]
    assert sorted(plan.action_layers()[1]) == sorted(digest(n) for n in ("sig", "att", "sbom"))


def test_a_signature_of_an_image_elsewhere_is_kept() -> None:
    plan = evaluate(
        repo(signature("orphan-sig", "somewhere-else", days_ago=400)),
        rules(rule(1, "any", "sinceImagePushed", 1)),
        NOW,
    )
    (decision,) = plan.decisions
    assert decision.verdict is Verdict.KEEP
    assert decision.reason.code is ReasonCode.ORPHAN_REFERRER


def test_a_signature_of_a_child_follows_the_child() -> None:
    plan = evaluate(
        repo(
            image("amd64", days_ago=40),
            index("idx", ["amd64"], days_ago=40),
            signature("sig", "amd64", days_ago=40),
        ),
        UNTAGGED_AFTER_14_DAYS,
        NOW,
    )
    assert plan.action_layers() == [[digest("idx")], [digest("amd64")], [digest("sig")]]


def test_an_archived_index_takes_its_active_children_into_the_archive_never_to_deletion() -> None:
    plan = evaluate(
        repo(
            image("amd64", days_ago=400),
            image("arm64", days_ago=400),
            archived(index("idx", ["amd64", "arm64"], days_ago=400)),
            image("old-untagged", days_ago=400),
        ),
        rules(rule(1, "any", "sinceImagePushed", 14)),
        NOW,
    )
    result = verdicts(plan)
    assert result["idx"] == (Verdict.KEEP, ReasonCode.ARCHIVED)
    assert result["amd64"] == result["arm64"] == (Verdict.ARCHIVE, ReasonCode.FOLLOWS_ARCHIVED)
    assert result["old-untagged"] == (Verdict.EXPIRE, ReasonCode.EXPIRED_BY_RULE)
