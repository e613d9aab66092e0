"""What a deployment can change without editing code: the CDK context keys, their defaults, their checks.

    npx cdk deploy -c config=other.yaml -c schedule="cron(0 3 * * ? *)" -c alarmEmail=me@example.com

A bad value stops `cdk synth` with one clear line, before anything is built.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

CONTEXT_CONFIG = "config"
CONTEXT_SCHEDULE = "schedule"
CONTEXT_ALARM_EMAIL = "alarmEmail"

DEFAULT_CONFIG_PATH = "ecr-janitor.yaml"
DEFAULT_SCHEDULE = "cron(0 3 * * ? *)"
"""Every night at 03:00 UTC: EventBridge evaluates schedules in UTC."""

# EventBridge's two schedule forms: cron with six fields, or rate with a positive whole number and a unit.
_CRON = re.compile(r"^cron\(\S+( \S+){5}\)$")
_RATE = re.compile(r"^rate\((1 (minute|hour|day)|([2-9]|[1-9]\d+) (minutes|hours|days))\)$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class SettingsError(ValueError):
    """A context value can't be used; the message names the key and what it accepts."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Settings:
    config_path: Path
    schedule: str
    alarm_email: str | None


def settings_from_context(get: Callable[[str], object]) -> Settings:
    """Read and check the context; `get` is `app.node.try_get_context`."""
    config = _text(get, CONTEXT_CONFIG) or DEFAULT_CONFIG_PATH
    schedule = _text(get, CONTEXT_SCHEDULE) or DEFAULT_SCHEDULE
    if not (_CRON.fullmatch(schedule) or _RATE.fullmatch(schedule)):
        raise SettingsError(
            f"context {CONTEXT_SCHEDULE}={schedule!r} is not an EventBridge schedule expression; "
            'use cron(minutes hours day-of-month month day-of-week year), e.g. "cron(0 3 * * ? *)", '
            'or rate(value unit), e.g. "rate(12 hours)"'
        )
    email = _text(get, CONTEXT_ALARM_EMAIL)
    if email is not None and not _EMAIL.fullmatch(email):
        raise SettingsError(f"context {CONTEXT_ALARM_EMAIL}={email!r} is not an e-mail address")
    return Settings(config_path=Path(config), schedule=schedule, alarm_email=email)


def _text(get: Callable[[str], object], key: str) -> str | None:
    value = get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise SettingsError(f"context {key} must be a string, not {type(value).__name__}")
    return value.strip() or None
