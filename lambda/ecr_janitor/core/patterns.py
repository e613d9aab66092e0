"""Wildcard matching shared by repository globs, protected tags and ECR tag patterns.

ECR's tagPatternList knows one wildcard, `*`, which matches any run of characters. The janitor uses
the same rule for repository globs and `protect.tags` so there is only one syntax to learn; `*` also
matches `/`, so `team-a/*` covers `team-a/api` and `team-a/tools/builder`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

WILDCARD = "*"


@lru_cache(maxsize=4096)
def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split(WILDCARD)), re.DOTALL)


def matches(pattern: str, text: str) -> bool:
    """True when `text` matches `pattern` as a whole; `*` matches any run of characters."""
    return _compile(pattern).fullmatch(text) is not None


def matches_any(patterns: Iterable[str], text: str) -> str | None:
    """The first pattern that matches `text`, or None."""
    for pattern in patterns:
        if matches(pattern, text):
            return pattern
    return None


def wildcard_count(pattern: str) -> int:
    return pattern.count(WILDCARD)
