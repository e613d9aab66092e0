"""The run bucket: what one fan-out step hands to the next, under runs/<runId>/, and what one run leaves
for the next under state/. The states themselves carry only small documents (Step Functions allows
256 KB per state), so the limits on what travels in them are here too."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import IO, Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict

from ecr_janitor.adapters.clients import error_code
from ecr_janitor.constants import RUNS_PREFIX, STATE_PREFIX
from ecr_janitor.core.model import SourceFailure
from ecr_janitor.core.references import ImageReference, InUseSnapshot

SLICES = "slices.json"
IN_USE = "in-use.json"
RUN = "run.json"
SUMMARY = "summary.json"
RESULTS = "results"
"""The Distributed Map's ResultWriter prefix: runs/<runId>/results/<map run id>/manifest.json."""
DEFERRED_KEY = f"{STATE_PREFIX}deferred.json"
"""Region -> repositories the last run's workers ran out of time for; the next run gives them own slices."""

MAX_SLICE_BYTES = 96 * 1024
"""A slice travels in its worker's event, and its deferred names may come back in the worker's result:
both must stay well inside Step Functions' 256 KB per state, also with 256-character names."""
MAX_LISTED = 50
"""Failures listed in a step's result (all are counted, and logged); the rest are in summary.json."""
MAX_MESSAGE = 500


class SliceEntry(BaseModel):
    """One slice as run.json lists it (prepare writes it, the summary reads it): whose registry, which
    region, how many repositories."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    region: str
    repositories: int
    account: str | None = None
    """The registry's account, when the run names it (None: the credentials' own)."""


class RunStore:
    """The run bucket: runs/<runId>/... for this run, state/ for what the next run starts with."""

    def __init__(self, client: Any, bucket: str, run_id: str) -> None:
        self._client = client
        self.bucket = bucket
        self.run_id = run_id

    @property
    def prefix(self) -> str:
        return f"{RUNS_PREFIX}{self.run_id}/"

    def key(self, name: str) -> str:
        return self.prefix + name

    def owns(self, key: str) -> bool:
        return key.startswith(self.prefix) and ".." not in key.split("/")

    def put_json(self, key: str, document: Any) -> None:
        body = json.dumps(document, separators=(",", ":"), default=str).encode()
        self._client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")

    def put_file(self, key: str, file: IO[bytes]) -> None:
        file.seek(0)
        self._client.put_object(Bucket=self.bucket, Key=key, Body=file, ContentType="application/json")

    def get_json(self, key: str) -> Any:
        body = self._client.get_object(Bucket=self.bucket, Key=key)["Body"]
        return json.loads(body.read())

    def carried_over(self) -> dict[str, set[str]]:
        """What the last run deferred; empty when there was no run yet."""
        try:
            document = self.get_json(DEFERRED_KEY)
        except ClientError as error:
            if error_code(error) in ("NoSuchKey", "404"):
                return {}
            raise
        if not isinstance(document, dict):
            return {}
        return {
            str(region): {str(n) for n in names}
            for region, names in document.items()
            if isinstance(names, list)
        }

    def carry_over(self, deferred: Mapping[str, Sequence[str]]) -> None:
        self.put_json(DEFERRED_KEY, {region: sorted(names) for region, names in deferred.items() if names})

    def put_in_use(self, snapshot: InUseSnapshot) -> None:
        self.put_json(
            self.key(IN_USE),
            {
                "references": [asdict(reference) for reference in snapshot.references],
                "failures": [asdict(failure) for failure in snapshot.failures],
            },
        )

    def in_use_for(self, repositories: set[str]) -> InUseSnapshot:
        """The part of the run's snapshot one slice needs: the references to its repositories, and every
        source failure (each one withholds deletions everywhere)."""
        document = self.get_json(self.key(IN_USE))
        return InUseSnapshot(
            references=[
                ImageReference(**reference)
                for reference in document["references"]
                if reference["repository"] in repositories
            ],
            failures=[SourceFailure(**failure) for failure in document["failures"]],
        )
