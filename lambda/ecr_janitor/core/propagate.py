"""Propagate mode's decision (pure): is a repository's lifecycle policy missing, equal or drifted?

Policies compare as JSON values, so key order and whitespace never count as drift.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any


class PolicyStatus(StrEnum):
    CREATED = "created"
    """The repository had no lifecycle policy; the target's is (or, in a dry run, would be) put."""
    UPDATED = "updated"
    """The repository's policy differed and `onDrift: overwrite` replaced it."""
    UNCHANGED = "unchanged"
    """The repository already has exactly the target's policy: nothing is written."""
    DRIFTED = "drifted"
    """The repository's policy differs and `onDrift: report` leaves it as it is."""
    HELD = "held"
    """The policy would be created or updated, but ECR would then expire images the janitor protects (or
    it can't tell, an in-use source being unreadable), and `onRisk: hold` keeps it from being written."""


def parse_policy_text(text: str | None) -> Any:
    """The stored policy as a JSON value; text that isn't JSON is kept as is, so it compares unequal."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def decide(current: Any, wanted: Mapping[str, Any], on_drift: str) -> PolicyStatus:
    if current is None:
        return PolicyStatus.CREATED
    if current == wanted:
        return PolicyStatus.UNCHANGED
    return PolicyStatus.UPDATED if on_drift == "overwrite" else PolicyStatus.DRIFTED


def differences(current: Any, wanted: Mapping[str, Any]) -> list[str]:
    """What differs, rule by rule (matched by rulePriority), in words a reviewer can act on."""
    if current is None or current == wanted:
        return []
    theirs = _rules_by_priority(current)
    ours = _rules_by_priority(wanted)
    if theirs is None or ours is None:
        return ["the repository's policy is not a lifecycle policy document this janitor can compare"]
    found: list[str] = []
    for priority in sorted(set(theirs) | set(ours)):
        if priority not in ours:
            found.append(f"rule {priority}: only in the repository's policy")
        elif priority not in theirs:
            found.append(f"rule {priority}: missing from the repository's policy")
        else:
            found += [f"rule {priority}: {change}" for change in _changes(theirs[priority], ours[priority])]
    extra = sorted(set(current) - {"rules"}) if isinstance(current, dict) else []
    found += [f"{key}: only in the repository's policy" for key in extra]
    return found or ["the policies differ"]


def _rules_by_priority(document: Any) -> dict[Any, Any] | None:
    rules = document.get("rules") if isinstance(document, Mapping) else None
    if not isinstance(rules, list) or not all(isinstance(r, Mapping) for r in rules):
        return None
    return {rule.get("rulePriority"): rule for rule in rules}


def _changes(theirs: Any, ours: Any, path: str = "") -> list[str]:
    if isinstance(theirs, Mapping) and isinstance(ours, Mapping):
        found: list[str] = []
        for key in sorted(set(theirs) | set(ours)):
            where = f"{path}.{key}" if path else str(key)
            if key not in ours:
                found.append(f"{where}: the repository has {json.dumps(theirs[key])}, the config has none")
            elif key not in theirs:
                found.append(f"{where}: the repository has none, the config has {json.dumps(ours[key])}")
            else:
                found += _changes(theirs[key], ours[key], where)
        return found
    if theirs != ours:
        return [f"{path}: the repository has {json.dumps(theirs)}, the config has {json.dumps(ours)}"]
    return []
