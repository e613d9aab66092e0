"""The invocation events the function accepts. Anything else is refused before any AWS call."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import ValidationError, parse
from pydantic import BaseModel, ConfigDict, Field, StrictBool


class InvalidEventError(ValueError):
    """The event can't be used; nothing was done."""


class JanitorEvent(BaseModel):
    """`{"dryRun": true}` forces a dry run. `false` changes nothing: only the config can allow deletions.

    The EventBridge envelope of a scheduled event is accepted and ignored. Unknown keys are refused,
    so that a misspelt `dryrun` can't silently run with deletions.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    dry_run: StrictBool | None = Field(default=None, alias="dryRun")
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
        return self.dry_run is True


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
            f'invalid event ({problems}); accepted: {{}} or {{"dryRun": true}}; nothing was done'
        ) from None
