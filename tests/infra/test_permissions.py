"""Where the function may write: exactly the repositories the config's targets name, per region, per mode;
and the opt-out Deny matches the tag value exactly as the code skips it."""

from __future__ import annotations

import fnmatch
import re
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecr_janitor.adapters.ecr import EcrRegistry
from ecr_janitor.config import Config, parse_config
from ecr_janitor.constants import SKIP_TAG_VALUE
from ecr_janitor.core.patterns import matches_any
from ecr_janitor.outputs.report import Status
from ecr_janitor.run import janitor
from infra.permissions import (
    ECR_WRITE_ACTIONS,
    SKIP_CONDITION_OPERATOR,
    WRITES_OF_ONE_MODE,
    iam_repository_patterns,
    write_scopes,
)
from tests.factories import NOW, image, rule
from tests.fakes import FakeRegistry
from tests.infra.cdk_support import Synth, policy_statements

POLICY = {"rules": [rule(1, "untagged", "sinceImagePushed", 14)]}
PROPAGATE_POLICY = {
    "rules": [
        {**rule(1, "untagged", "sinceImagePushed", 14), "description": "untagged images after two weeks"}
    ]
}
MULTI_TARGET: dict[str, Any] = {
    "regions": ["eu-west-1", "us-east-1"],
    "targets": [
        {
            "repositories": ["team-a/*", "api"],
            "exclude": ["team-a/legacy-*"],
            "mode": "retain",
            "policy": POLICY,
        },
        {"repositories": ["sandbox/*", "team-a/*"], "mode": "propagate", "policy": PROPAGATE_POLICY},
        {"repositories": ["api", "Upper/*", "what?"], "mode": "retain", "policy": POLICY},
    ],
}
"""Two retain targets (a repeated pattern, patterns no repository name can match), one propagate target
whose pattern overlaps a retain target's, two regions."""


def _config(document: dict[str, Any]) -> Config:
    return parse_config(document, "<test>")


def test_patterns_become_iam_resource_names_deduplicated_and_sorted() -> None:
    assert iam_repository_patterns(["team-a/*", "api", "team-a/*", "ml/models-*"]) == (
        "api",
        "ml/models-*",
        "team-a/*",
    )


@pytest.mark.parametrize("everything", ["*", "**", "***"])
def test_a_pattern_of_wildcards_only_collapses_to_every_repository(everything: str) -> None:
    assert iam_repository_patterns(["team-a/*", everything, "api"]) == ("*",)


@pytest.mark.parametrize("impossible", ["Team/*", "what?", "a b", "repo:tag", "x[1]"])
def test_a_pattern_no_repository_name_can_match_grants_nothing(impossible: str) -> None:
    """Names are lower case letters, digits and . _ - /; IAM's `?` would be a wildcard, not a `?`."""
    assert iam_repository_patterns([impossible, "api"]) == ("api",)
    assert iam_repository_patterns([impossible]) == ()


def test_each_mode_writes_only_to_its_own_targets() -> None:
    scopes = {scope.sid: scope for scope in write_scopes(_config(MULTI_TARGET).targets)}
    assert set(scopes) == {"RetainWrites", "PropagateWrites"}
    assert scopes["RetainWrites"].actions == ("ecr:BatchDeleteImage", "ecr:UpdateImageStorageClass")
    assert scopes["RetainWrites"].names == ("api", "team-a/*")
    assert scopes["PropagateWrites"].actions == ("ecr:PutLifecyclePolicy",)
    assert scopes["PropagateWrites"].names == ("sandbox/*", "team-a/*")


def test_a_mode_no_target_uses_gets_no_write() -> None:
    document = {"targets": [{"repositories": ["team-a/*"], "mode": "retain", "policy": POLICY}]}
    (scope,) = write_scopes(_config(document).targets)
    assert scope.actions == ("ecr:BatchDeleteImage", "ecr:UpdateImageStorageClass")


def test_a_write_of_no_particular_mode_goes_to_every_covered_repository(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A later write (another branch's UpdateImageStorageClass, say) is scoped without further work."""
    monkeypatch.setattr("infra.permissions.ECR_WRITE_ACTIONS", (*ECR_WRITE_ACTIONS, "ecr:SomeNewWrite"))
    scopes = {scope.sid: scope for scope in write_scopes(_config(MULTI_TARGET).targets)}
    assert scopes["PropagateRetainWrites"].actions == ("ecr:SomeNewWrite",)
    assert scopes["PropagateRetainWrites"].names == ("api", "sandbox/*", "team-a/*")


def test_every_write_action_is_in_the_deny_and_known_to_a_mode_or_to_all() -> None:
    assert set(WRITES_OF_ONE_MODE) <= set(ECR_WRITE_ACTIONS)
    assert set(WRITES_OF_ONE_MODE.values()) <= {"retain", "propagate"}


# -- IAM's matching, simulated: `*` any run of characters (`/` included), `?` any one character ----------

_NAME = st.from_regex(
    re.compile(r"[a-z0-9]{1,3}(?:[._-][a-z0-9]{1,2})?(?:/[a-z0-9]{1,3}){0,2}"), fullmatch=True
)
_PATTERN = st.one_of(
    _NAME,
    _NAME.map(lambda name: name[: len(name) // 2] + "*"),
    _NAME.map(lambda name: "*" + name[len(name) // 2 :]),
    st.sampled_from(["*", "a*/*", "*-*", "a?", "?/*", "Upper/*", "A*"]),
)


def _iam_allows(resource_names: tuple[str, ...], repository: str) -> bool:
    # fnmatchcase: `*` matches anything including `/`, `?` one character; the generated names and the
    # surviving patterns hold no `[`, so its character classes never come into play.
    return any(fnmatch.fnmatchcase(repository, name) for name in resource_names)


@settings(max_examples=300, deadline=None)
@given(st.lists(_PATTERN, min_size=1, max_size=4), st.lists(_NAME, min_size=1, max_size=8))
def test_iam_grants_a_repository_exactly_when_a_pattern_of_the_config_matches_it(
    patterns: list[str], repositories: list[str]
) -> None:
    names = iam_repository_patterns(patterns)
    for repository in repositories:
        assert _iam_allows(names, repository) == (matches_any(patterns, repository) is not None), repository


# -- the template ---------------------------------------------------------------------------------------


def _writes(synthesized: Any) -> dict[str, dict[str, Any]]:
    return {
        statement["Sid"]: statement
        for _, statement in policy_statements(synthesized)
        if statement["Effect"] == "Allow" and set(statement["Action"]) & set(ECR_WRITE_ACTIONS)
    }


def test_template_allows_each_write_only_on_its_targets_repositories_in_each_region(synth: Synth) -> None:
    writes = _writes(synth(_config(MULTI_TARGET)))
    assert set(writes) == {"RetainWrites", "PropagateWrites"}
    assert writes["RetainWrites"]["Action"] == ["ecr:BatchDeleteImage", "ecr:UpdateImageStorageClass"]
    assert sorted(writes["RetainWrites"]["Resource"]) == [
        f"arn:${{AWS::Partition}}:ecr:{region}:${{AWS::AccountId}}:repository/{name}"
        for region in ("eu-west-1", "us-east-1")
        for name in ("api", "team-a/*")
    ]
    assert writes["PropagateWrites"]["Action"] == ["ecr:PutLifecyclePolicy"]
    assert sorted(writes["PropagateWrites"]["Resource"]) == [
        f"arn:${{AWS::Partition}}:ecr:{region}:${{AWS::AccountId}}:repository/{name}"
        for region in ("eu-west-1", "us-east-1")
        for name in ("sandbox/*", "team-a/*")
    ]


def test_template_reads_every_repository_of_the_regions(synth: Synth) -> None:
    (read,) = [
        s for _, s in policy_statements(synth(_config(MULTI_TARGET))) if s.get("Sid") == "ReadRepositories"
    ]
    assert sorted(read["Resource"]) == [
        "arn:${AWS::Partition}:ecr:eu-west-1:${AWS::AccountId}:repository/*",
        "arn:${AWS::Partition}:ecr:us-east-1:${AWS::AccountId}:repository/*",
    ]


def test_a_catch_all_target_writes_to_every_repository_of_the_stack_region(synth: Synth) -> None:
    document = {"targets": [{"repositories": ["*"], "mode": "retain", "policy": POLICY}]}
    (write,) = _writes(synth(_config(document))).values()
    assert write["Resource"] == ["arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/*"]


def test_the_opt_out_deny_covers_every_write_in_any_letter_case(synth: Synth) -> None:
    denies = [s for _, s in policy_statements(synth(_config(MULTI_TARGET))) if s["Effect"] == "Deny"]
    (deny,) = denies
    assert set(deny["Action"]) == set(ECR_WRITE_ACTIONS)
    assert deny["Condition"] == {"StringEqualsIgnoreCase": {"aws:ResourceTag/ecr-janitor:skip": "true"}}
    assert deny["Resource"] == ["arn:${AWS::Partition}:ecr:*:${AWS::AccountId}:repository/*"]


# -- the opt-out: what IAM denies is what the code skips -------------------------------------------------


def _iam_denies(value: str) -> bool:
    """StringEqualsIgnoreCase: "Exact matching, ignoring case" (IAM condition operators)."""
    assert SKIP_CONDITION_OPERATOR == "StringEqualsIgnoreCase"
    return value.casefold() == SKIP_TAG_VALUE.casefold()


def _status_with_tag(value: str) -> tuple[Status, int]:
    """The repository's status, and how many delete calls it got."""
    registry = FakeRegistry(
        contents={"team-a/api": [image("a", days_ago=30)]}, tags={"team-a/api": {"ecr-janitor:skip": value}}
    )
    config = _config(
        {"dryRun": False, "targets": [{"repositories": ["*"], "mode": "retain", "policy": POLICY}]}
    )
    report = janitor.run(
        config,
        janitor.RunRequest("run", False, "test", ["us-east-1"], NOW),
        janitor.one_account(lambda _region: cast(EcrRegistry, registry)),
    )
    (outcome,) = report.repositories
    return outcome.status, len(registry.delete_calls)


@pytest.mark.parametrize("value", ["true", "True", "TRUE", "tRuE"])
def test_a_value_iam_denies_is_one_the_code_skips(value: str) -> None:
    assert _iam_denies(value)
    assert _status_with_tag(value) == (Status.SKIPPED, 0)


@pytest.mark.parametrize("value", ["false", "yes", "1", "", "truee"])
def test_a_value_iam_allows_is_cleaned_like_any_repository(value: str) -> None:
    assert not _iam_denies(value)
    assert _status_with_tag(value) == (Status.CLEANED, 1)


@pytest.mark.parametrize("value", [" true", "true ", " True "])
def test_a_value_with_spaces_is_neither_denied_nor_touched(value: str) -> None:
    """IAM wouldn't protect it, so the code doesn't guess: the repository fails, untouched, saying why."""
    assert not _iam_denies(value)
    assert _status_with_tag(value) == (Status.FAILED, 0)
