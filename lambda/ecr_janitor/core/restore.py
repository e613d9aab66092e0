"""What a restore brings back, and in which order (pure).

Only links ECR states are followed: an index and the manifests it lists, a subject and its signatures and
referrers. Restores go followers first, the reverse of archiving: an index never becomes pullable before
ECR was asked for the platform images it lists, and a restore cut short leaves at worst an archived index
with active children, which nothing can pull by mistake.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ecr_janitor.core.model import Image
from ecr_janitor.core.retain import followers_of, leaders_of


def with_followers(images: Sequence[Image], digests: Iterable[str]) -> set[str]:
    """`digests` and everything that follows them, transitively (a signature of a platform image too)."""
    followers = followers_of(leaders_of(images))
    found: set[str] = set()
    pending = list(digests)
    while pending:
        digest = pending.pop()
        if digest not in found:
            found.add(digest)
            pending.extend(followers.get(digest, ()))
    return found


def restore_order(images: Sequence[Image], digests: Iterable[str]) -> list[str]:
    """`digests` with every follower before the images it follows; otherwise by digest, so that the same
    request always restores in the same order. A cycle (never written by ECR) is broken by digest."""
    followers = followers_of(leaders_of(images))
    remaining = set(digests)
    ordered: list[str] = []
    while remaining:
        ready = sorted(d for d in remaining if not (followers.get(d, set()) & remaining))
        layer = ready or [min(remaining)]
        ordered += layer
        remaining -= set(layer)
    return ordered
