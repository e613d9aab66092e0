"""The archive cost model applied to what a run archives and deletes from the archive.

Prices are the documented constants of ecr_janitor.constants (source and date there). Sizes are ECR's
compressed sizes with shared layers counted once per image, so every figure is an upper bound. Storage is
priced at the first tier: the registry-wide archive volume that decides the tier is not known here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ecr_janitor import constants as c
from ecr_janitor.core.lifecycle import MIN_ARCHIVE_DAYS


def _gb(size: int) -> float:
    return size / c.BYTES_PER_GB


def archive_costs(totals: Mapping[str, int], *, dry_run: bool) -> dict[str, Any] | None:
    """What archiving and deleting from the archive cost or save per month, and what restoring everything
    archived would cost; None when the run neither archives nor deletes archived images."""
    archived = totals["bytesArchivable" if dry_run else "bytesArchived"]
    images = totals["imagesArchivable" if dry_run else "imagesArchived"]
    deleted = totals["archivedImagesExpirable" if dry_run else "archivedImagesExpired"]
    if not images and not deleted:
        return None
    standard = _gb(archived) * c.STANDARD_STORAGE_USD_PER_GB_MONTH
    in_archive = _gb(archived) * c.ARCHIVE_STORAGE_USD_PER_GB_MONTH
    return {
        "imagesArchived": images,
        "bytesArchived": archived,
        "monthlyStorageSavedUsd": round(standard - in_archive, 2),
        "monthlyStorageSavedAboveTierUsd": round(
            _gb(archived)
            * (c.STANDARD_STORAGE_USD_PER_GB_MONTH - c.ARCHIVE_STORAGE_USD_PER_GB_MONTH_ABOVE_TIER),
            2,
        ),
        "restoreAllUsd": round(_gb(archived) * c.ARCHIVE_RETRIEVAL_USD_PER_GB, 2),
        "minimumBilledUsd": round(in_archive * MIN_ARCHIVE_DAYS / 30, 2),
        "archivedImagesDeleted": deleted,
        "prices": {
            "standardUsdPerGbMonth": c.STANDARD_STORAGE_USD_PER_GB_MONTH,
            "archiveUsdPerGbMonth": c.ARCHIVE_STORAGE_USD_PER_GB_MONTH,
            "archiveUsdPerGbMonthAboveTier": c.ARCHIVE_STORAGE_USD_PER_GB_MONTH_ABOVE_TIER,
            "archiveTierGb": c.ARCHIVE_TIER_GB,
            "retrievalUsdPerGb": c.ARCHIVE_RETRIEVAL_USD_PER_GB,
            "minimumArchiveDays": MIN_ARCHIVE_DAYS,
            "checked": c.PRICES_CHECKED,
        },
    }


def archive_cost_lines(costs: Mapping[str, Any], *, dry_run: bool) -> list[str]:
    """The cost model as the text report shows it."""
    prices = costs["prices"]
    tier_tb = prices["archiveTierGb"] // 1024
    lines = ["Archive storage class (cost model, USD, upper bounds):"]
    if costs["imagesArchived"]:
        verb = "would move" if dry_run else "moved"
        lines += [
            f"  {verb} {costs['imagesArchived']} images to the archive: ${prices['archiveUsdPerGbMonth']:.2f}"
            f"/GB-month for the first {tier_tb} TB a month, as much as standard storage (saves "
            f"${costs['monthlyStorageSavedUsd']:.2f}/month), ${prices['archiveUsdPerGbMonthAboveTier']:.2f}"
            f"/GB-month beyond (saves ${costs['monthlyStorageSavedAboveTierUsd']:.2f}/month)",
            f"  each is billed at least {prices['minimumArchiveDays']} days in the archive (up to "
            f"${costs['minimumBilledUsd']:.2f} in all); restoring all of them: "
            f"${costs['restoreAllUsd']:.2f} (${prices['retrievalUsdPerGb']:.2f}/GB), within about 20 minutes",
        ]
    if costs["archivedImagesDeleted"]:
        done = "would be deleted" if dry_run else "deleted"
        lines.append(
            f"  {costs['archivedImagesDeleted']} archived images {done} from the archive (their storage is "
            "no longer billed; one archived for less than the minimum is billed the rest of it)"
        )
    lines.append(f"  prices checked {prices['checked']}")
    return lines
