"""The run report's two renderings: the machine document (`--json`) and the human summary.

The JSON carries every image with the rule or protection that decided it; the text shows per repository
what was kept, expired and why, the protected images, and the totals last.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from ecr_janitor.config import Config
from ecr_janitor.core.model import ALL_REGIONS, DeleteFailure, ImageStatus, SourceFailure
from ecr_janitor.core.propagate import PolicyStatus
from ecr_janitor.core.retain import Decision, ReasonCode, Verdict
from ecr_janitor.outputs.costs import archive_cost_lines, archive_costs
from ecr_janitor.outputs.report import PolicyOutcome, RepositoryReport, RunReport, Status

REPORT_VERSION = 1
PREVIEW_NOTE = (
    "What ECR itself will expire (and archive) under this lifecycle policy, on its own schedule (within "
    "24 hours of the policy being in place), without the janitor's protections and counting every image "
    "index, platform image and signature as an image of its own: images in use or with protected tags, "
    "and the platform images and signatures of images the janitor keeps, are expired or archived too "
    "(see atRisk)."
)


_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
PROTECTED_SHOWN = 12


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in _UNITS:
        if value < 1024 or unit == _UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def report_text(report: RunReport, config: Config | None = None) -> str:
    lines = [_headline(report), ""]
    retained = [r for r in report.repositories if r.policy is None]
    propagated = [r for r in report.repositories if r.policy is not None]
    # With several registries, every row says whose it is.
    account: list[str] = ["ACCOUNT"] if report.accounts else []

    def whose(r: RepositoryReport) -> list[str]:
        return [r.repository.account] if account else []

    if retained:
        rows = [whose(r) + _row(r, report.dry_run) for r in retained]
        header = account + _header(report.dry_run)
        lines.extend(_table(header, rows, details=[_breakdown(r) for r in retained]))
    if propagated:
        if retained:
            lines.append("")
        lines += [
            "Lifecycle policies (propagate mode). ECR enforces them itself, on its own schedule",
            "(within 24 h), WITHOUT the janitor's protections, and count indexes, platform images and",
            "signatures as images of their own: images in use, and the platform images and signatures",
            "of images the janitor keeps, are expired too (AT RISK).",
            "With onRisk: hold (the default) a policy that puts images at risk is HELD: not written.",
        ]
        rows = [whose(r) + _policy_row(r) for r in propagated]
        lines.extend(_table(account + _POLICY_HEADER, rows, details=[_policy_details(r) for r in propagated]))
    if not report.repositories:
        lines.append("No repository is covered by a target.")
    failures = [r for r in report.repositories if r.failed and r.status is not Status.BLOCKED]
    if failures or report.region_failures or report.in_use_failures:
        lines += ["", "Problems (exit code 1):"]
        lines += [f"  {f.describe()}: nothing deleted there" for f in report.in_use_failures]
        lines += [f"  {_where(f.account, f.region)}: {f.code}: {f.message}" for f in report.region_failures]
        for r in failures:
            where = _where(r.repository.account if account else None, r.repository.region)
            lines.append(f"  {where} {r.repository.name}: {r.message}")
            refused = [*r.delete_failures, *r.archiving.failures]
            lines += [f"    {f.digest[:19]}…  {f.code}: {f.message}" for f in refused[:5]]
            if len(refused) > 5:
                lines.append(f"    … and {len(refused) - 5} more (see --json)")
    if report.in_use_ignored:
        lines += ["", "Warnings (protect.eks.ignoreClusters: these withhold no deletion):"]
        lines += [f"  {f.describe()}: its images are not protected" for f in report.in_use_ignored]
    order = [
        ReasonCode.IN_USE,
        ReasonCode.LISTED_BY_KEPT_INDEX,
        ReasonCode.RECENTLY_RESTORED,
        ReasonCode.PROTECTED_TAG,
    ]
    protected = sorted(
        ((r, d) for r in report.repositories if r.plan for d in r.plan.protected),
        key=lambda pair: order.index(pair[1].reason.code),
    )
    if protected:
        lines += ["", f"Protected: kept although a rule would expire or archive them ({len(protected)}):"]
        for r, d in protected[:PROTECTED_SHOWN]:
            tags = f" ({', '.join(d.image.tags)})" if d.image.tags else ""
            lines.append(f"  {r.repository.name} {d.image.digest[:19]}…{tags}: {d.reason.detail}")
        if len(protected) > PROTECTED_SHOWN:
            lines.append(f"  … and {len(protected) - PROTECTED_SHOWN} more (see --json)")
    costs = archive_costs(report.totals(), dry_run=report.dry_run)
    if costs is not None:
        lines += ["", *archive_cost_lines(costs, dry_run=report.dry_run)]
    if report.inspector:
        lines += ["", *(use.describe() for use in report.inspector)]
    if config is not None:
        lines += ["", *_legend(report, config)]
    lines += ["", *_totals(report)]
    return "\n".join(lines) + "\n"


def _where(account: str | None, region: str) -> str:
    """`us-east-1`, or `account 111122223333 us-east-1`; `*`: every region."""
    region_text = "every region" if region == ALL_REGIONS else region
    return region_text if account is None else f"account {account} {region_text}"


def _legend(report: RunReport, config: Config) -> list[str]:
    used = sorted({r.target_index for r in report.repositories})
    lines = ["Targets and rules:"]
    for index in used:
        target = config.targets[index]
        exclude = f" (exclude {', '.join(target.exclude)})" if target.exclude else ""
        lines.append(f"  [{index}] {target.mode} {target.label}{exclude}")
        lines += [f"      {rule.summary}" for rule in target.policy.ordered_rules()]
    if config.protect.tags:
        lines.append(f"  protected tags: {', '.join(config.protect.tags)}")
    return lines


def _headline(report: RunReport) -> str:
    when = report.now.strftime("%Y-%m-%d %H:%M UTC")
    mode = f"DRY RUN, nothing deleted: {report.dry_run_reason}" if report.dry_run else "deletions applied"
    headline = (
        f"ECR Janitor {report.command} · {mode}\nevaluated at {when} · regions: {', '.join(report.regions)}"
        f" · run {report.run_id}"
    )
    if report.accounts or report.consumer_accounts:
        headline += (
            f"\nregistries of {len(report.accounts)} account(s): {', '.join(report.accounts) or 'none'}"
            f" · workloads read in {len(report.consumer_accounts)} account(s)"
        )
    return headline


def _header(dry_run: bool) -> list[str]:
    done = ["WOULD EXPIRE", "RECLAIMABLE"] if dry_run else ["EXPIRED", "RECLAIMED"]
    return ["REGION", "REPOSITORY", "MODE", "STATUS", "IMAGES", "KEEP", "PROTECTED", *done]


def _row(r: RepositoryReport, dry_run: bool) -> list[str]:
    if r.plan is None:
        return [r.repository.region, r.repository.name, r.mode, r.status.value, "-", "-", "-", "-", r.message]
    kept = r.images_scanned - len(r.expirable) - len(r.archivable)
    if dry_run:
        done, size = len(r.expirable), f"up to {human_bytes(r.bytes_expirable)}"
    else:
        done, size = len(r.deleted_digests), f"up to {human_bytes(r.bytes_reclaimed)}"
    return [
        r.repository.region,
        r.repository.name,
        r.mode,
        r.status.value,
        str(r.images_scanned),
        str(kept),
        str(r.protected_count),
        str(done),
        size,
    ]


_POLICY_HEADER = ["REGION", "REPOSITORY", "POLICY", "IMAGES", "ECR WILL EXPIRE", "SIZE", "AT RISK"]


def _policy_row(r: RepositoryReport) -> list[str]:
    assert r.policy is not None
    status = r.policy.status
    label = status.value
    if status in (PolicyStatus.CREATED, PolicyStatus.UPDATED) and not r.policy.written:
        label = f"would be {status.value}"
    elif status is PolicyStatus.DRIFTED:
        label = "drifted (reported)"
    elif status is PolicyStatus.HELD:
        label = "HELD (not written)"
    preview = r.policy.preview
    if preview is None:
        return [r.repository.region, r.repository.name, label, "-", "-", "-", "-"]
    return [
        r.repository.region,
        r.repository.name,
        label,
        str(len(preview.decisions)),
        str(len(preview.expired)),
        f"up to {human_bytes(preview.bytes_expired)}",
        str(len(r.policy.at_risk)),
    ]


def _policy_details(r: RepositoryReport) -> str:
    assert r.policy is not None
    notes = [r.message] if r.policy.status is PolicyStatus.HELD else []
    notes += [f"differs: {difference}" for difference in r.policy.differences[:3]]
    if len(r.policy.differences) > 3:
        notes.append(f"… {len(r.policy.differences) - 3} more differences (see --json)")
    preview = r.policy.preview
    if preview is not None and preview.archived:
        size = human_bytes(preview.bytes_archived)
        notes.append(
            f"ECR will archive {len(preview.archived)} images (up to {size}): not pullable until restored"
        )
    for decision in r.policy.at_risk[:3]:
        tags = f" ({', '.join(decision.image.tags)})" if decision.image.tags else ""
        notes.append(f"at risk: {decision.image.digest[:19]}…{tags} {decision.reason.detail}")
    if len(r.policy.at_risk) > 3:
        notes.append(f"… {len(r.policy.at_risk) - 3} more at risk (see --json)")
    if r.policy.at_risk_unknown:
        notes.append(f"at risk may be incomplete: {r.policy.at_risk_unknown}")
    return "\n".join(notes)


def _breakdown(r: RepositoryReport) -> str:
    if r.plan is None:
        return ""
    counts: Counter[tuple[str, str]] = Counter()
    for d in r.plan.decisions:
        code = d.reason.code
        if code in (ReasonCode.EXPIRED_BY_RULE, ReasonCode.ARCHIVED_BY_RULE, ReasonCode.KEPT_BY_RULE):
            why = f"by rule {d.reason.rule_priority}"
        else:
            why = _PHRASES.get(code, code.value)
        counts[(d.verdict.value, why)] += 1
    parts = []
    for verdict in ("expire", "archive", "keep"):
        items = sorted((why, n) for (v, why), n in counts.items() if v == verdict)
        if items:
            parts.append(f"{verdict}: " + ", ".join(f"{n} {why}" for why, n in items))
    return " · ".join(parts)


_PHRASES = {
    ReasonCode.NOT_SELECTED: "by no rule",
    ReasonCode.IN_USE: "in use",
    ReasonCode.PROTECTED_TAG: "by a protected tag",
    ReasonCode.LISTED_BY_KEPT_INDEX: "listed by a kept index",
    ReasonCode.FOLLOWS_KEPT: "with a kept index or subject",
    ReasonCode.FOLLOWS_EXPIRED: "with an expired index or subject",
    ReasonCode.ORPHAN_REFERRER: "referrers of images not in the repository",
    ReasonCode.UNRESOLVED: "unresolved",
    ReasonCode.ARCHIVED: "in the archive class",
    ReasonCode.FOLLOWS_ARCHIVED: "with an archived index or subject",
    ReasonCode.RECENTLY_RESTORED: "restored recently (grace)",
    ReasonCode.RESTORING: "being restored",
    ReasonCode.MAY_BE_LISTED_BY_ARCHIVED_INDEX: "possibly listed by an archived index",
    ReasonCode.FOLLOWER_ARCHIVE_MINIMUM: "until a follower's 90 days in the archive",
}


def _table(header: list[str], rows: Sequence[list[str]], details: Sequence[str]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows] if i < len(row)) for i in range(len(header))]
    numeric = {"IMAGES", "KEEP", "PROTECTED", "WOULD EXPIRE", "EXPIRED", "ECR WILL EXPIRE", "AT RISK"}

    def fmt(row: list[str]) -> str:
        cells = [
            cell.rjust(widths[i]) if header[i] in numeric else cell.ljust(widths[i])
            for i, cell in enumerate(row[: len(header)])
        ]
        extra = row[len(header) :]
        return "  ".join([*cells, *extra]).rstrip()

    lines = [fmt(header)]
    for row, detail in zip(rows, details, strict=True):
        lines.append(fmt(row))
        lines += [" " * (widths[0] + 2) + part for part in detail.splitlines()]
    return lines


def _totals(report: RunReport) -> list[str]:
    t = report.totals()
    covered = (
        f"{t['repositories']} repositories covered ({t['repositoriesSkipped']} skipped, "
        f"{t['repositoriesFailed']} failed), {t['repositoriesUnmatched']} not covered by any target"
    )
    if report.dry_run:
        outcome = (
            f"{t['imagesScanned']} images scanned · {t['imagesExpirable']} would expire "
            f"(up to {human_bytes(t['bytesExpirable'])}) · {t['imagesProtected']} protected"
        )
    else:
        outcome = (
            f"{t['imagesScanned']} images scanned · {t['imagesExpired']} of {t['imagesExpirable']} expired "
            f"(up to {human_bytes(t['bytesReclaimed'])} reclaimed) · {t['imagesProtected']} protected · "
            f"{t['deleteFailures']} delete failures"
        )
    status = "FAILED" if report.has_failures else "OK"
    lines = [f"Totals [{status}]: {covered}", f"  {outcome}"]
    if t["imagesArchivable"] or t["archivedImagesExpirable"] or t["imagesRestored"]:
        lines.append(f"  {_archive_totals(t, dry_run=report.dry_run)}")
    if any(r.policy is not None for r in report.repositories):
        created, updated = (
            ("policiesToCreate", "policiesToUpdate")
            if report.dry_run
            else (
                "policiesCreated",
                "policiesUpdated",
            )
        )
        verb = "would be " if report.dry_run else ""
        lines.append(
            f"  lifecycle policies: {t[created]} {verb}created, {t[updated]} {verb}updated, "
            f"{t['policiesUnchanged']} unchanged, {t['policyDrift']} drifted, {t['policiesHeld']} held · "
            "ECR will expire "
            f"{t['previewImagesExpirable']} images (up to {human_bytes(t['previewBytesExpirable'])}), "
            f"{t['previewImagesAtRisk']} of them at risk"
            + (f", and archive {t['previewImagesArchivable']}" if t["previewImagesArchivable"] else "")
        )
    return [*lines, f"  took {report.duration_seconds:.1f}s"]


def _archive_totals(t: dict[str, int], *, dry_run: bool) -> str:
    if dry_run:
        return (
            f"archive class: {t['imagesArchivable']} would be archived (up to "
            f"{human_bytes(t['bytesArchivable'])}) · {t['archivedImagesExpirable']} archived would be "
            f"deleted · {t['imagesRestored']} restored in the last 24 h"
        )
    return (
        f"archive class: {t['imagesArchived']} of {t['imagesArchivable']} archived (up to "
        f"{human_bytes(t['bytesArchived'])}) · {t['archivedImagesExpired']} archived deleted · "
        f"{t['archiveFailures']} archive failures · {t['imagesRestored']} restored in the last 24 h"
    )


# -- the JSON document ---------------------------------------------------------------------------------


def report_json(report: RunReport) -> dict[str, Any]:
    """The `--json` document: the whole run, every image with the rule or protection that decided it."""
    return {
        "reportVersion": REPORT_VERSION,
        "command": report.command,
        "runId": report.run_id,
        "dryRun": report.dry_run,
        "dryRunReason": report.dry_run_reason,
        "now": report.now.isoformat(),
        "durationSeconds": round(report.duration_seconds, 3),
        "regions": list(report.regions),
        "accounts": list(report.accounts),
        "consumerAccounts": list(report.consumer_accounts),
        "totals": report.totals(),
        "regionFailures": [
            {"region": f.region, "code": f.code, "message": f.message, "account": f.account}
            for f in report.region_failures
        ],
        "inUseSourceFailures": [_source_json(f) for f in report.in_use_failures],
        "inUseSourceWarnings": [_source_json(f) for f in report.in_use_ignored],
        "resume": dict(report.resume),
        "archiveCosts": archive_costs(report.totals(), dry_run=report.dry_run),
        "inspector": [
            {
                "region": use.region,
                "used": use.used,
                "status": use.status,
                "imagesCovered": use.covered,
                "imagesInUse": use.pinned,
                "account": use.account,
            }
            for use in report.inspector
        ],
        "repositories": [_repository_json(r) for r in report.repositories],
    }


def _source_json(failure: SourceFailure) -> dict[str, Any]:
    return {
        "region": failure.region,
        "source": failure.source,
        "code": failure.code,
        "message": failure.message,
        "account": failure.account,
    }


def _repository_json(report: RepositoryReport) -> dict[str, Any]:
    failures = {f.digest: f for f in report.delete_failures}
    archive_failures = {f.digest: f for f in report.archiving.failures}
    deleted, archived = report.deleted_digests, report.archived_digests
    decisions = report.plan.decisions if report.plan else ()
    return {
        "region": report.repository.region,
        "account": report.repository.account,
        "repository": report.repository.name,
        "mode": report.mode,
        "target": report.target_index,
        "targetRepositories": report.target_label,
        "status": report.status.value,
        "message": report.message,
        "imagesScanned": report.images_scanned,
        "imagesExpirable": len(report.expirable),
        "imagesExpired": len(deleted),
        "imagesProtected": report.protected_count,
        "bytesExpirable": report.bytes_expirable,
        "bytesReclaimed": report.bytes_reclaimed,
        "expired": [
            _decision_json(d, deleted=d.image.digest in deleted, failure=failures.get(d.image.digest))
            for d in decisions
            if d.verdict is Verdict.EXPIRE
        ],
        "kept": [_decision_json(d) for d in decisions if d.verdict is Verdict.KEEP],
        "deleteFailures": [
            {"digest": f.digest, "code": f.code, "message": f.message} for f in report.delete_failures
        ],
        "policy": _policy_json(report.policy) if report.policy else None,
        # -- the archive storage class --
        "imagesArchivable": len(report.archivable),
        "imagesArchived": len(archived),
        "bytesArchivable": report.bytes_archivable,
        "bytesArchived": report.bytes_archived,
        "archivedImagesExpired": report.archived_images_expired,
        "archived": [
            _decision_json(
                d,
                archived=d.image.digest in archived,
                failure=archive_failures.get(d.image.digest),
            )
            for d in decisions
            if d.verdict is Verdict.ARCHIVE
        ],
        "archiveFailures": [
            {"digest": f.digest, "code": f.code, "message": f.message} for f in report.archiving.failures
        ],
    }


def _policy_json(outcome: PolicyOutcome) -> dict[str, Any]:
    preview = outcome.preview
    return {
        "status": outcome.status.value,
        "written": outcome.written,
        "onDrift": outcome.on_drift,
        "differences": list(outcome.differences),
        "preview": None
        if preview is None
        else {
            "note": PREVIEW_NOTE,
            "imagesExpirable": len(preview.expired),
            "bytesExpirable": preview.bytes_expired,
            "atRisk": [_decision_json(d) for d in outcome.at_risk],
            "atRiskIncomplete": outcome.at_risk_unknown or None,
            "expired": [_decision_json(d) for d in preview.expired],
            "imagesArchivable": len(preview.archived),
            "bytesArchivable": preview.bytes_archived,
            "archived": [_decision_json(d) for d in preview.archived],
        },
    }


def _decision_json(
    decision: Decision,
    *,
    deleted: bool | None = None,
    archived: bool | None = None,
    failure: DeleteFailure | None = None,
) -> dict[str, Any]:
    image = decision.image
    entry: dict[str, Any] = {
        "digest": image.digest,
        "tags": list(image.tags),
        "pushedAt": image.pushed_at.isoformat(),
        "lastPulledAt": image.last_pulled_at.isoformat() if image.last_pulled_at else None,
        "sizeBytes": image.size_bytes,
        "reason": decision.reason.code.value,
        "rule": decision.reason.rule_priority,
        "detail": decision.reason.detail,
    }
    if decision.vetoed_rule is not None:
        entry["vetoedRule"] = decision.vetoed_rule
    if image.status is not ImageStatus.ACTIVE:
        entry["imageStatus"] = image.status.value
        entry["lastArchivedAt"] = image.last_archived_at.isoformat() if image.last_archived_at else None
    if image.last_activated_at is not None:
        entry["lastActivatedAt"] = image.last_activated_at.isoformat()
    if deleted is not None:
        entry["deleted"] = deleted
    if archived is not None:
        entry["archived"] = archived
    if failure is not None:
        entry["failure"] = {"code": failure.code, "message": failure.message}
    return entry
