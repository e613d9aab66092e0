"""What ECR's own lifecycle evaluation will do with a policy, and what that puts at risk (pure): the
propagate preview.

Native ECR knows no followers. An image index, each platform image it lists and each signature,
attestation, SBOM or referrer is an image of its own, selected, counted and expired (or archived) by the
rules like any other: "Only keep 1 images total" counts signatures and indexes (aws/containers-roadmap#2613).
The archive class is ECR's as documented: standard-class rules see ACTIVE images, `storageClass: archive`
rules ARCHIVED ones (from `lastArchivedAt`, at least 90 days for a propagate policy), and ACTIVATING images
are left alone. Nothing is protected.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from ecr_janitor.core.lifecycle import Rule
from ecr_janitor.core.model import Image
from ecr_janitor.core.retain import (
    PROTECTION_CODES,
    Decision,
    ReasonCode,
    RepositoryPlan,
    ends_as,
    left_alone,
    newest_first,
    rule_outcomes,
)

NEEDED = PROTECTION_CODES | {ReasonCode.FOLLOWS_KEPT, ReasonCode.FOLLOWS_ARCHIVED}
"""Why the janitor keeps an image where it is that ECR ignores: a protection (in use, a protected tag,
listed by a kept index, recently restored), or following an image (an index's platform image, a
signature or referrer) that is kept or archived."""


def evaluate_as_ecr(images: Iterable[Image], rules: Sequence[Rule], now: datetime) -> RepositoryPlan:
    """ECR's steps 1-3 over every image of the repository, each on its own."""
    ordered = newest_first(images)
    outcomes = rule_outcomes(ordered, rules, now)
    return RepositoryPlan(
        tuple(
            Decision(image, *outcomes[image.digest]) if image.digest in outcomes else left_alone(image)
            for image in ordered
        )
    )


def at_risk(ecr: RepositoryPlan, janitor: RepositoryPlan) -> tuple[Decision, ...]:
    """The janitor's decisions (with its reason) for the images ECR will expire or archive although the
    janitor, for a reason ECR ignores, keeps them where they are, or only archives what ECR deletes."""
    ecr_end = {d.image.digest: ends_as(d) for d in ecr.decisions}
    return tuple(
        d for d in janitor.decisions if d.reason.code in NEEDED and ecr_end[d.image.digest] < ends_as(d)
    )
