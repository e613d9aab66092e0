"""Invariants of the engine and the orchestration, over generated registries and policies."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any, cast

from hypothesis import given, settings
from hypothesis import strategies as st

from ecr_janitor.adapters.ecr import EcrRegistry
from ecr_janitor.config import Config, parse_config
from ecr_janitor.core.lifecycle import Rule
from ecr_janitor.core.model import Image
from ecr_janitor.core.patterns import matches_any
from ecr_janitor.core.retain import Protections, evaluate, selects
from ecr_janitor.outputs.report import RunReport
from ecr_janitor.run import janitor
from tests.factories import NOW, digest, rule, rules
from tests.fakes import FakeRegistry

TAGS = ["latest", "v1.0.0", "v1.1.0", "release-7", "main-1a2b", "main-3c4d", "pr-12", "pr-13", "nightly"]
PATTERNS = ["v*", "main-*", "pr-*", "release-*", "*", "latest", "*-1*", "nightly"]
PROTECTED = ["release-*", "latest", "v1.*", "pr-1*"]


@st.composite
def images(draw: st.DrawFn) -> list[Image]:
    count = draw(st.integers(min_value=0, max_value=25))
    result = []
    for n in range(count):
        tags = draw(st.lists(st.sampled_from(TAGS), max_size=3, unique=True))
        pushed = draw(st.integers(min_value=0, max_value=200 * 24)) / 24
        pulled = draw(st.none() | st.integers(min_value=0, max_value=200 * 24).map(lambda h: h / 24))
        result.append(
            Image(
                digest=digest(f"img-{n}"),
                tags=tuple(tags),
                pushed_at=NOW - timedelta(days=pushed),
                size_bytes=draw(st.integers(min_value=0, max_value=10**9)),
                last_pulled_at=None if pulled is None else NOW - timedelta(days=pulled),
            )
        )
    return result


@st.composite
def rule_documents(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(min_value=1, max_value=4))
    priorities = sorted(draw(st.lists(st.integers(1, 100), min_size=count, max_size=count, unique=True)))
    documents = []
    for position, priority in enumerate(priorities):
        last = position == len(priorities) - 1
        status = draw(st.sampled_from(["tagged", "untagged", "any"] if last else ["tagged", "untagged"]))
        count_type = draw(st.sampled_from(["imageCountMoreThan", "sinceImagePushed", "sinceImagePulled"]))
        number = draw(st.integers(min_value=1, max_value=60))
        patterns = (
            draw(st.lists(st.sampled_from(PATTERNS), min_size=1, max_size=2, unique=True))
            if status == "tagged"
            else None
        )
        documents.append(rule(priority, status, count_type, number, patterns=patterns))
    return documents


@st.composite
def policies(draw: st.DrawFn) -> list[Rule]:
    return rules(*draw(rule_documents()))


@settings(max_examples=200, deadline=None)
@given(images(), policies(), st.randoms(use_true_random=False))
def test_the_plan_does_not_depend_on_input_order(repo: list[Image], policy: list[Rule], rnd: Any) -> None:
    shuffled = list(repo)
    rnd.shuffle(shuffled)
    assert evaluate(shuffled, policy, NOW) == evaluate(repo, policy, NOW)
    assert evaluate(repo, list(reversed(policy)), NOW) == evaluate(repo, policy, NOW)


@settings(max_examples=200, deadline=None)
@given(images(), policies())
def test_every_image_gets_exactly_one_decision(repo: list[Image], policy: list[Rule]) -> None:
    plan = evaluate(repo, policy, NOW)
    assert sorted(d.image.digest for d in plan.decisions) == sorted(i.digest for i in repo)


@settings(max_examples=200, deadline=None)
@given(images(), policies())
def test_an_image_is_only_ever_expired_by_the_first_rule_that_selects_it(
    repo: list[Image], policy: list[Rule]
) -> None:
    for decision in evaluate(repo, policy, NOW).expired:
        first = next(r for r in policy if selects(r.selection, decision.image))
        assert decision.reason.rule_priority == first.rule_priority


def _some_in_use(repo: list[Image], data: Any) -> dict[str, str]:
    if not repo:
        return {}
    return {i.digest: "a test workload" for i in data.draw(st.lists(st.sampled_from(repo), max_size=3))}


@settings(max_examples=200, deadline=None)
@given(images(), policies(), st.lists(st.sampled_from(PROTECTED), max_size=3), st.data())
def test_protections_only_veto(
    repo: list[Image], policy: list[Rule], protected: list[str], data: Any
) -> None:
    in_use = _some_in_use(repo, data)
    protections = Protections(tags=tuple(protected), in_use=in_use)
    unprotected = evaluate(repo, policy, NOW)
    plan = evaluate(repo, policy, NOW, protections)
    for decision in plan.expired:
        assert decision.image.digest not in in_use
        assert not any(matches_any(protected, tag) for tag in decision.image.tags)
    # A veto never changes which other images expire: protections don't count in the ordering.
    vetoed = {d.image.digest for d in plan.protected}
    assert {d.image.digest for d in plan.expired} == {d.image.digest for d in unprotected.expired} - vetoed


def _config(documents: Sequence[dict[str, Any]], *, dry_run: bool, protected: list[str]) -> Config:
    return parse_config(
        {
            "dryRun": dry_run,
            "protect": {"tags": protected},
            "targets": [{"repositories": ["*"], "mode": "retain", "policy": {"rules": list(documents)}}],
        }
    )


def _run(config: Config, registry: FakeRegistry, *, dry_run: bool) -> RunReport:
    request = janitor.RunRequest("run", dry_run, "test", ["us-east-1"], NOW)
    return janitor.run(config, request, janitor.one_account(lambda _region: cast(EcrRegistry, registry)))


@settings(max_examples=150, deadline=None)
@given(
    st.lists(images(), min_size=1, max_size=3),
    rule_documents(),
    st.lists(st.sampled_from(PROTECTED), max_size=2),
)
def test_a_dry_run_never_writes(
    repos: list[list[Image]], documents: list[dict[str, Any]], protected: list[str]
) -> None:
    registry = FakeRegistry(contents={f"repo-{n}": list(repo) for n, repo in enumerate(repos)})
    before = {name: list(images) for name, images in registry.contents.items()}
    for config_dry_run in (True, False):
        config = _config(documents, dry_run=config_dry_run, protected=protected)
        dry_run, _ = janitor.resolve_dry_run(config, forced=True, forced_by="test")
        report = _run(config, registry, dry_run=dry_run)
        assert registry.delete_calls == []
        assert registry.contents == before
        assert report.totals()["imagesExpired"] == 0


@settings(max_examples=150, deadline=None)
@given(images(), rule_documents(), st.lists(st.sampled_from(PROTECTED), max_size=2))
def test_a_real_run_deletes_exactly_the_plan(
    repo: list[Image], documents: list[dict[str, Any]], protected: list[str]
) -> None:
    config = _config(documents, dry_run=False, protected=protected)
    registry = FakeRegistry(contents={"repo": list(repo)})
    plan = evaluate(repo, rules(*documents), NOW, Protections(tags=tuple(protected)))
    report = _run(config, registry, dry_run=False)
    requested = [d for _repo, batch in registry.delete_calls for d in batch]
    assert sorted(requested) == sorted(d.image.digest for d in plan.expired)
    assert report.totals()["imagesExpired"] == len(plan.expired)
    kept = {d.image.digest for d in plan.kept}
    assert {i.digest for i in registry.contents["repo"]} == kept


@st.composite
def registries_with_followers(draw: st.DrawFn) -> list[Image]:
    """Independent images plus multi-arch indexes (sharing children) and signatures of anything."""
    base = draw(images())
    hours = st.integers(min_value=0, max_value=200 * 24)
    children = [  # mostly untagged platform images; a tagged one counts in rules on its own
        Image(
            digest(f"child-{n}"),
            tuple(draw(st.lists(st.sampled_from(TAGS), max_size=1))),
            NOW - timedelta(hours=draw(hours)),
            10,
        )
        for n in range(draw(st.integers(min_value=0, max_value=8)))
    ]
    indexes = []
    for n in range(draw(st.integers(min_value=0, max_value=4))):
        listed = draw(st.lists(st.sampled_from(children), unique=True, max_size=4)) if children else []
        indexes.append(
            Image(
                digest(f"index-{n}"),
                tuple(draw(st.lists(st.sampled_from(TAGS), max_size=2, unique=True))),
                NOW - timedelta(hours=draw(hours)),
                100,
                manifest_media_type="application/vnd.oci.image.index.v1+json",
                children=tuple(c.digest for c in listed),
            )
        )
    everything = base + children + indexes
    signatures: list[Image] = []
    if everything:
        for n, subject in enumerate(draw(st.lists(st.sampled_from(everything), max_size=5))):
            tag = f"{subject.digest.replace(':', '-')}.{draw(st.sampled_from(['sig', 'att', 'sbom']))}"
            if not any(tag in s.tags for s in signatures):
                signatures.append(Image(digest(f"sig-{n}"), (tag,), NOW - timedelta(hours=draw(hours)), 5))
    return everything + signatures


@settings(max_examples=200, deadline=None)
@given(registries_with_followers(), policies(), st.lists(st.sampled_from(PROTECTED), max_size=2), st.data())
def test_nothing_a_kept_image_needs_is_ever_expired(
    repo: list[Image], policy: list[Rule], protected: list[str], data: Any
) -> None:
    in_use = _some_in_use(repo, data)
    plan = evaluate(repo, policy, NOW, Protections(tags=tuple(protected), in_use=in_use))
    kept = {d.image.digest for d in plan.kept}
    expired = {d.image.digest for d in plan.expired}
    by_digest = {i.digest: i for i in repo}
    for image in repo:
        if image.digest in kept:
            assert not (set(image.children) & expired), "a kept index lost a child"
    for digest_ in expired:
        image = by_digest[digest_]
        assert image.subject not in kept, "a kept image lost its signature"
        assert digest_ not in in_use
        assert not any(matches_any(protected, tag) for tag in image.tags)
    position = {d: n for n, layer in enumerate(plan.action_layers()) for d in layer}
    assert set(position) == expired
    for digest_, before in plan.prerequisites.items():
        assert all(position[b] < position[digest_] for b in before)


class _WatchfulRegistry(FakeRegistry):
    """Fails the test if the janitor ever asks to delete a manifest that a present index lists or whose
    subject is still present."""

    def delete_images(self, repository: str, digests: Sequence[str], on_batch: Any = None) -> Any:
        present = {i.digest: i for i in self.contents[repository]}
        for requested in digests:
            assert not any(requested in i.children for i in present.values()), (
                "child requested while its index stays"
            )
            subject = present[requested].subject
            assert subject is None or subject not in present, "referrer requested while its subject stays"
        return super().delete_images(repository, digests, on_batch)


@settings(max_examples=150, deadline=None)
@given(registries_with_followers(), rule_documents(), st.data())
def test_a_child_is_never_requested_while_its_index_stays(
    repo: list[Image], documents: list[dict[str, Any]], data: Any
) -> None:
    refuse = {i.digest for i in data.draw(st.lists(st.sampled_from(repo), max_size=4))} if repo else set()
    registry = _WatchfulRegistry(contents={"repo": list(repo)}, refuse=refuse)
    report = _run(_config(documents, dry_run=False, protected=[]), registry, dry_run=False)
    left = {i.digest for i in registry.contents["repo"]}
    for image in registry.contents["repo"]:
        assert set(image.children) <= left
    assert report.totals()["imagesExpired"] == len(repo) - len(left)
