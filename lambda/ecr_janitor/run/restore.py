"""`restore`: bring images back from ECR's archive class, one UpdateImageStorageClass(STANDARD) each.

Idempotent: an image already ACTIVE (or ACTIVATING) is reported, not asked for again. Every image gets an
outcome (restored, already-active, not-found, refused) and an audit line. Followers go first (core.restore).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ecr_janitor.adapters import clients
from ecr_janitor.adapters.accounts import caller_identity
from ecr_janitor.adapters.clients import AWS_ERRORS, error_code, error_message
from ecr_janitor.adapters.ecr import STANDARD, EcrRegistry
from ecr_janitor.adapters.logs import lines_mentioning
from ecr_janitor.config import Config, Execution, Protect
from ecr_janitor.core.model import Image, ImageStatus
from ecr_janitor.core.restore import restore_order, with_followers
from ecr_janitor.events import RUN_ID_PATTERN
from ecr_janitor.outputs import audit
from ecr_janitor.outputs.restore import RestoredImage, RestoreOutcome, RestoreReport
from ecr_janitor.outputs.trail import Trail, read_trail, trail_from_lines
from ecr_janitor.run import janitor
from ecr_janitor.run.janitor import new_run_id

RESTORED_STATUSES = frozenset({ImageStatus.ACTIVATING, ImageStatus.ACTIVE})
NOT_FOUND_CODES = frozenset({"ImageNotFoundException", "RepositoryNotFoundException"})


@dataclass(frozen=True, slots=True)
class Wanted:
    """An image to restore: by digest, or by tag."""

    region: str
    repository: str
    digest: str | None = None
    tag: str | None = None
    tags: tuple[str, ...] = ()
    """Its tags when it was archived (from the audit trail), for the report if it is gone now."""
    account: str | None = None
    """The registry's account the trail records (None: the credentials' own)."""

    @property
    def label(self) -> str:
        return f"{self.repository}@{self.digest}" if self.digest else f"{self.repository}:{self.tag}"


@dataclass
class Restore:
    """One restore request over any number of repositories."""

    registry_for: Callable[[str], EcrRegistry]
    dry_run: bool
    followers: bool
    """Also restore what follows each image (its platform images, signatures, referrers)."""
    restoring: str
    """What is being undone, for the audit lines."""
    account: str | None = None
    """The credentials' account, when the request names accounts: an image of another is not asked for."""
    notes: list[str] = field(default_factory=list, init=False)
    """What the person restoring should know (an index whose platform images are still unknown)."""

    def images(self, wanted: Sequence[Wanted]) -> list[RestoredImage]:
        results: list[RestoredImage] = []
        groups: dict[tuple[str, str], list[Wanted]] = {}
        for item in wanted:
            other = self._other_account(item)
            if other is not None:
                results.append(self._elsewhere(item, other))
            else:
                groups.setdefault((item.region, item.repository), []).append(item)
        elsewhere = sorted({other for other in map(self._other_account, wanted) if other is not None})
        if elsewhere:
            self.notes.append(
                f"images of account(s) {', '.join(elsewhere)} were not asked for: these credentials are in "
                f"account {self.account}. Run the same restore with each account's credentials"
            )
        for (region, repository), items in groups.items():
            results += self._repository(region, repository, items)
        return results

    def _repository(self, region: str, repository: str, wanted: Sequence[Wanted]) -> list[RestoredImage]:
        registry = self.registry_for(region)
        try:
            images = registry.images(repository, strict=False)
        except AWS_ERRORS as error:
            code = error_code(error)
            outcome = RestoreOutcome.NOT_FOUND if code in NOT_FOUND_CODES else RestoreOutcome.REFUSED
            detail = f"{code}: {error_message(error)}"
            return [
                self._record(region, repository, w.digest or w.label, w.tags, outcome, detail) for w in wanted
            ]
        by_digest = {image.digest: image for image in images}
        results: list[RestoredImage] = []
        found: list[str] = []
        for item in wanted:
            image = by_digest.get(item.digest or "") or next((i for i in images if item.tag in i.tags), None)
            if image is None:
                results.append(
                    self._record(
                        region, repository, item.digest or item.label, item.tags, RestoreOutcome.NOT_FOUND
                    )
                )
            else:
                found.append(image.digest)
        digests = with_followers(images, found) if self.followers else set(found)
        for digest in restore_order(images, digests):
            results.append(self._one(registry, region, repository, by_digest[digest]))
        return results

    def _other_account(self, item: Wanted) -> str | None:
        """The account of an image in another registry than the credentials' (None: theirs, or unknown)."""
        if item.account and self.account and item.account != self.account:
            return item.account
        return None

    def _elsewhere(self, item: Wanted, account: str) -> RestoredImage:
        detail = f"in account {account}: run restore with that account's credentials"
        outcome = RestoreOutcome.OTHER_ACCOUNT
        return self._record(
            item.region, item.repository, item.digest or item.label, item.tags, outcome, detail
        )

    def _one(self, registry: EcrRegistry, region: str, repository: str, image: Image) -> RestoredImage:
        if image.is_index and image.children_unknown and self.followers:
            self.notes.append(
                f"{repository}@{image.digest[:19]}… is an image index whose manifest ECR did not return (it "
                "doesn't while the index is archived), so its platform images are unknown: run the same "
                "restore again once it is ACTIVE (about 20 minutes) to restore them too"
            )
        if image.status is not ImageStatus.ARCHIVED:
            detail = "being restored (ACTIVATING)" if image.status is ImageStatus.ACTIVATING else ""
            return self._record(
                region, repository, image.digest, image.tags, RestoreOutcome.ALREADY_ACTIVE, detail
            )
        if self.dry_run:
            return self._record(region, repository, image.digest, image.tags, RestoreOutcome.WOULD_RESTORE)
        try:
            status = registry.update_storage_class(repository, {"imageDigest": image.digest}, STANDARD)
        except AWS_ERRORS as error:
            code = error_code(error)
            outcome = RestoreOutcome.NOT_FOUND if code in NOT_FOUND_CODES else RestoreOutcome.REFUSED
            return self._record(
                region, repository, image.digest, image.tags, outcome, f"{code}: {error_message(error)}"
            )
        if status in RESTORED_STATUSES:
            return self._record(region, repository, image.digest, image.tags, RestoreOutcome.RESTORED, status)
        detail = f"ECR answered imageStatus {status or 'nothing'}"
        return self._record(region, repository, image.digest, image.tags, RestoreOutcome.REFUSED, detail)

    def _record(
        self,
        region: str,
        repository: str,
        digest: str,
        tags: tuple[str, ...],
        outcome: RestoreOutcome,
        detail: str = "",
    ) -> RestoredImage:
        audit.image_restored(
            region, repository, digest, tags, outcome=outcome.value, detail=detail, restoring=self.restoring
        )
        return RestoredImage(region, repository, digest, tags, outcome, detail)


class RestoreRequestError(ValueError):
    """The restore can't be done as asked (arguments, or the run's trail can't be read). Nothing was done."""


def from_arguments(
    config: Config | None,
    *,
    repository: str | None,
    digest: str | None,
    tag: str | None,
    run_id: str | None,
    source: str | None,
    log_group: str | None,
    region: str | None,
    dry_run: bool,
) -> RestoreReport:
    """The CLI's `restore`: checks the request, reads a run's trail if asked, restores, reports."""
    notes: list[str] = []
    caller: str | None = None
    if run_id is not None:
        if repository or digest or tag:
            raise RestoreRequestError(
                "--run restores a whole run; --repository with --digest/--tag one image"
            )
        if not re.fullmatch(RUN_ID_PATTERN, run_id):
            raise RestoreRequestError(f"{run_id!r} is not a run id")
        trail = _trail(run_id, source, log_group, region)
        if trail.dry_run:
            notes.append(f"run {run_id} was a dry run: it archived nothing")
        wanted = [
            Wanted(i.region, i.repository, i.digest, tags=i.tags, account=i.account) for i in trail.images
        ]
        what, followers = f"what run {run_id} archived", False  # the trail lists every image archived
        if any(item.account for item in wanted):
            caller = _caller_account(region or clients.default_region() or wanted[0].region)
    else:
        if not repository or not (digest or tag):
            raise RestoreRequestError("give --repository with --digest or --tag, or --run RUN_ID")
        if source or log_group:
            raise RestoreRequestError("--from and --log-group go with --run")
        region = region or clients.default_region()
        if not region:
            raise RestoreRequestError("no region: pass --region or set AWS_DEFAULT_REGION")
        wanted = [Wanted(region, repository, digest, tag)]
        what, followers = f"{wanted[0].label} and what follows it", True
    restore_id = new_run_id()
    audit.start_run(restore_id)
    execution = config.execution if config else Execution()
    registries: dict[str, EcrRegistry] = {}

    def registry_for(where: str) -> EcrRegistry:
        if where not in registries:
            registries[where] = janitor.registry_for(execution, where)
        return registries[where]

    job = Restore(registry_for, dry_run, followers, restoring=what, account=caller)
    images = job.images(wanted)
    grace = (config.protect if config else Protect()).restore_grace_days
    return RestoreReport(restore_id, what, dry_run, grace, images, [*notes, *job.notes])


def _caller_account(region: str) -> str:
    """The account of the credentials, to restore only that account's images."""
    try:
        return caller_identity(region)[0]
    except AWS_ERRORS as error:
        raise RestoreRequestError(
            "can't tell which account these credentials are in (STS GetCallerIdentity: "
            f"{error_code(error)}: {error_message(error)})"
        ) from None


def _trail(run_id: str, source: str | None, log_group: str | None, region: str | None) -> Trail:
    if source is not None:
        try:
            text = Path(source).read_text(encoding="utf-8")
        except OSError as error:
            raise RestoreRequestError(f"can't read {source}: {error.strerror or error}") from None
        trail, where = read_trail(text, run_id), source
    elif log_group is not None:
        where = f"log group {log_group}"
        home = region or clients.default_region()
        if not home:
            raise RestoreRequestError("no region for the log group: pass --region or set AWS_DEFAULT_REGION")
        try:
            trail = trail_from_lines(
                lines_mentioning(clients.client("logs", home), log_group, run_id), run_id
            )
        except AWS_ERRORS as error:
            raise RestoreRequestError(
                f"can't read {where}: {error_code(error)}: {error_message(error)}"
            ) from None
    else:
        raise RestoreRequestError("--run needs --from FILE or --log-group NAME")
    if not trail.run_found:
        raise RestoreRequestError(f"run {run_id} is not in {where}")
    return trail
