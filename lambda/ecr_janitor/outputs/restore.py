"""What `restore` did, per image, and its two renderings: the `--json` document and the human summary."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class RestoreOutcome(StrEnum):
    RESTORED = "restored"
    """ECR accepted the restore (ACTIVATING; pullable within about 20 minutes)."""
    ALREADY_ACTIVE = "already-active"
    """ACTIVE, or already being restored (ACTIVATING): nothing to do."""
    NOT_FOUND = "not-found"
    """No such image (or repository): deleted since, or never there."""
    REFUSED = "refused"
    """ECR refused the restore, or the image could not be read."""
    WOULD_RESTORE = "would-restore"
    """--dry-run: archived, and would be restored."""
    OTHER_ACCOUNT = "other-account"
    """In another account's registry than the credentials': not asked for; restore it with its account's."""


SUCCESSES = frozenset({RestoreOutcome.RESTORED, RestoreOutcome.ALREADY_ACTIVE, RestoreOutcome.WOULD_RESTORE})


@dataclass(frozen=True, slots=True)
class RestoredImage:
    region: str
    repository: str
    digest: str
    tags: tuple[str, ...]
    outcome: RestoreOutcome
    detail: str = ""


@dataclass
class RestoreReport:
    restore_id: str
    """The restore's own run id (its audit lines carry it)."""
    what: str
    """What was asked, e.g. `what run RUN_ID archived` or `REPOSITORY@DIGEST and what follows it`."""
    dry_run: bool
    grace_days: int
    """How long the nightly run leaves a restored image alone (protect.restoreGraceDays)."""
    images: list[RestoredImage] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every image is restored (or would be) or already active."""
        return all(image.outcome in SUCCESSES for image in self.images)

    def totals(self) -> dict[str, int]:
        counts = Counter(image.outcome for image in self.images)
        return {outcome.value: counts[outcome] for outcome in RestoreOutcome}


def restore_json(report: RestoreReport) -> dict[str, Any]:
    return {
        "command": "restore",
        "runId": report.restore_id,
        "restoring": report.what,
        "dryRun": report.dry_run,
        "ok": report.ok,
        "restoreGraceDays": report.grace_days,
        "totals": report.totals(),
        "images": [
            {
                "region": i.region,
                "repository": i.repository,
                "digest": i.digest,
                "tags": list(i.tags),
                "outcome": i.outcome.value,
                "detail": i.detail,
            }
            for i in report.images
        ],
        "notes": list(report.notes),
    }


def restore_text(report: RestoreReport) -> str:
    mode = "DRY RUN, nothing restored" if report.dry_run else "restoring"
    lines = [f"ECR Janitor restore · {mode}: {report.what} · this restore is run {report.restore_id}", ""]
    if not report.images:
        lines.append("Nothing to restore.")
    width = max((len(i.repository) for i in report.images), default=0)
    for image in report.images:
        tags = f" ({', '.join(image.tags)})" if image.tags else ""
        detail = f": {image.detail}" if image.detail else ""
        lines.append(
            f"  {image.outcome.value:<14} {image.region}  {image.repository:<{width}}  "
            f"{image.digest[:19]}…{tags}{detail}"
        )
    lines += [f"Note: {note}" for note in report.notes]
    counts = ", ".join(f"{n} {outcome}" for outcome, n in report.totals().items() if n)
    unfinished = {image.outcome for image in report.images} - SUCCESSES
    status = "OK" if report.ok else "INCOMPLETE" if unfinished == {RestoreOutcome.OTHER_ACCOUNT} else "FAILED"
    lines += ["", f"Totals [{status}]: {counts or 'nothing to do'}"]
    if any(i.outcome is RestoreOutcome.RESTORED for i in report.images):
        lines.append(
            "  ECR makes restored images pullable within about 20 minutes. The nightly run neither archives "
            f"nor expires them for {report.grace_days} days (protect.restoreGraceDays)."
        )
    return "\n".join(lines) + "\n"
