"""A run's archives, read back from what the run wrote: its `--json` report, or its audit log lines (the
CLI's stderr, or CloudWatch Logs events, raw or as `aws logs filter-log-events` prints them)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ecr_janitor.outputs.audit import ARCHIVE_EVENT, RUN_ID_KEY


@dataclass(frozen=True, slots=True)
class ArchivedImage:
    region: str
    repository: str
    digest: str
    tags: tuple[str, ...] = ()
    account: str | None = None
    """The registry's account, as the run recorded it (None: a trail from before runs recorded it)."""


@dataclass(frozen=True)
class Trail:
    run_found: bool
    """Whether anything in the source belongs to the run at all (a run that archived nothing is found)."""
    images: tuple[ArchivedImage, ...] = ()
    """Every image ECR confirmed archived in the run, once, in the order the run archived them."""
    dry_run: bool = False


def read_trail(text: str, run_id: str) -> Trail:
    """The run's archived images from a `--json` report, a FilterLogEvents answer or JSON log lines."""
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if isinstance(document, Mapping) and "reportVersion" in document:
        return _from_report(document, run_id)
    if isinstance(document, Mapping) and isinstance(document.get("events"), list):
        return trail_from_lines((str(e.get("message", "")) for e in document["events"]), run_id)
    return trail_from_lines(text.splitlines(), run_id)


def trail_from_lines(lines: Iterable[str], run_id: str) -> Trail:
    """Log lines, each a JSON object, maybe after a prefix (a timestamp); other lines are skipped."""
    found = False
    images: dict[tuple[str, str, str, str], ArchivedImage] = {}
    for line in lines:
        entry = _json_object(line)
        if entry is None or entry.get(RUN_ID_KEY) != run_id:
            continue
        found = True
        if entry.get("event") == ARCHIVE_EVENT:
            image = ArchivedImage(
                str(entry["region"]),
                str(entry["repository"]),
                str(entry["digest"]),
                tuple(entry.get("tags", ())),
                _account(entry),
            )
            images.setdefault((image.account or "", image.region, image.repository, image.digest), image)
    return Trail(found, tuple(images.values()))


def _from_report(report: Mapping[str, Any], run_id: str) -> Trail:
    if report.get("runId") != run_id:
        return Trail(False)
    images = tuple(
        ArchivedImage(
            repository["region"],
            repository["repository"],
            entry["digest"],
            tuple(entry["tags"]),
            _account(repository),
        )
        for repository in report.get("repositories", [])
        for entry in repository.get("archived", [])
        if entry.get("archived") is True
    )
    return Trail(True, images, bool(report.get("dryRun")))


def _account(entry: Mapping[str, Any]) -> str | None:
    account = entry.get("account")
    return str(account) if account else None


def _json_object(line: str) -> dict[str, Any] | None:
    start = line.find("{")
    if start < 0:
        return None
    try:
        entry = json.loads(line[start:])
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None
