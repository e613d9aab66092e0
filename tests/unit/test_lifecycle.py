"""Propagate mode's decision: compare policies as JSON values and explain what differs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ecr_janitor.core.propagate import PolicyStatus, decide, differences, parse_policy_text
from tests.factories import rule

WANTED: dict[str, Any] = {
    "rules": [rule(1, "untagged", "sinceImagePushed", 3), rule(2, "any", "imageCountMoreThan", 10)]
}


def reordered_text(document: dict[str, Any]) -> str:
    """The same document with every key order reversed and different whitespace."""

    def reverse(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: reverse(value[k]) for k in reversed(list(value))}
        if isinstance(value, list):
            return [reverse(v) for v in value]
        return value

    return json.dumps(reverse(document), indent=4)


@pytest.mark.parametrize(
    ("current_text", "on_drift", "expected"),
    [
        (None, "overwrite", PolicyStatus.CREATED),
        (None, "report", PolicyStatus.CREATED),
        (json.dumps(WANTED), "overwrite", PolicyStatus.UNCHANGED),
        (reordered_text(WANTED), "report", PolicyStatus.UNCHANGED),
        (
            json.dumps({"rules": [rule(1, "untagged", "sinceImagePushed", 7)]}),
            "overwrite",
            PolicyStatus.UPDATED,
        ),
        (json.dumps({"rules": [rule(1, "untagged", "sinceImagePushed", 7)]}), "report", PolicyStatus.DRIFTED),
        ("not json at all", "overwrite", PolicyStatus.UPDATED),
    ],
)
def test_decide(current_text: str | None, on_drift: str, expected: PolicyStatus) -> None:
    assert decide(parse_policy_text(current_text), WANTED, on_drift) is expected


def test_differences_name_the_rule_and_the_field() -> None:
    theirs = json.loads(json.dumps(WANTED))
    theirs["rules"][1]["selection"]["countNumber"] = 30
    theirs["rules"][0]["description"] = "hand edited"
    theirs["rules"].append(rule(3, "tagged", "imageCountMoreThan", 5, patterns=["x*"]))
    assert differences(theirs, WANTED) == [
        'rule 1: description: the repository has "hand edited", the config has none',
        "rule 2: selection.countNumber: the repository has 30, the config has 10",
        "rule 3: only in the repository's policy",
    ]
    assert differences({"rules": [WANTED["rules"][0]]}, WANTED) == [
        "rule 2: missing from the repository's policy"
    ]


def test_no_differences_when_equal_or_missing() -> None:
    assert differences(json.loads(reordered_text(WANTED)), WANTED) == []
    assert differences(None, WANTED) == []
    assert differences("garbage", WANTED) == [
        "the repository's policy is not a lifecycle policy document this janitor can compare"
    ]
