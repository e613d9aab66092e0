"""Invariants of retain mode's archive, over generated registries (ACTIVE, ARCHIVED and ACTIVATING images,
indexes, signatures, referrers) and policies mixing expire, transition and archive-class rules."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any, cast

from hypothesis import given, settings
from hypothesis import strategies as st

from ecr_janitor.adapters.ecr import EcrRegistry
from ecr_janitor.config import Config, parse_config
from ecr_janitor.core.model import Image, ImageStatus
from ecr_janitor.core.patterns import matches_any
from ecr_janitor.core.retain import (
    PROTECTION_CODES,
    Decision,
    Protections,
    ReasonCode,
    RepositoryPlan,
    Verdict,
    evaluate,
)
from ecr_janitor.outputs.report import RunReport
from ecr_janitor.run import janitor
from tests.factories import NOW, rule, rules
from tests.fakes import FakeRegistry
from tests.unit.test_properties import PATTERNS, PROTECTED, registries_with_followers

GRACE = timedelta(days=7)
HOURS = st.integers(min_value=0, max_value=400 * 24)


@st.composite
def with_storage_classes(draw: st.DrawFn) -> list[Image]:
    """A registry with followers, some of it archived, being restored or restored a while ago."""
    result = []
    for img in draw(registries_with_followers()):
        status = draw(
            st.sampled_from([ImageStatus.ACTIVE] * 3 + [ImageStatus.ARCHIVED] * 2 + [ImageStatus.ACTIVATING])
        )
        archived_at = draw(st.none() | HOURS.map(lambda h: NOW - timedelta(hours=h)))
        activated_at = draw(st.none() | HOURS.map(lambda h: NOW - timedelta(hours=h)))
        unknown = status is not ImageStatus.ACTIVE and img.is_index and draw(st.booleans())
        result.append(
            replace(
                img,
                status=status,
                last_archived_at=archived_at if status is not ImageStatus.ACTIVE else None,
                last_activated_at=activated_at if status is ImageStatus.ACTIVE else None,
                children=() if unknown else img.children,
                children_unknown=unknown,
            )
        )
    return result


@st.composite
def archive_policies(draw: st.DrawFn) -> list[dict[str, Any]]:
    """1 to 5 rules: standard rules that expire or archive, and archive-class rules that delete."""
    count = draw(st.integers(min_value=1, max_value=5))
    priorities = sorted(draw(st.lists(st.integers(1, 100), min_size=count, max_size=count, unique=True)))
    documents = []
    for position, priority in enumerate(priorities):
        last = position == len(priorities) - 1
        status = draw(st.sampled_from(["tagged", "untagged", "any"] if last else ["tagged", "untagged"]))
        patterns = (
            draw(st.lists(st.sampled_from(PATTERNS), min_size=1, max_size=2, unique=True))
            if status == "tagged"
            else None
        )
        kind = draw(st.sampled_from(["expire", "transition", "archive-class"]))
        if kind == "archive-class":
            document = rule(
                priority, status, "sinceImageTransitioned", draw(st.integers(1, 200)), patterns=patterns
            )
            document["selection"]["storageClass"] = "archive"
        else:
            count_type = draw(st.sampled_from(["imageCountMoreThan", "sinceImagePushed", "sinceImagePulled"]))
            document = rule(priority, status, count_type, draw(st.integers(1, 60)), patterns=patterns)
            if kind == "transition":
                document["action"] = {"type": "transition", "targetStorageClass": "archive"}
        documents.append(document)
    return documents


def _end(decision: Decision) -> int:
    """0 gone, 1 archived, 2 active (ACTIVATING is on its way back)."""
    if decision.verdict is Verdict.EXPIRE:
        return 0
    if decision.verdict is Verdict.ARCHIVE or decision.image.status is ImageStatus.ARCHIVED:
        return 1
    return 2


def _in_use(repo: list[Image], data: Any) -> dict[str, str]:
    if not repo:
        return {}
    return {i.digest: "a test workload" for i in data.draw(st.lists(st.sampled_from(repo), max_size=3))}


def _links(repo: Sequence[Image]) -> list[tuple[str, str]]:
    """(leader, follower) pairs ECR knows of: an index and what it lists, a subject and its referrer."""
    present = {i.digest for i in repo}
    pairs = [(i.digest, c) for i in repo for c in i.children if c in present and c != i.digest]
    pairs += [(i.subject, i.digest) for i in repo if i.subject in present and i.subject != i.digest]
    return pairs


@settings(max_examples=250, deadline=None)
@given(
    with_storage_classes(), archive_policies(), st.lists(st.sampled_from(PROTECTED), max_size=2), st.data()
)
def test_a_protected_image_is_never_archived_or_expired(
    repo: list[Image], documents: list[dict[str, Any]], protected: list[str], data: Any
) -> None:
    in_use = _in_use(repo, data)
    plan = evaluate(repo, rules(*documents), NOW, Protections(tuple(protected), in_use, GRACE))
    for decision in plan.decisions:
        if decision.verdict is Verdict.KEEP:
            continue
        image = decision.image
        assert image.digest not in in_use
        assert not any(matches_any(protected, tag) for tag in image.tags)
        assert image.status is not ImageStatus.ACTIVATING, "an image being restored was acted on"
        restored = image.last_activated_at
        assert restored is None or restored + GRACE <= NOW, "acted on within the restore grace"


@settings(max_examples=250, deadline=None)
@given(with_storage_classes(), archive_policies(), st.data())
def test_the_plan_never_leaves_a_follower_behind_its_leader(
    repo: list[Image], documents: list[dict[str, Any]], data: Any
) -> None:
    """A kept index keeps what it lists active; an archived one never loses a child to deletion; and an
    index archived now takes its untagged children along, unless something keeps them active."""
    plan = evaluate(repo, rules(*documents), NOW, Protections(in_use=_in_use(repo, data)))
    decided = {d.image.digest: d for d in plan.decisions}
    for leader, follower in _links(repo):
        child = decided[follower]
        if child.verdict is not Verdict.KEEP:
            assert _end(child) >= _end(decided[leader]), "the plan moved a follower below its leader"
        if decided[leader].verdict is Verdict.ARCHIVE and not child.image.tagged:
            assert _end(child) >= 1, "an archived index lost a child to deletion"
            if _end(child) == 2:
                assert child.reason.code in {*PROTECTION_CODES, ReasonCode.FOLLOWS_KEPT, ReasonCode.RESTORING}


@settings(max_examples=250, deadline=None)
@given(with_storage_classes(), archive_policies())
def test_beside_an_unreadable_index_no_untagged_image_is_expired_or_archived_by_a_rule(
    repo: list[Image], documents: list[dict[str, Any]]
) -> None:
    """Any untagged image may be a platform image of an archived index whose manifest ECR won't serve (a run
    cut short between the index and its children leaves them ACTIVE): while such an index is there, none is
    expired, and one goes to the archive only with an index it is known to follow."""
    plan = evaluate(repo, rules(*documents), NOW)
    if not any(i.is_index and i.children_unknown for i in repo):
        return
    for decision in plan.decisions:
        if decision.image.tagged or decision.image.is_index:
            continue
        assert decision.verdict is not Verdict.EXPIRE, "a possible child of an archived index was expired"
        if decision.verdict is Verdict.ARCHIVE:
            assert decision.reason.code is ReasonCode.FOLLOWS_ARCHIVED


@settings(max_examples=250, deadline=None)
@given(with_storage_classes(), archive_policies())
def test_nothing_goes_with_another_image_before_ecrs_90_days_in_the_archive(
    repo: list[Image], documents: list[dict[str, Any]]
) -> None:
    """Without allowEarlyArchiveDeletion, an image archived less than 90 days ago (or for an unknown time) is
    deleted only by a rule of its own (which the config allows from 90 days only), never along with
    another; with it, followers go with their leader whatever their time in the archive."""
    plan = evaluate(repo, rules(*documents), NOW)
    for decision in plan.expired:
        since = decision.image.last_archived_at
        if decision.image.archived and (since is None or NOW - since < timedelta(days=90)):
            assert decision.reason.code is ReasonCode.EXPIRED_BY_RULE, "deleted early with its leader"
    early = evaluate(repo, rules(*documents), NOW, allow_early_archive_deletion=True)
    assert ReasonCode.FOLLOWER_ARCHIVE_MINIMUM not in {d.reason.code for d in early.decisions}


@settings(max_examples=200, deadline=None)
@given(with_storage_classes(), archive_policies(), st.randoms(use_true_random=False))
def test_the_archive_plan_does_not_depend_on_input_order(
    repo: list[Image], documents: list[dict[str, Any]], rnd: Any
) -> None:
    shuffled = list(repo)
    rnd.shuffle(shuffled)
    protections = Protections(restore_grace=GRACE)
    expected: RepositoryPlan = evaluate(repo, rules(*documents), NOW, protections)
    assert evaluate(shuffled, rules(*reversed(documents)), NOW, protections) == expected
    layers = {d: n for n, layer in enumerate(expected.action_layers()) for d in layer}
    assert set(layers) == {d.image.digest for d in (*expected.expired, *expected.archived)}
    for digest_, before in expected.prerequisites.items():
        assert all(layers[b] < layers[digest_] for b in before)


def _config(documents: Sequence[dict[str, Any]], *, dry_run: bool) -> Config:
    target = {"repositories": ["*"], "mode": "retain", "allowEarlyArchiveDeletion": True}
    return parse_config(
        {
            "dryRun": dry_run,
            "protect": {"restoreGraceDays": 7},
            "targets": [{**target, "policy": {"rules": list(documents)}}],
        }
    )


def _run(config: Config, registry: FakeRegistry, *, dry_run: bool) -> RunReport:
    request = janitor.RunRequest("run", dry_run, "test", ["us-east-1"], NOW)
    return janitor.run(config, request, janitor.one_account(lambda _region: cast(EcrRegistry, registry)))


@settings(max_examples=150, deadline=None)
@given(st.lists(with_storage_classes(), min_size=1, max_size=3), archive_policies())
def test_a_dry_run_never_archives_or_deletes(
    repos: list[list[Image]], documents: list[dict[str, Any]]
) -> None:
    registry = FakeRegistry(contents={f"repo-{n}": list(repo) for n, repo in enumerate(repos)})
    before = {name: list(images) for name, images in registry.contents.items()}
    for config_dry_run in (True, False):
        config = _config(documents, dry_run=config_dry_run)
        dry_run, _ = janitor.resolve_dry_run(config, forced=True, forced_by="test")
        report = _run(config, registry, dry_run=dry_run)
        assert (registry.delete_calls, registry.archive_calls) == ([], [])
        assert registry.contents == before
        assert report.totals()["imagesArchived"] == report.totals()["imagesExpired"] == 0


class _WatchfulRegistry(FakeRegistry):
    """Fails the test if the janitor archives an image that an ACTIVE index lists or whose subject is
    ACTIVE, or deletes one that any present index lists."""

    def archive_images(self, repository: str, digests: Sequence[str], on_result: Any = None) -> Any:
        present = {i.digest: i for i in self.contents[repository]}
        for requested in digests:
            active = [i for i in present.values() if i.status is ImageStatus.ACTIVE]
            assert not any(requested in i.children for i in active), "archived while an active index lists it"
            subject = present[requested].subject
            assert subject not in {i.digest for i in active}, "referrer archived while its subject is active"
        return super().archive_images(repository, digests, on_result)

    def delete_images(self, repository: str, digests: Sequence[str], on_batch: Any = None) -> Any:
        present = self.contents[repository]
        for requested in digests:
            assert not any(requested in i.children for i in present), "deleted while an index lists it"
        return super().delete_images(repository, digests, on_batch)


@settings(max_examples=150, deadline=None)
@given(with_storage_classes(), archive_policies(), st.data())
def test_a_real_run_archives_exactly_the_plan_in_a_safe_order(
    repo: list[Image], documents: list[dict[str, Any]], data: Any
) -> None:
    refuse = {i.digest for i in data.draw(st.lists(st.sampled_from(repo), max_size=3))} if repo else set()
    registry = _WatchfulRegistry(contents={"repo": list(repo)}, refuse=refuse)
    protections = Protections(restore_grace=GRACE)
    plan = evaluate(repo, rules(*documents), NOW, protections, allow_early_archive_deletion=True)
    report = _run(_config(documents, dry_run=False), registry, dry_run=False)
    asked = {digest_ for _repo, digest_ in registry.archive_calls}
    assert asked <= {d.image.digest for d in plan.archived}
    if not refuse:
        assert asked == {d.image.digest for d in plan.archived}
    archived_now = {i.digest for i in registry.contents["repo"] if i.status is ImageStatus.ARCHIVED} - {
        i.digest for i in repo if i.status is ImageStatus.ARCHIVED
    }
    assert report.totals()["imagesArchived"] == len(archived_now)
    assert report.totals()["archiveFailures"] == len(plan.archived) - len(archived_now)
