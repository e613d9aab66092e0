"""A local ECR for tests, `make demo` and `make bench`: moto's server, made as strict as the real ECR.

moto is lenient where the janitor must not be, and no test may pass because the fake is lenient (README,
Development): it doesn't paginate, ignores the tagStatus filter, takes more than 100 ids per
BatchDeleteImage, leaves deleted untagged digests out of the BatchDeleteImage answer, has no
lastRecordedPullTime and no archive storage class. `StrictEcr` is a WSGI layer in front of moto's server
that behaves like ECR on each of those points. It also counts every ECR call, can add a fixed latency per
request, and injects faults (throttling, access denied, refused deletions) on demand.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import socket
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from moto.backends import get_backend
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.iam.models import get_account_id_from
from moto.moto_api._internal.models import moto_api_backend
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from ecr_janitor.core.model import INDEX_MEDIA_TYPES, registry_key

ECR_TARGET_PREFIX = "AmazonEC2ContainerRegistry_V20150921."
ECS_TARGET_PREFIX = "AmazonEC2ContainerServiceV20141113."
ACCOUNT_ID = DEFAULT_ACCOUNT_ID
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
MAX_BATCH_IDS = 100
MIN_POLICY_TEXT, MAX_POLICY_TEXT = 100, 30_720
MIN_ARCHIVE_DAYS = 90
MAX_SERVICE_REVISIONS = 20
MAX_DESCRIBE_SERVICES = 10
MAX_DESCRIBE_TASKS = 100
MAX_DESCRIBE_JOBS = 100
INSPECTOR_MAX_PAGE = 200
INSPECTOR_DEFAULT_PAGE = 100
"""ListCoverage's default page size is not documented; the janitor always asks for the maximum."""
IDLE_CONNECTION_SECONDS = 60
"""A kept-alive connection left idle this long is closed, so that idle clients don't hold server threads."""
_LAMBDA_GET_FUNCTION = re.compile(r"^/2015-03-31/functions/[^/]+$")
_SCOPE_IN_AUTH = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/")
_KEY_IN_AUTH = re.compile(r"Credential=([^/]+)/")
_ACCOUNT = "local_ecr.account"
"""Where __call__ leaves the request's account in the WSGI environ for the handlers."""
QUERY_SERVICES = ("sts",)
"""Services whose operation is the form's Action (the query protocol), not an X-Amz-Target."""
ORGANIZATIONS_TARGET_PREFIX = "AWSOrganizationsV20161128."
ORGANIZATIONS_MAX_PAGE = 20
ORGANIZATIONS_DEFAULT_PAGE = 10
"""Organizations' default page size is not documented (at most 20); small, so that paging is exercised."""

StartResponse = Callable[..., Any]
Payload = dict[str, Any]
BeyondMoto = Callable[[str, Payload, dict[str, Any]], Payload]
"""(region, request body, WSGI environ) -> answer: a handler for what moto lacks."""


class EcrError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


@dataclass
class Fault:
    """Fail matching calls with an AWS error. `times=None` fails every matching call.

    `operation` is the JSON target's operation name (`DescribeImages`), or `*` for every call to
    `service`; REST services (Lambda, Batch, S3) can only be failed as a whole with `*`.
    """

    operation: str
    code: str
    message: str = "injected fault"
    status: int = 400
    times: int | None = 1
    repository: str | None = None
    service: str = "ecr"
    region: str | None = None
    account: str | None = None
    """Only calls made with this account's credentials."""

    def matches(self, call: Call) -> bool:
        if self.times == 0 or call.service != self.service or self.operation not in ("*", call.operation):
            return False
        if self.region is not None and call.region != self.region:
            return False
        if self.account is not None and call.account != self.account:
            return False
        return self.repository is None or _repository_of(call.body) == self.repository


@dataclass(frozen=True)
class Call:
    operation: str
    region: str
    body: Payload
    service: str = "ecr"
    account: str = ACCOUNT_ID
    """The account the call's credentials belong to (moto's default unless a role session's)."""


@dataclass
class StorageClass:
    """One image's place in ECR's archive storage class, as the strict ECR tracks it."""

    status: str = "ACTIVE"
    last_archived_at: datetime | None = None
    last_activated_at: datetime | None = None
    activating_since: datetime | None = None


@dataclass
class StrictEcr:
    """WSGI middleware: ECR's documented behaviour on top of moto's ECR backend."""

    app: Callable[..., Iterable[bytes]]
    latency_seconds: float = 0.0
    calls: list[Call] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    refused_deletions: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Digest -> (failureCode, failureReason) that BatchDeleteImage reports instead of deleting."""
    pull_times: dict[tuple[str, str, str], datetime] = field(default_factory=dict)
    """(region, repository, digest) -> lastRecordedPullTime."""
    subjects: dict[tuple[str, str, str], str] = field(default_factory=dict)
    """(region, repository, digest) -> subjectManifestDigest of an OCI referrer."""
    unreadable_manifests: set[str] = field(default_factory=set)
    """Digests BatchGetImage reports as failures."""
    storage: dict[tuple[str, str, str], StorageClass] = field(default_factory=dict)
    """(region, repository, digest) -> its archive history; an image without an entry was never archived."""
    refused_storage_updates: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Digest -> (error code, message) that UpdateImageStorageClass raises instead of acting."""
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    """When ECR thinks it is: archive and restore times, and when a restore (ACTIVATING) is done."""
    restore_delay: timedelta = timedelta(minutes=20)
    """ECR restores an archived image within about 20 minutes; finish_restores() ends them at once."""
    early_archive_deletions: int = 0
    """Archived images BatchDeleteImage deleted less than 90 days after they were archived (billed 90)."""
    referenced_child_archive_requests: int = 0
    """How often UpdateImageStorageClass was asked to archive a manifest that an ACTIVE index lists."""
    lifecycle_policies: dict[tuple[str, str], str] = field(default_factory=dict)
    """(region, repository) -> lifecycle policy text, kept here: moto rejects valid ECR grammar."""
    referenced_child_requests: int = 0
    """How often BatchDeleteImage was asked for a manifest that a present index lists."""
    # -- in-use sources moto lacks (see "ECS, Batch and Inspector beyond moto" below) --------------
    service_revisions: dict[str, list[str]] = field(default_factory=dict)
    """Service ARN -> its current service revision ARNs (DescribeServices' currentServiceRevisions)."""
    revisions: dict[str, list[Payload]] = field(default_factory=dict)
    """Service revision ARN -> its containerImages ({containerName, image, imageDigest})."""
    job_definitions: dict[str, Payload] = field(default_factory=dict)
    """Job definition ARN -> what was registered (moto drops nodeProperties and more)."""
    job_queues: dict[str, list[str]] = field(default_factory=dict)
    """Region -> job queue names."""
    jobs: dict[str, list[Payload]] = field(default_factory=dict)
    """Region -> JobDetail documents (with jobQueue and status) of submitted jobs."""
    inspector_ecr_status: dict[str, str] = field(default_factory=dict)
    """Region -> Inspector's ECR scanning status for the account; DISABLED when not set."""
    inspector_coverage: dict[str, list[Payload]] = field(default_factory=dict)
    """Region -> ListCoverage's coveredResources."""
    # Every "region" key above is `scope(account, region)`: the region for moto's default account, and
    # `<account>/<region>` for any other, so that each account's registry and workloads stay its own.
    _key_accounts: dict[str, str] = field(default_factory=dict)
    """Access key -> the account it belongs to (moto's lookup, remembered)."""
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.faults.clear()
            self.refused_deletions.clear()
            self.pull_times.clear()
            self.subjects.clear()
            self.unreadable_manifests.clear()
            self.storage.clear()
            self.refused_storage_updates.clear()
            self.early_archive_deletions = 0
            self.referenced_child_archive_requests = 0
            self.referenced_child_requests = 0
            self.lifecycle_policies.clear()
            self._key_accounts.clear()
            for state in (
                self.service_revisions,
                self.revisions,
                self.job_definitions,
                self.job_queues,
                self.jobs,
                self.inspector_ecr_status,
                self.inspector_coverage,
            ):
                state.clear()

    def count(self, operation: str | None = None, service: str = "ecr", account: str | None = None) -> int:
        with self._lock:
            return sum(
                1
                for c in self.calls
                if c.service == service and operation in (None, c.operation) and account in (None, c.account)
            )

    def operations(self, service: str = "ecr", account: str | None = None) -> Counter[str]:
        with self._lock:
            return Counter(
                c.operation for c in self.calls if c.service == service and account in (None, c.account)
            )

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        scope = _SCOPE_IN_AUTH.search(environ.get("HTTP_AUTHORIZATION", ""))
        region, service = scope.groups() if scope else ("us-east-1", "")
        account = environ[_ACCOUNT] = self._account_of(environ)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if service != "ecr" or not target.startswith(ECR_TARGET_PREFIX):
            form = _form(environ) if service in QUERY_SERVICES else {}
            operation = (
                form.get("Action")
                or target.rsplit(".", 1)[-1]
                or f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}"
            )
            call = Call(operation, region, {}, service, account)
            with self._lock:
                self.calls.append(call)
                fault = next((f for f in self.faults if f.matches(call)), None)
                if fault is not None and fault.times is not None:
                    fault.times -= 1
            if fault is not None:
                return _respond_error(
                    start_response, service, EcrError(fault.code, fault.message, fault.status)
                )
            if target == ECS_TARGET_PREFIX + "ListTaskDefinitions":
                return self._ecs_list_task_definitions(environ, start_response)
            if service == "sts" and operation == "AssumeRole":
                return self._sts_assume_role(environ, form, start_response)
            beyond_moto = self._beyond_moto(service, target, environ)
            if beyond_moto is not None:
                return self._serve_beyond_moto(beyond_moto, environ, region, start_response)
            return self.app(environ, start_response)
        operation = target.removeprefix(ECR_TARGET_PREFIX)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        body: Payload = json.loads(raw or b"{}")
        if self.latency_seconds:
            time.sleep(self.latency_seconds)
        try:
            with self._lock:
                call = Call(operation, region, body, account=account)
                self.calls.append(call)
                self._raise_injected_fault(call)
                handler = getattr(self, f"_op_{operation}", None)
                if handler is None:
                    status, headers, content = self._forward(environ, body)
                    start_response(status, headers)
                    return [content]
                payload = handler(environ, region, body)
        except EcrError as error:
            return _respond_error(start_response, "ecr", error)
        return _respond(start_response, 200, payload)

    # -- what moto gets wrong ------------------------------------------------------------------

    def _op_DescribeRepositories(self, environ: dict[str, Any], region: str, body: Payload) -> Payload:
        _check_page_request(body, explicit="repositoryNames")
        if body.get("repositoryNames"):
            return self._call_moto(environ, body)
        # Straight from the backend, like DescribeImages below: moto's serializer is the slow part.
        repositories = get_backend("ecr")[_account(environ)][region].repositories.values()
        return _paginate(
            {"repositories": [_repository_detail(r) for r in repositories]}, "repositories", body
        )

    def _op_ListTagsForResource(self, environ: dict[str, Any], region: str, body: Payload) -> Payload:
        name = _repository_of(body) or ""
        repository = self.repository(region, name, _account(environ))
        backend = get_backend("ecr")[_account(environ)][region]
        return {"tags": backend.tagger.list_tags_for_resource(repository.arn)["tags"]}

    def _op_DescribeImages(self, environ: dict[str, Any], region: str, body: Payload) -> Payload:
        _check_page_request(body, explicit="imageIds")
        wanted_status = _status_filter(body)
        if body.get("imageIds"):
            answer = self._call_moto(environ, _without(body, "filter"))
            self._require_status(_scope(environ, region), answer["imageDetails"], wanted_status)
        else:
            # Listed straight from moto's backend: moto's own serializer costs ~0.5 ms an image of
            # server CPU, which would make the fake, not the janitor, the bottleneck of a benchmark.
            name = body["repositoryName"]
            repository = self.repository(region, name, _account(environ))
            answer = {"imageDetails": [_image_detail(repository, i) for i in repository.images]}
        details = _filter_tag_status(answer["imageDetails"], body, lambda d: d.get("imageTags"))
        for detail in details:
            key = (_scope(environ, region), detail["repositoryName"], detail["imageDigest"])
            if key in self.pull_times:
                detail["lastRecordedPullTime"] = self.pull_times[key].timestamp()
            if key in self.subjects:
                detail["subjectManifestDigest"] = self.subjects[key]
                detail["artifactMediaType"] = "application/vnd.dev.cosign.artifact.sig.v1+json"
            detail.update(self._storage_fields(key))
            # moto has no size for an index; ECR reports its largest child's
            detail.setdefault("imageSizeInBytes", 0)
        answer["imageDetails"] = [d for d in details if wanted_status in ("ANY", d["imageStatus"])]
        return _paginate(answer, "imageDetails", body)

    def _op_ListImages(self, environ: dict[str, Any], region: str, body: Payload) -> Payload:
        _check_page_request(body, explicit=None)
        wanted_status = _status_filter(body)
        answer = self._call_moto(environ, _without(body, "maxResults", "nextToken", "filter"))
        answer["imageIds"] = [
            i
            for i in _filter_tag_status(answer["imageIds"], body, lambda i: i.get("imageTag"))
            if wanted_status
            in ("ANY", self.image_status((_scope(environ, region), body["repositoryName"], i["imageDigest"])))
        ]
        return _paginate(answer, "imageIds", body)

    def _op_BatchDeleteImage(self, environ: dict[str, Any], region: str, body: Payload) -> Payload:
        ids: list[Payload] = body.get("imageIds", [])
        if not 1 <= len(ids) <= MAX_BATCH_IDS:
            raise EcrError(
                "InvalidParameterException",
                f"1 validation error detected: Value at 'imageIds' failed to satisfy constraint: "
                f"Member must have length between 1 and {MAX_BATCH_IDS} (got {len(ids)})",
            )
        repository = self.repository(region, body["repositoryName"], _account(environ))
        # ECR may refuse to delete a manifest an index still lists (moto never does); refuse always, even
        # when the index is in the same call, so that a test catches the janitor ever asking.
        listed = set().union(*map(_listed_by, repository.images))
        refusals = (
            dict.fromkeys(
                listed, ("ImageReferencedByManifestList", "Requested image referenced by manifest list")
            )
            | self.refused_deletions
        )
        refused = [i for i in ids if i.get("imageDigest") in refusals]
        self.referenced_child_requests += sum(i.get("imageDigest") in listed for i in ids)
        allowed = [i for i in ids if i not in refused]
        answer: Payload = {"imageIds": [], "failures": []}
        if any("imageTag" in i for i in allowed):
            answer = self._call_moto(environ, {**body, "imageIds": allowed})
        elif allowed:  # by digest, which is all the janitor asks: done here, moto's serializer is slow
            doomed = {i.get("imageDigest") for i in allowed}
            present_before = {image.get_image_digest() for image in repository.images}
            self._forget_deleted(
                _scope(environ, region), body["repositoryName"], {str(d) for d in doomed & present_before}
            )
            repository.images = [i for i in repository.images if i.get_image_digest() not in doomed]
            for image_id in allowed:
                digest = image_id.get("imageDigest")
                if digest in present_before:
                    answer["imageIds"].append({"imageDigest": digest})
                else:
                    answer["failures"].append(
                        {
                            "imageId": image_id,
                            "failureCode": "ImageNotFound",
                            "failureReason": "Requested image not found",
                        }
                    )
        for image_id in refused:
            code, reason = refusals[image_id["imageDigest"]]
            answer["failures"].append({"imageId": image_id, "failureCode": code, "failureReason": reason})
        # ECR answers for every id; moto forgets untagged digests it did delete.
        present = {image.get_image_digest() for image in repository.images}
        answered = {i.get("imageDigest") for i in answer["imageIds"]} | {
            f.get("imageId", {}).get("imageDigest") for f in answer["failures"]
        }
        for image_id in allowed:
            digest = image_id.get("imageDigest")
            if digest and digest not in answered and digest not in present:
                answer["imageIds"].append({"imageDigest": digest})
        return answer

    # moto's lifecycle-policy validator rejects what ECR accepts (transition, sinceImagePulled, storageClass).
    def _op_PutLifecyclePolicy(self, environ: dict[str, Any], region: str, body: Payload) -> Payload:
        name = body["repositoryName"]
        self.repository(region, name, _account(environ))
        text = body.get("lifecyclePolicyText", "")
        if not MIN_POLICY_TEXT <= len(text) <= MAX_POLICY_TEXT:
            raise EcrError(
                "InvalidParameterException",
                f"lifecyclePolicyText must be {MIN_POLICY_TEXT} to {MAX_POLICY_TEXT} characters long",
            )
        try:
            rules = json.loads(text)["rules"]
        except (ValueError, KeyError, TypeError) as error:
            raise EcrError("InvalidParameterException", "Invalid parameter: lifecyclePolicyText") from error
        if not isinstance(rules, list) or not rules:
            raise EcrError("InvalidParameterException", "Invalid parameter: lifecyclePolicyText")
        for rule in rules:
            selection, action = rule.get("selection", {}), rule.get("action", {})
            if (
                selection.get("countType") == "sinceImageTransitioned"
                and action.get("type") == "expire"
                and int(selection.get("countNumber", 0)) < MIN_ARCHIVE_DAYS
            ):
                raise EcrError(
                    "InvalidParameterException",
                    f"archived images can't be expired before {MIN_ARCHIVE_DAYS} days in archive",
                )
        self.lifecycle_policies[(_scope(environ, region), name)] = text
        return {"registryId": _account(environ), "repositoryName": name, "lifecyclePolicyText": text}

    def _op_GetLifecyclePolicy(self, environ: dict[str, Any], region: str, body: Payload) -> Payload:
        name, where = body["repositoryName"], _scope(environ, region)
        self.repository(region, name, _account(environ))
        if (where, name) not in self.lifecycle_policies:
            raise EcrError(
                "LifecyclePolicyNotFoundException",
                f"Lifecycle policy does not exist for the repository with name '{name}' "
                f"in the registry with id '{_account(environ)}'",
            )
        return {
            "registryId": _account(environ),
            "repositoryName": name,
            "lifecyclePolicyText": self.lifecycle_policies[(where, name)],
            "lastEvaluatedAt": time.time(),
        }

    def _op_DeleteLifecyclePolicy(self, environ: dict[str, Any], region: str, body: Payload) -> Payload:
        answer = self._op_GetLifecyclePolicy(environ, region, body)
        del self.lifecycle_policies[(_scope(environ, region), body["repositoryName"])]
        return answer

    def _op_BatchGetImage(self, environ: dict[str, Any], region: str, body: Payload) -> Payload:
        ids: list[Payload] = body.get("imageIds", [])
        if not 1 <= len(ids) <= MAX_BATCH_IDS:
            raise EcrError(
                "InvalidParameterException", f"imageIds must hold between 1 and {MAX_BATCH_IDS} ids"
            )
        name = body["repositoryName"]
        readable = [
            i
            for i in ids
            if i.get("imageDigest") not in self.unreadable_manifests
            and self.image_status((_scope(environ, region), name, i.get("imageDigest", ""))) == "ACTIVE"
        ]
        answer: Payload = {"images": [], "failures": []}
        if readable:
            answer = self._call_moto(environ, {**body, "imageIds": readable})
        found = {image["imageId"]["imageDigest"] for image in answer["images"]}
        # moto names a missing image by a "null" tag; ECR names the id that was asked for. An archived image
        # can't be pulled: ECR answers 404 (user guide, "Archiving an image").
        answer["failures"] = [
            {
                "imageId": i,
                "failureCode": "ImageNotFound",
                "failureReason": _not_found_reason(self, _scope(environ, region), name, i),
            }
            for i in ids
            if i.get("imageDigest") not in found
        ]
        return answer

    # -- the archive storage class: UpdateImageStorageClass, imageStatus, lastArchivedAt/lastActivatedAt --
    # ECR documents (user guide, "Archiving an image"; botocore's model): an archived image is listed and
    # described (imageStatus ARCHIVED) but only when a filter asks for it, can't be pulled, is restored by
    # UpdateImageStorageClass(STANDARD) within about 20 minutes (ACTIVATING, then ACTIVE) or by pushing it
    # again, and BatchDeleteImage may delete it (billed for at least 90 days in the archive). Where ECR is
    # silent this fake refuses (ImageStorageClassUpdateNotSupportedException), so that no test passes on
    # leniency: anything but ACTIVE -> ARCHIVE or ARCHIVED -> STANDARD, and archiving a manifest an ACTIVE
    # index lists.

    def image_status(self, key: tuple[str, str, str]) -> str:
        state = self.storage.get(key)
        if state is None:
            return "ACTIVE"
        done_at = state.activating_since + self.restore_delay if state.activating_since else None
        if state.status == "ACTIVATING" and done_at is not None and self.clock() >= done_at:
            state.status, state.last_activated_at = "ACTIVE", done_at
        return state.status

    def finish_restores(self) -> None:
        """Every ACTIVATING image is ACTIVE now, as ECR does within about 20 minutes."""
        with self._lock:
            for state in self.storage.values():
                if state.status == "ACTIVATING":
                    state.status, state.last_activated_at = "ACTIVE", self.clock()

    def _storage_fields(self, key: tuple[str, str, str]) -> Payload:
        fields: Payload = {"imageStatus": self.image_status(key)}
        state = self.storage.get(key)
        if state is not None and state.last_archived_at is not None:
            fields["lastArchivedAt"] = state.last_archived_at.timestamp()
        if state is not None and state.last_activated_at is not None:
            fields["lastActivatedAt"] = state.last_activated_at.timestamp()
        return fields

    def _require_status(self, region: str, details: list[Payload], wanted: str) -> None:
        """DescribeImages by id: an image outside the status filter is not found, as ECR answers."""
        for detail in details:
            if wanted not in (
                "ANY",
                self.image_status((region, detail["repositoryName"], detail["imageDigest"])),
            ):
                raise EcrError(
                    "ImageNotFoundException",
                    f"The image with imageId {{imageDigest:'{detail['imageDigest']}'}} does not exist within "
                    f"the repository with name '{detail['repositoryName']}' with status {wanted}",
                )

    def _op_UpdateImageStorageClass(self, environ: dict[str, Any], region: str, body: Payload) -> Payload:
        name, where = body["repositoryName"], _scope(environ, region)
        repository = self.repository(region, name, _account(environ))
        image_id: Payload = body.get("imageId") or {}
        target = body.get("targetStorageClass")
        if target not in ("STANDARD", "ARCHIVE"):
            raise EcrError(
                "ValidationException",
                f"1 validation error detected: Value '{target}' at 'targetStorageClass' failed to satisfy "
                "constraint: Member must satisfy enum value set: [STANDARD, ARCHIVE]",
            )
        if not image_id.get("imageDigest") and not image_id.get("imageTag"):
            raise EcrError("InvalidParameterException", "imageId needs an imageDigest or an imageTag")
        image = next(
            (
                i
                for i in repository.images
                if image_id.get("imageDigest") in (None, i.get_image_digest())
                and image_id.get("imageTag") in (None, *i.image_tags)
            ),
            None,
        )
        if image is None:
            raise EcrError(
                "ImageNotFoundException",
                f"The image with imageId {json.dumps(image_id)} does not exist within the repository with "
                f"name '{name}' in the registry with id '{_account(environ)}'",
            )
        digest = image.get_image_digest()
        if digest in self.refused_storage_updates:
            code, message = self.refused_storage_updates[digest]
            raise EcrError(code, message)
        key = (where, name, digest)
        status = self.image_status(key)
        if target == "ARCHIVE" and status == "ACTIVE":
            if any(
                digest in _listed_by(i)
                for i in repository.images
                if self.image_status((where, name, i.get_image_digest())) == "ACTIVE"
            ):
                self.referenced_child_archive_requests += 1
                raise EcrError(
                    "ImageStorageClassUpdateNotSupportedException",
                    "The image is referenced by an active manifest list and can't be archived",
                )
            state = self.storage.setdefault(key, StorageClass())
            state.status, state.last_archived_at = "ARCHIVED", self.clock()
        elif target == "STANDARD" and status == "ARCHIVED":
            state = self.storage[key]
            state.status, state.activating_since = "ACTIVATING", self.clock()
        else:
            raise EcrError(
                "ImageStorageClassUpdateNotSupportedException",
                f"The image is {status}; the update to {target} is not supported",
            )
        answered: Payload = {"imageDigest": digest}
        if image_id.get("imageTag"):
            answered["imageTag"] = image_id["imageTag"]
        return {
            "registryId": _account(environ),
            "repositoryName": name,
            "imageId": answered,
            "imageStatus": self.image_status(key),
        }

    def _op_PutImage(self, environ: dict[str, Any], region: str, body: Payload) -> Payload:
        """Pushing an archived image again restores it (ECR user guide): ACTIVE at once."""
        manifest = str(body.get("imageManifest", ""))
        digest = body.get("imageDigest") or "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()
        state = self.storage.get((_scope(environ, region), body["repositoryName"], digest))
        if state is None or state.status == "ACTIVE":
            return self._call_moto(environ, body)
        state.status, state.last_activated_at = "ACTIVE", self.clock()
        image_id = {"imageDigest": digest, **({"imageTag": body["imageTag"]} if body.get("imageTag") else {})}
        return {
            "image": {
                "registryId": _account(environ),
                "repositoryName": body["repositoryName"],
                "imageId": image_id,
                "imageManifest": manifest,
            }
        }

    def _forget_deleted(self, region: str, name: str, digests: set[str]) -> None:
        for digest in digests:
            state = self.storage.pop((region, name, digest), None)
            archived_at = state.last_archived_at if state and state.status != "ACTIVE" else None
            if archived_at is not None and self.clock() - archived_at < timedelta(days=MIN_ARCHIVE_DAYS):
                self.early_archive_deletions += 1

    def _ecs_list_task_definitions(
        self, environ: dict[str, Any], start_response: StartResponse
    ) -> list[bytes]:
        """ECS honours `sort` (newest revision first with DESC); moto ignores it."""
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body: Payload = json.loads(environ["wsgi.input"].read(length) or b"{}")
        status, headers, content = self._forward(environ, body)
        if status.startswith("200"):
            answer = json.loads(content)
            arns = sorted(answer.get("taskDefinitionArns", []), key=lambda arn: int(arn.rsplit(":", 1)[-1]))
            answer["taskDefinitionArns"] = arns[::-1] if body.get("sort") == "DESC" else arns
            content = json.dumps(answer).encode()
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
            headers.append(("Content-Length", str(len(content))))
        start_response(status, headers)
        return [content]

    # -- ECS, Batch and Inspector beyond moto ------------------------------------------------------
    # What the in-use reader needs and moto lacks or drops, served as the botocore models describe it:
    # ECS service revisions with the digests a deployment resolved (moto has no DescribeServiceRevisions
    # and no currentServiceRevisions), Batch multi-node/ECS/EKS job definition fields (moto drops
    # nodeProperties) and unfinished jobs (moto's jobs need Docker), and Inspector's account status
    # (moto answers no account) and ECR coverage (moto has no ListCoverage), paginated.

    def _beyond_moto(self, service: str, target: str, environ: dict[str, Any]) -> BeyondMoto | None:
        if service == "organizations" and target.removeprefix(ORGANIZATIONS_TARGET_PREFIX) in (
            "ListAccounts",
            "ListAccountsForParent",
            "ListOrganizationalUnitsForParent",
        ):
            return self._organizations_page
        if service == "ecs":
            return {
                ECS_TARGET_PREFIX + "DescribeServices": self._ecs_describe_services,
                ECS_TARGET_PREFIX + "DescribeServiceRevisions": self._ecs_describe_service_revisions,
                ECS_TARGET_PREFIX + "DescribeTasks": self._ecs_describe_tasks,
            }.get(target)
        route = (service, str(environ.get("REQUEST_METHOD")), str(environ.get("PATH_INFO")))
        if service == "lambda" and route[1] == "GET" and _LAMBDA_GET_FUNCTION.match(route[2]):
            return self._lambda_get_function
        return {
            ("batch", "POST", "/v1/registerjobdefinition"): self._batch_register_job_definition,
            ("batch", "POST", "/v1/describejobdefinitions"): self._batch_describe_job_definitions,
            ("batch", "POST", "/v1/describejobqueues"): self._batch_describe_job_queues,
            ("batch", "POST", "/v1/listjobs"): self._batch_list_jobs,
            ("batch", "POST", "/v1/describejobs"): self._batch_describe_jobs,
            ("inspector2", "POST", "/status/batch/get"): self._inspector_account_status,
            ("inspector2", "POST", "/coverage/list"): self._inspector_list_coverage,
        }.get(route)

    def _serve_beyond_moto(
        self,
        handler: BeyondMoto,
        environ: dict[str, Any],
        region: str,
        start_response: StartResponse,
    ) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        body: Payload = json.loads(raw or b"{}")
        # handlers that amend moto's answer forward the body again
        environ = {**environ, "wsgi.input": io.BytesIO(raw), "CONTENT_LENGTH": str(len(raw))}
        try:
            with self._lock:
                payload = handler(region, body, environ)
        except EcrError as error:
            return _respond_error(start_response, "json", error)
        return _respond(start_response, 200, payload)

    def _lambda_get_function(self, region: str, body: Payload, environ: dict[str, Any]) -> Payload:
        """moto builds ResolvedImageUri by cutting the ImageUri at its first `:`, which mangles a URI
        pinned by digest (`repo@sha256@sha256:…`); Lambda answers `repository@digest`."""
        status, _headers, content = self._forward(environ, {})
        answer: Payload = json.loads(content or b"{}")
        if not status.startswith("200"):
            raise EcrError(
                str(answer.get("Type") or answer.get("__type") or "ResourceNotFoundException"), "", 404
            )
        code = answer.get("Code", {})
        if "ImageUri" in code:
            base, _, digest = code["ImageUri"].partition("@")
            last = base.rsplit("/", 1)
            if ":" in last[-1]:  # a tag, not a registry port
                base = base.rsplit(":", 1)[0]
            code["ResolvedImageUri"] = f"{base}@{digest or code['ResolvedImageUri'].rsplit('@', 1)[-1]}"
        return answer

    def _ecs_describe_services(self, region: str, body: Payload, environ: dict[str, Any]) -> Payload:
        # ECS describes at most 10 services a call (moto takes any number).
        _at_most(body.get("services", []), MAX_DESCRIBE_SERVICES, "services")
        answer = self._call_moto(environ, body)
        for service in answer.get("services", []):
            arns = self.service_revisions.get(service.get("serviceArn", ""), [])
            service["currentServiceRevisions"] = [
                {"arn": arn, "requestedTaskCount": 0, "runningTaskCount": 0, "pendingTaskCount": 0}
                for arn in arns
            ]
        return answer

    def _ecs_describe_tasks(self, region: str, body: Payload, environ: dict[str, Any]) -> Payload:
        # ECS describes at most 100 tasks a call (moto takes any number).
        _at_most(body.get("tasks", []), MAX_DESCRIBE_TASKS, "tasks")
        return self._call_moto(environ, body)

    def _ecs_describe_service_revisions(self, region: str, body: Payload, environ: dict[str, Any]) -> Payload:
        arns: list[str] = body.get("serviceRevisionArns", [])
        if not 1 <= len(arns) <= MAX_SERVICE_REVISIONS:
            raise EcrError(
                "InvalidParameterException",
                f"serviceRevisionArns must hold 1 to {MAX_SERVICE_REVISIONS} ARNs (got {len(arns)})",
            )
        found = [arn for arn in arns if arn in self.revisions]
        return {
            "serviceRevisions": [
                {
                    "serviceRevisionArn": arn,
                    "serviceArn": arn.replace(":service-revision/", ":service/").rsplit("/", 1)[0],
                    "containerImages": self.revisions[arn],
                }
                for arn in found
            ],
            "failures": [{"arn": arn, "reason": "MISSING"} for arn in arns if arn not in self.revisions],
        }

    def _batch_register_job_definition(self, region: str, body: Payload, environ: dict[str, Any]) -> Payload:
        answer = self._call_moto(environ, body)
        self.job_definitions[answer["jobDefinitionArn"]] = body
        return answer

    def _batch_describe_job_definitions(self, region: str, body: Payload, environ: dict[str, Any]) -> Payload:
        answer = self._call_moto(environ, body)
        for definition in answer.get("jobDefinitions", []):
            registered = self.job_definitions.get(definition.get("jobDefinitionArn", ""), {})
            for key in ("containerProperties", "nodeProperties", "ecsProperties", "eksProperties"):
                if key in registered:
                    definition[key] = registered[key]
        return answer

    def _batch_describe_job_queues(self, region: str, body: Payload, environ: dict[str, Any]) -> Payload:
        names = self.job_queues.get(_scope(environ, region), [])
        return _paginate(
            {
                "jobQueues": [
                    {
                        "jobQueueName": name,
                        "jobQueueArn": f"arn:aws:batch:{region}:{_account(environ)}:job-queue/{name}",
                        "state": "ENABLED",
                        "status": "VALID",
                        "priority": 1,
                        "computeEnvironmentOrder": [],
                    }
                    for name in names
                ]
            },
            "jobQueues",
            body,
        )

    def _batch_list_jobs(self, region: str, body: Payload, environ: dict[str, Any]) -> Payload:
        queue = str(body.get("jobQueue") or "")
        if not queue:  # the model allows a missing queue only with an array or multi-node parent
            raise EcrError("ClientException", "jobQueue, arrayJobId or multiNodeJobId is required")
        status = body.get("jobStatus", "RUNNING")  # documented: no status lists RUNNING jobs only
        name = queue.rsplit("/", 1)[-1]
        summaries = [
            {"jobId": job["jobId"], "jobName": job["jobName"], "status": job["status"]}
            for job in self.jobs.get(_scope(environ, region), [])
            if job["jobQueue"] == name and job["status"] == status
        ]
        return _paginate({"jobSummaryList": summaries}, "jobSummaryList", body)

    def _batch_describe_jobs(self, region: str, body: Payload, environ: dict[str, Any]) -> Payload:
        ids: list[str] = body.get("jobs", [])
        if len(ids) > MAX_DESCRIBE_JOBS:
            raise EcrError("ClientException", f"jobs can hold at most {MAX_DESCRIBE_JOBS} job IDs")
        return {"jobs": [job for job in self.jobs.get(_scope(environ, region), []) if job["jobId"] in ids]}

    def _inspector_account_status(self, region: str, body: Payload, environ: dict[str, Any]) -> Payload:
        def state(status: str) -> Payload:
            return {"status": status, "errorCode": "ALREADY_ENABLED", "errorMessage": ""}

        ecr = self.inspector_ecr_status.get(_scope(environ, region), "DISABLED")
        return {
            "accounts": [
                {
                    "accountId": _account(environ),
                    "state": state("ENABLED" if ecr == "ENABLED" else "DISABLED"),
                    "resourceState": {"ec2": state("DISABLED"), "ecr": state(ecr)},
                }
            ],
            "failedAccounts": [],
        }

    def _inspector_list_coverage(self, region: str, body: Payload, environ: dict[str, Any]) -> Payload:
        size = body.get("maxResults", INSPECTOR_DEFAULT_PAGE)
        if not 1 <= int(size) <= INSPECTOR_MAX_PAGE:
            raise EcrError("ValidationException", f"maxResults must be between 1 and {INSPECTOR_MAX_PAGE}")
        covered = self.inspector_coverage.get(_scope(environ, region), [])
        for name, filters in (body.get("filterCriteria") or {}).items():
            if name != "resourceType":
                raise EcrError(
                    "ValidationException", f"the local Inspector filters only by resourceType: {name}"
                )
            for f in filters:
                keep = f["comparison"] == "EQUALS"
                covered = [c for c in covered if (c["resourceType"] == f["value"]) == keep]
        return _paginate({"coveredResources": covered}, "coveredResources", {**body, "maxResults": size})

    # -- accounts: whose credentials a request carries, and an STS that refuses what AWS refuses -------
    # moto answers every request in the account of its credentials (or of an `x-moto-account-id`
    # header), so a role session in account B reads B's registry and workloads; but moto grants any
    # AssumeRole. Here AssumeRole needs the role to exist in its account and its trust policy to name the
    # caller (account root, role or user) with the external id it asks for.

    def _account_of(self, environ: dict[str, Any]) -> str:
        header = environ.get("HTTP_X_MOTO_ACCOUNT_ID")
        if header:
            return str(header)
        key = _access_key(environ)
        if key is None:
            return ACCOUNT_ID
        known = self._key_accounts.get(key)  # a dict read needs no lock; a miss is looked up once
        if known is None:
            known = self._key_accounts[key] = str(get_account_id_from(key))
        return known

    def _sts_assume_role(
        self, environ: dict[str, Any], form: dict[str, str], start_response: StartResponse
    ) -> Iterable[bytes]:
        try:
            with self._lock:
                self._check_trust(environ, form.get("RoleArn", ""), form.get("ExternalId"))
        except EcrError as error:
            return _respond_error(start_response, "sts", error)
        return self.app(environ, start_response)

    def _check_trust(self, environ: dict[str, Any], arn: str, external_id: str | None) -> None:
        caller_account = _account(environ)
        auth = _SCOPE_IN_AUTH.search(environ.get("HTTP_AUTHORIZATION", ""))
        region = auth.group(1) if auth else "us-east-1"
        _, caller, _ = get_backend("sts")[caller_account]["aws"].get_caller_identity(
            _access_key(environ) or "", region
        )
        denied = EcrError(
            "AccessDenied",
            f"User: {caller} is not authorized to perform: sts:AssumeRole on resource: {arn}",
            403,
        )
        match = re.fullmatch(r"arn:([a-z-]+):iam::(\d{12}):role/.+", arn)
        if match is None:
            raise denied
        try:
            role = get_backend("iam")[match.group(2)][match.group(1)].get_role_by_arn(arn)
        except Exception as error:  # moto's NotFoundException: AWS answers AccessDenied, saying no more
            raise denied from error
        if not _trust_allows(
            json.loads(role.assume_role_policy_document), caller, caller_account, external_id
        ):
            raise denied

    def _organizations_page(self, region: str, body: Payload, environ: dict[str, Any]) -> Payload:
        """ListAccounts, ListAccountsForParent, ListOrganizationalUnitsForParent: at most 20 a page (moto
        returns 100 and takes any MaxResults), and accounts without `Status`, which AWS retires on
        9 September 2026 (`State` replaces it)."""
        size = body.get("MaxResults", ORGANIZATIONS_DEFAULT_PAGE)
        if not 1 <= int(size) <= ORGANIZATIONS_MAX_PAGE:
            raise EcrError(
                "InvalidInputException", f"MaxResults must be between 1 and {ORGANIZATIONS_MAX_PAGE}"
            )
        answer = self._call_moto(environ, {**_without(body, "NextToken"), "MaxResults": 1000})
        key = "OrganizationalUnits" if "OrganizationalUnits" in answer else "Accounts"
        for account in answer.get("Accounts", []):
            account.pop("Status", None)
        return _paginate(
            answer, key, {**body, "MaxResults": size}, size_key="MaxResults", token_key="NextToken"
        )

    # -- plumbing ----------------------------------------------------------------------------------

    def repository(self, region: str, name: str, account: str = ACCOUNT_ID) -> Any:
        repositories = get_backend("ecr")[account][region].repositories
        if name not in repositories:
            raise EcrError(
                "RepositoryNotFoundException",
                f"The repository with name '{name}' does not exist in the registry with id '{account}'",
            )
        return repositories[name]

    def _raise_injected_fault(self, call: Call) -> None:
        for fault in self.faults:
            if fault.matches(call):
                if fault.times is not None:
                    fault.times -= 1
                raise EcrError(fault.code, fault.message, fault.status)

    def _call_moto(self, environ: dict[str, Any], body: Payload) -> Payload:
        status, _headers, content = self._forward(environ, body)
        answer: Payload = json.loads(content or b"{}")
        if not status.startswith("200"):
            raise EcrError(
                answer.get("__type", "InternalFailure").split("#")[-1],
                str(answer.get("message", answer.get("Message", ""))),
                int(status.split()[0]),
            )
        return answer

    def _forward(self, environ: dict[str, Any], body: Payload) -> tuple[str, list[tuple[str, str]], bytes]:
        raw = json.dumps(body).encode()
        inner = {**environ, "wsgi.input": io.BytesIO(raw), "CONTENT_LENGTH": str(len(raw))}
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            captured["status"], captured["headers"] = status, headers

        result = self.app(inner, capture)
        try:
            content = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close:
                close()
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(content))))
        return captured["status"], headers, content


def scope(account: str, region: str) -> str:
    """The key of an account's per-region state in StrictEcr: the janitor's own registry_key, with moto's
    default account standing for "the credentials' own"."""
    return registry_key(None if account == ACCOUNT_ID else account, region)


def _account(environ: dict[str, Any]) -> str:
    return str(environ.get(_ACCOUNT, ACCOUNT_ID))


def _scope(environ: dict[str, Any], region: str) -> str:
    return scope(_account(environ), region)


def _access_key(environ: dict[str, Any]) -> str | None:
    match = _KEY_IN_AUTH.search(environ.get("HTTP_AUTHORIZATION", ""))
    return match.group(1) if match else None


def _form(environ: dict[str, Any]) -> dict[str, str]:
    """A query-protocol request's form (first value of each field); the body stays readable."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(raw)
    return {key: values[0] for key, values in parse_qs(raw.decode()).items()}


def _trust_allows(document: Payload, caller: str, caller_account: str, external_id: str | None) -> bool:
    """IAM's trust-policy evaluation, as far as the janitor's roles need it: an explicit Deny wins, else
    an Allow of sts:AssumeRole whose principal names the caller and whose conditions hold."""
    statements = document.get("Statement", [])
    allowed = False
    for statement in statements if isinstance(statements, list) else [statements]:
        actions = statement.get("Action", [])
        if not {"sts:AssumeRole", "sts:*", "*"} & set(actions if isinstance(actions, list) else [actions]):
            continue
        if not _names(statement.get("Principal"), caller, caller_account):
            continue
        if not _conditions_hold(statement.get("Condition", {}), external_id):
            continue
        if statement.get("Effect") == "Deny":
            return False
        allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


def _names(principal: Any, caller: str, caller_account: str) -> bool:
    """Whether a trust policy's Principal names the caller: `*`, its account (id or root ARN), its role
    (any session of it) or its user."""
    if principal == "*":
        return True
    named = principal.get("AWS", []) if isinstance(principal, dict) else []
    for entry in named if isinstance(named, list) else [named]:
        if entry in ("*", caller_account, caller):
            return True
        match = re.fullmatch(r"arn:([a-z-]+):iam::(\d{12}):(root|role/(?:.*/)?([^/]+))", str(entry))
        if match is None or match.group(2) != caller_account:
            continue
        partition, account, resource, role = match.groups()
        if resource == "root" or caller.startswith(f"arn:{partition}:sts::{account}:assumed-role/{role}/"):
            return True
    return False


def _conditions_hold(conditions: Payload, external_id: str | None) -> bool:
    for operator, entries in conditions.items():
        for key, values in entries.items():
            if operator != "StringEquals" or key.lower() != "sts:externalid":
                raise EcrError(
                    "InvalidParameterValue",
                    "the local STS evaluates only StringEquals sts:ExternalId in a trust policy, "
                    f"not {operator} {key}",
                )
            if external_id not in (values if isinstance(values, list) else [values]):
                return False
    return True


def _repository_detail(repository: Any) -> Payload:
    return {
        "repositoryArn": repository.arn,
        "registryId": repository.registry_id,
        "repositoryName": repository.name,
        "repositoryUri": repository.uri,
        "createdAt": repository.created_at.timestamp(),
        "imageTagMutability": "MUTABLE",
    }


def _image_detail(repository: Any, image: Any) -> Payload:
    """DescribeImages' imageDetails entry for a moto image, with the fields ECR returns."""
    detail: Payload = {
        "registryId": repository.registry_id,
        "repositoryName": repository.name,
        "imageDigest": image.get_image_digest(),
        "imagePushedAt": image.image_pushed_at,
        "imageManifestMediaType": image.image_manifest_media_type,
    }
    if image.image_tags:
        detail["imageTags"] = list(image.image_tags)
    size = image.get_image_size_in_bytes()
    if size is not None:
        detail["imageSizeInBytes"] = size
    return detail


IMAGE_STATUS_FILTERS = ("ACTIVE", "ARCHIVED", "ACTIVATING", "ANY")


def _status_filter(body: Payload) -> str:
    """DescribeImages/ListImages `filter.imageStatus`; ECR returns ACTIVE images only when it is not set."""
    wanted = str((body.get("filter") or {}).get("imageStatus", "ACTIVE"))
    if wanted not in IMAGE_STATUS_FILTERS:
        raise EcrError(
            "InvalidParameterException",
            f"Invalid parameter at 'filter.imageStatus': must be one of {', '.join(IMAGE_STATUS_FILTERS)}",
        )
    return wanted


def _at_most(items: Sequence[Any], limit: int, name: str) -> None:
    if len(items) > limit:
        message = f"{name} may hold at most {limit} entries (got {len(items)})"
        raise EcrError("InvalidParameterException", message)


def _listed_by(image: Any) -> set[str]:
    """The digests an image index lists (nothing for other manifests)."""
    if image.image_manifest_media_type not in INDEX_MEDIA_TYPES:
        return set()
    return {child["digest"] for child in json.loads(image.image_manifest).get("manifests", [])}


def _not_found_reason(strict: StrictEcr, region: str, name: str, image_id: Payload) -> str:
    if strict.image_status((region, name, image_id.get("imageDigest", ""))) != "ACTIVE":
        return "Requested image is archived and can't be pulled"
    return "Requested image not found"


def _repository_of(body: Payload) -> str | None:
    name = body.get("repositoryName")
    if name is None and "resourceArn" in body:
        name = str(body["resourceArn"]).split(":repository/", 1)[-1]
    return None if name is None else str(name)


def _without(body: Payload, *keys: str) -> Payload:
    return {k: v for k, v in body.items() if k not in keys}


def _check_page_request(body: Payload, explicit: str | None) -> None:
    size = body.get("maxResults")
    if size is not None and not 1 <= int(size) <= MAX_PAGE_SIZE:
        raise EcrError("InvalidParameterException", f"maxResults must be between 1 and {MAX_PAGE_SIZE}")
    if explicit and body.get(explicit) and ("nextToken" in body or "maxResults" in body):
        raise EcrError(
            "InvalidParameterException", f"nextToken and maxResults can't be used together with {explicit}"
        )


def _filter_tag_status(
    items: list[Payload], body: Payload, tag_of: Callable[[Payload], Any]
) -> list[Payload]:
    status = (body.get("filter") or {}).get("tagStatus", "ANY")
    if status == "TAGGED":
        return [item for item in items if tag_of(item)]
    if status == "UNTAGGED":
        return [item for item in items if not tag_of(item)]
    return items


def _paginate(
    answer: Payload, key: str, body: Payload, *, size_key: str = "maxResults", token_key: str = "nextToken"
) -> Payload:
    items: list[Payload] = answer.get(key, [])
    explicit = body.get("repositoryNames") or body.get("imageIds")
    if explicit:
        return answer
    size = int(body.get(size_key) or DEFAULT_PAGE_SIZE)
    start = _decode_token(body[token_key]) if token_key in body else 0
    page = {**answer, key: items[start : start + size]}
    page.pop(token_key, None)
    if start + size < len(items):
        page[token_key] = base64.urlsafe_b64encode(json.dumps({"offset": start + size}).encode()).decode()
    return page


def _decode_token(token: str) -> int:
    try:
        return int(json.loads(base64.urlsafe_b64decode(token.encode()))["offset"])
    except (ValueError, KeyError, TypeError) as error:
        raise EcrError("InvalidParameterException", "Invalid parameter: nextToken") from error


def _respond_error(start_response: StartResponse, service: str, error: EcrError) -> list[bytes]:
    reason = {400: "Bad Request", 403: "Forbidden", 404: "Not Found"}.get(error.status, "Error")
    if service in QUERY_SERVICES:
        content = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{error.code}</Code>"
            f"<Message>{error.message}</Message></Error><RequestId>local</RequestId></ErrorResponse>"
        ).encode()
        start_response(
            f"{error.status} {reason}", [("Content-Type", "text/xml"), ("Content-Length", str(len(content)))]
        )
        return [content]
    if service == "s3":
        content = (
            f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{error.code}</Code>"
            f"<Message>{error.message}</Message></Error>"
        ).encode()
        start_response(
            f"{error.status} {reason}",
            [("Content-Type", "application/xml"), ("Content-Length", str(len(content)))],
        )
        return [content]
    content = json.dumps({"__type": error.code, "message": error.message}).encode()
    start_response(
        f"{error.status} {reason}",
        [
            ("Content-Type", "application/x-amz-json-1.1"),
            ("x-amzn-ErrorType", error.code),
            ("Content-Length", str(len(content))),
        ],
    )
    return [content]


def _respond(start_response: StartResponse, status: int, payload: Payload) -> list[bytes]:
    content = json.dumps(payload, default=str).encode()
    reason = {200: "OK", 400: "Bad Request", 403: "Forbidden", 500: "Internal Server Error"}.get(
        status, "Error"
    )
    start_response(
        f"{status} {reason}",
        [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(content)))],
    )
    return [content]


class _QuietRequestHandler(MotoRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        """One line per request drowns the output of tests and the demo."""


class _KeepAliveRequestHandler(_QuietRequestHandler):
    """HTTP/1.1 with persistent connections, as AWS endpoints keep their HTTPS connections open for the
    next request. werkzeug's development server closes every connection after one response, so a client
    would open a TCP connection per call, which no AWS endpoint makes it do (and which costs the client
    CPU that a real run doesn't spend). The request body is read whole before the application runs, so a
    body the application leaves unread can't be taken for the next request on the connection."""

    protocol_version = "HTTP/1.1"
    timeout = IDLE_CONNECTION_SECONDS

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; on a connection kept open, Nagle's algorithm would hold
        # the body back until the client's delayed acknowledgement (tens of milliseconds a response).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        count = getattr(self.server, "count_connection", None)
        if count is not None:
            count()

    def run_wsgi(self) -> None:
        if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        environ = self.make_environ()
        if environ.get("wsgi.input_terminated"):  # chunked: werkzeug's DechunkedInput ends at the last chunk
            body = environ["wsgi.input"].read()
        else:
            body = self.rfile.read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        answer: list[Any] = []
        chunks: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answer[:] = [status, headers]
            return chunks.append

        try:
            result = self.server.app(environ, start_response)
            try:
                chunks.extend(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        except Exception:  # what werkzeug does too: a 500, and the traceback in the server's log
            self.log_error("error on request:\n%s", traceback.format_exc())
            answer[:] = ["500 Internal Server Error", [("Content-Type", "text/plain")]]
            chunks[:] = [b"Internal Server Error"]
        status, headers = answer
        code = int(status.split(None, 1)[0])
        self.send_response(code, status.split(None, 1)[1] if " " in status else "")
        for name, value in headers:
            self.send_header(name, value)
        content = b"".join(chunks)
        bodiless = self.command == "HEAD" or code < 200 or code in (204, 304)
        if not bodiless and "content-length" not in {name.lower() for name, _ in headers}:
            self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if not bodiless:
            self.wfile.write(content)
        self.wfile.flush()


class LocalEcr:
    """The strict ECR served over HTTP on localhost, in a background thread of this process."""

    def __init__(self, *, latency_seconds: float = 0.0, port: int = 0) -> None:
        self.strict = StrictEcr(DomainDispatcherApplication(create_backend_app), latency_seconds)
        self._server = make_server(
            "127.0.0.1", port, self.strict, threaded=True, request_handler=_KeepAliveRequestHandler
        )
        self.connections = 0
        """TCP connections accepted so far (a client that keeps its connections open opens few)."""
        self._connections_lock = threading.Lock()
        self._server.count_connection = self._count_connection  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _count_connection(self) -> None:
        with self._connections_lock:
            self.connections += 1

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> LocalEcr:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)

    def reset(self) -> None:
        """Empty every moto backend and forget calls, faults and pull times."""
        moto_api_backend.reset()
        self.strict.reset()

    def backdate(
        self, region: str, repository: str, digest: str, pushed_at: datetime, account: str = ACCOUNT_ID
    ) -> None:
        """Set an image's push time; moto stamps every push with 'now'."""
        for image in self.strict.repository(region, repository, account).images:
            if image.get_image_digest() == digest:
                image.image_pushed_at = int(pushed_at.timestamp())
                return
        raise KeyError(f"{repository}@{digest} not in {region}")

    def record_pull(
        self, region: str, repository: str, digest: str, pulled_at: datetime, account: str = ACCOUNT_ID
    ) -> None:
        self.strict.pull_times[(scope(account, region), repository, digest)] = pulled_at

    def archive(
        self, region: str, repository: str, digest: str, archived_at: datetime, account: str = ACCOUNT_ID
    ) -> None:
        """Put an image in the archive class as of `archived_at`, as if ECR had archived it then."""
        self.strict.repository(region, repository, account)
        self.strict.storage[(scope(account, region), repository, digest)] = StorageClass(
            "ARCHIVED", archived_at
        )

    def restored(
        self, region: str, repository: str, digest: str, activated_at: datetime, account: str = ACCOUNT_ID
    ) -> None:
        """Mark an image ACTIVE again, restored from the archive at `activated_at`."""
        state = self.strict.storage.setdefault((scope(account, region), repository, digest), StorageClass())
        state.status, state.last_activated_at = "ACTIVE", activated_at
