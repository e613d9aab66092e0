"""The invocation events the function accepts. Anything else is refused before any AWS call."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Self

from aws_lambda_powertools.utilities.parser import ValidationError, parse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, NonNegativeInt, StrictBool, model_validator

from ecr_janitor.constants import ACCOUNT_ID_PATTERN
from ecr_janitor.core.references import REPOSITORY_NAME_PATTERN

RUN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$"
"""A Step Functions execution name limited to what is safe in an S3 key (runs/<runId>/...)."""
REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$"
STATE_MACHINE_ARN_PATTERN = r"^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[A-Za-z0-9_-]{1,80}$"
EXECUTION_ARN_PATTERN = r"^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:[A-Za-z0-9_-]{1,80}:\S{1,80}$"

ACCEPTED = (
    '{} or {"dryRun": true}; the fan-out state machine adds {"fanOut": {"step": "prepare" | "worker" | '
    '"summary", ...}}'
)


class InvalidEventError(ValueError):
    """The event can't be used; nothing was done."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class SliceRepository(_Strict):
    name: str = Field(min_length=2, max_length=256, pattern=REPOSITORY_NAME_PATTERN)
    arn: str = Field(max_length=1024)


class Slice(_Strict):
    """Repositories of one registry (one account's, in one region) that one worker invocation cleans."""

    region: str = Field(pattern=REGION_PATTERN)
    account: str | None = Field(default=None, pattern=ACCOUNT_ID_PATTERN)
    """The registry's account when the run cleans several (`accounts`); None: the function's own."""
    repositories: list[SliceRepository] = Field(min_length=1)

    @model_validator(mode="after")
    def _repositories_of_this_registry(self) -> Self:
        account = re.escape(self.account) if self.account else r"\d{12}"
        in_registry = rf"arn:aws[a-z-]*:ecr:{re.escape(self.region)}:{account}:repository/"
        where = f"{self.region}" + (f" of account {self.account}" if self.account else "")
        for repository in self.repositories:
            if not re.fullmatch(in_registry + re.escape(repository.name), repository.arn):
                raise ValueError(
                    f"repository {repository.name}: arn {repository.arn!r} is not that repository's ARN in "
                    f"{where}"
                )
        return self


class PrepareStep(_Strict):
    """List the covered repositories into slices and read what is in use, once for the whole run."""

    step: Literal["prepare"]
    run_id: str = Field(alias="runId", pattern=RUN_ID_PATTERN)
    started_at: AwareDatetime | None = Field(default=None, alias="startedAt")
    execution_arn: str | None = Field(default=None, alias="executionArn", pattern=EXECUTION_ARN_PATTERN)
    state_machine_arn: str | None = Field(
        default=None, alias="stateMachineArn", pattern=STATE_MACHINE_ARN_PATTERN
    )
    input: JanitorEvent | None = None
    """The execution's own input (what the schedule or a person started it with), checked like any event."""

    @model_validator(mode="after")
    def _input_is_a_plain_run(self) -> Self:
        if self.input is not None and self.input.fan_out is not None:
            raise ValueError(
                'the execution input can\'t itself hold fanOut; start it with {} or {"dryRun": true}'
            )
        return self


class WorkerStep(_Strict):
    """Clean exactly the repositories of one slice (one Distributed Map item)."""

    step: Literal["worker"]
    run_id: str = Field(alias="runId", pattern=RUN_ID_PATTERN)
    started_at: AwareDatetime | None = Field(default=None, alias="startedAt")
    """The run's start: every worker evaluates ages as of then (never later than its own clock)."""
    slice_index: NonNegativeInt = Field(alias="sliceIndex")
    slice: Slice


class MapResults(_Strict):
    """Where the Distributed Map's ResultWriter put its manifest; empty when the run had no slice."""

    manifest_key: str | None = Field(default=None, alias="manifestKey", max_length=1024)


class SummaryStep(_Strict):
    """Add up the workers' results and publish the run's metrics, once."""

    step: Literal["summary"]
    run_id: str = Field(alias="runId", pattern=RUN_ID_PATTERN)
    results: MapResults = Field(default_factory=MapResults)


FanOutStep = Annotated[PrepareStep | WorkerStep | SummaryStep, Field(discriminator="step")]


class JanitorEvent(BaseModel):
    """`{"dryRun": true}` forces a dry run. `false` changes nothing: only the config can allow deletions.

    The EventBridge envelope of a scheduled event is accepted and ignored. Unknown keys are refused,
    so that a misspelt `dryrun` can't silently run with deletions. `fanOut` is a step of the fan-out
    state machine (ecr_janitor.run.fanout); `dryRun: true` forces a dry run in every step as well.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    dry_run: StrictBool | None = Field(default=None, alias="dryRun")
    fan_out: FanOutStep | None = Field(default=None, alias="fanOut")
    version: str | None = None
    id: str | None = None
    detail_type: str | None = Field(default=None, alias="detail-type")
    source: str | None = None
    account: str | None = None
    time: str | None = None
    region: str | None = None
    resources: list[str] | None = None
    detail: dict[str, Any] | None = None

    @property
    def forces_dry_run(self) -> bool:
        """The event, or (fan-out prepare) the execution input it carries, asked for a dry run."""
        if self.dry_run is True:
            return True
        step = self.fan_out
        return isinstance(step, PrepareStep) and step.input is not None and step.input.forces_dry_run


PrepareStep.model_rebuild()


def parse_event(event: object) -> JanitorEvent:
    if event is None:
        return JanitorEvent()
    if not isinstance(event, dict):
        raise InvalidEventError(f"the event must be a JSON object, not {type(event).__name__}")
    try:
        return parse(event=event, model=JanitorEvent)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'event'}: {e['msg']}" for e in error.errors())
        raise InvalidEventError(
            f"invalid event ({problems}); accepted: {ACCEPTED}; nothing was done"
        ) from None
