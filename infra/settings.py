"""What a deployment can change without editing code: the CDK context keys, their defaults, their checks.

    npx cdk deploy EcrJanitor -c config=other.yaml -c schedule="cron(0 3 * * ? *)" -c scheduleTimezone=UTC
    npx cdk deploy EcrJanitor -c alarmEmail=me@example.com
    npx cdk deploy EcrJanitor -c fanOut=true -c fanOutConcurrency=4 -c fanOutSliceSize=500
    npx cdk deploy EcrJanitor -c eksClusters=prod -c vpcSubnets=subnet-0a1b -c vpcSecurityGroups=sg-0a1b

A bad value stops `cdk synth` with one clear line, before anything is built.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ecr_janitor.config import EKS_CLUSTER_NAME
from ecr_janitor.constants import FANOUT_DEFAULT_CONCURRENCY, FANOUT_DEFAULT_SLICE_SIZE

CONTEXT_CONFIG = "config"
CONTEXT_SCHEDULE = "schedule"
CONTEXT_SCHEDULE_TIMEZONE = "scheduleTimezone"
CONTEXT_ALARM_EMAIL = "alarmEmail"
CONTEXT_FAN_OUT = "fanOut"
CONTEXT_FAN_OUT_CONCURRENCY = "fanOutConcurrency"
CONTEXT_FAN_OUT_SLICE_SIZE = "fanOutSliceSize"
CONTEXT_EKS_CLUSTERS = "eksClusters"
CONTEXT_VPC_SUBNETS = "vpcSubnets"
CONTEXT_VPC_SECURITY_GROUPS = "vpcSecurityGroups"

DEFAULT_CONFIG_PATH = "ecr-janitor.yaml"
DEFAULT_SCHEDULE = "cron(0 3 * * ? *)"
"""Every night at 03:00 in the schedule's time zone."""
DEFAULT_SCHEDULE_TIMEZONE = "UTC"
"""EventBridge Scheduler takes any IANA time zone name and follows its daylight saving time."""

# Scheduler's recurring forms: cron with six fields, or rate with a positive whole number and a unit.
_CRON = re.compile(r"^cron\(\S+( \S+){5}\)$")
_RATE = re.compile(r"^rate\((1 (minute|hour|day)|([2-9]|[1-9]\d+) (minutes|hours|days))\)$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

DEFAULT_FAN_OUT_CONCURRENCY = FANOUT_DEFAULT_CONCURRENCY
"""Workers (Lambda invocations) running at once. Each runs its own pool of `execution.workers` threads
against the same regional ECR rate limits, so the function gives each worker 1/N of the config's
`execution.maxRequestsPerSecond`: together they never ask ECR for more than one invocation would.
Fan-out is for coverage (no 15-minute ceiling), not for more requests per second. Four keeps that
shared budget busy even when single calls are slow (large DescribeImages pages, BatchDeleteImage),
costs 5 of the account's concurrent executions (reserved: N + 1), and a failing slice holds up little."""
MAX_FAN_OUT_CONCURRENCY = 50
"""Reserved concurrency (N + 1) comes out of the account's pool (1000 by default, 100 must stay
unreserved); past a few dozen, each worker's share of the request rate is too small to be useful."""
DEFAULT_FAN_OUT_SLICE_SIZE = FANOUT_DEFAULT_SLICE_SIZE
"""Repositories per worker invocation. At the default 150 requests a second shared by 4 workers, a
worker gets ~37 a second: 500 ordinary repositories (2-3 calls each) take well under the 13 minutes a
worker may spend (the 15-minute timeout minus execution.reserveSeconds). Repositories it doesn't
reach are deferred, reported, and get a slice of their own in the next run."""
MAX_FAN_OUT_SLICE_SIZE = 1000
"""A slice travels in the worker's event (Step Functions: 256 KB per state); the function also caps
each slice at 96 KB of JSON, which binds first with long repository names."""


_SUBNET = re.compile(r"^subnet-([0-9a-f]{8}|[0-9a-f]{17})$")
_SECURITY_GROUP = re.compile(r"^sg-([0-9a-f]{8}|[0-9a-f]{17})$")
MAX_VPC_SUBNETS = 16
MAX_VPC_SECURITY_GROUPS = 5
"""Lambda's VpcConfig limits: 16 subnets, 5 security groups."""


class SettingsError(ValueError):
    """A context value can't be used; the message names the key and what it accepts."""


@dataclass(frozen=True, kw_only=True, slots=True)
class FanOutSettings:
    """The opt-in Step Functions fan-out (infra/fanout.py): how many workers at once, how many
    repositories each."""

    concurrency: int = DEFAULT_FAN_OUT_CONCURRENCY
    slice_size: int = DEFAULT_FAN_OUT_SLICE_SIZE


@dataclass(frozen=True, kw_only=True, slots=True)
class VpcSettings:
    """The function's own network interfaces in these subnets, with these security groups: to reach
    EKS clusters whose API endpoint is private. Taken as given (no lookups): synth stays offline."""

    subnets: tuple[str, ...]
    security_groups: tuple[str, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class Settings:
    config_path: Path
    schedule: str
    alarm_email: str | None
    schedule_timezone: str = DEFAULT_SCHEDULE_TIMEZONE
    fan_out: FanOutSettings | None = None
    """None: the nightly run is one invocation (the default)."""
    eks_clusters: tuple[str, ...] = ()
    """Clusters of the stack's region where the stack gives the function's role read access (an EKS
    access entry with AmazonEKSViewPolicy)."""
    vpc: VpcSettings | None = None
    """None: the function runs outside any VPC (the default)."""


def settings_from_context(get: Callable[[str], object]) -> Settings:
    """Read and check the context; `get` is `app.node.try_get_context`."""
    config = _text(get, CONTEXT_CONFIG) or DEFAULT_CONFIG_PATH
    schedule = _text(get, CONTEXT_SCHEDULE) or DEFAULT_SCHEDULE
    if not (_CRON.fullmatch(schedule) or _RATE.fullmatch(schedule)):
        raise SettingsError(
            f"context {CONTEXT_SCHEDULE}={schedule!r} is not an EventBridge Scheduler schedule expression; "
            'use cron(minutes hours day-of-month month day-of-week year), e.g. "cron(0 3 * * ? *)", '
            'or rate(value unit), e.g. "rate(12 hours)"'
        )
    email = _text(get, CONTEXT_ALARM_EMAIL)
    if email is not None and not _EMAIL.fullmatch(email):
        raise SettingsError(f"context {CONTEXT_ALARM_EMAIL}={email!r} is not an e-mail address")
    return Settings(
        config_path=Path(config),
        schedule=schedule,
        alarm_email=email,
        schedule_timezone=_time_zone(get),
        fan_out=_fan_out(get),
        eks_clusters=_names(get, CONTEXT_EKS_CLUSTERS, EKS_CLUSTER_NAME, "an EKS cluster name", maximum=None),
        vpc=_vpc(get),
    )


def check_against_config(settings: Settings, *, reads_eks: bool) -> None:
    """Context values that would do nothing with this config are a mistake worth stopping for."""
    if settings.eks_clusters and not reads_eks:
        raise SettingsError(
            f"context {CONTEXT_EKS_CLUSTERS} grants access to EKS clusters, but the config reads none "
            "(protect.eks is off, or protect.inUse is false)"
        )


def _vpc(get: Callable[[str], object]) -> VpcSettings | None:
    subnets = _names(get, CONTEXT_VPC_SUBNETS, _SUBNET, "a subnet id (subnet-…)", maximum=MAX_VPC_SUBNETS)
    groups = _names(
        get,
        CONTEXT_VPC_SECURITY_GROUPS,
        _SECURITY_GROUP,
        "a security group id (sg-…)",
        maximum=MAX_VPC_SECURITY_GROUPS,
    )
    if bool(subnets) != bool(groups):
        raise SettingsError(
            f"context {CONTEXT_VPC_SUBNETS} and {CONTEXT_VPC_SECURITY_GROUPS} go together: "
            "a function in a VPC needs both"
        )
    return VpcSettings(subnets=subnets, security_groups=groups) if subnets else None


def _names(
    get: Callable[[str], object], key: str, pattern: re.Pattern[str], what: str, *, maximum: int | None
) -> tuple[str, ...]:
    """A comma-separated list (`-c key=a,b`), each entry checked; empty when the key is not set."""
    text = _text(get, key)
    if text is None:
        return ()
    names = tuple(name.strip() for name in text.split(","))
    bad = [name for name in names if not pattern.fullmatch(name)]
    if bad:
        raise SettingsError(f"context {key}: {', '.join(map(repr, bad))} is not {what}")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise SettingsError(f"context {key}: {', '.join(repeated)} listed more than once")
    if maximum is not None and len(names) > maximum:
        raise SettingsError(f"context {key}: at most {maximum}, not {len(names)}")
    return names


def _time_zone(get: Callable[[str], object]) -> str:
    """An IANA time zone name, checked offline against this machine's time zone database (zoneinfo)."""
    name = _text(get, CONTEXT_SCHEDULE_TIMEZONE) or DEFAULT_SCHEDULE_TIMEZONE
    if name == DEFAULT_SCHEDULE_TIMEZONE:
        return name
    known = zoneinfo.available_timezones()
    if not known:
        raise SettingsError(
            f"context {CONTEXT_SCHEDULE_TIMEZONE}={name!r} can't be checked: this machine has no IANA time "
            "zone database (install the OS package or the Python package tzdata)"
        )
    if name not in known:
        raise SettingsError(
            f"context {CONTEXT_SCHEDULE_TIMEZONE}={name!r} is not an IANA time zone name; "
            'use e.g. "Europe/Berlin", "America/New_York" or "UTC" (names are case-sensitive)'
        )
    return name


def _fan_out(get: Callable[[str], object]) -> FanOutSettings | None:
    concurrency = _whole_number(get, CONTEXT_FAN_OUT_CONCURRENCY, MAX_FAN_OUT_CONCURRENCY)
    slice_size = _whole_number(get, CONTEXT_FAN_OUT_SLICE_SIZE, MAX_FAN_OUT_SLICE_SIZE)
    if not _flag(get, CONTEXT_FAN_OUT):
        for key, value in (
            (CONTEXT_FAN_OUT_CONCURRENCY, concurrency),
            (CONTEXT_FAN_OUT_SLICE_SIZE, slice_size),
        ):
            if value is not None:
                raise SettingsError(f"context {key} applies only with fan-out: add -c {CONTEXT_FAN_OUT}=true")
        return None
    return FanOutSettings(
        concurrency=DEFAULT_FAN_OUT_CONCURRENCY if concurrency is None else concurrency,
        slice_size=DEFAULT_FAN_OUT_SLICE_SIZE if slice_size is None else slice_size,
    )


def _flag(get: Callable[[str], object], key: str) -> bool:
    """`-c key=true` arrives as the string "true"; cdk.json may hold a JSON boolean."""
    value = get(key)
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().lower() if isinstance(value, str) else None
    if text in ("true", "false"):
        return text == "true"
    raise SettingsError(f"context {key}={value!r} must be true or false")


def _whole_number(get: Callable[[str], object], key: str, maximum: int) -> int | None:
    value = get(key)
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        number: object = int(value.strip())
    else:
        number = value
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= maximum:
        raise SettingsError(f"context {key}={value!r} must be a whole number from 1 to {maximum}")
    return number


def _text(get: Callable[[str], object], key: str) -> str | None:
    value = get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise SettingsError(f"context {key} must be a string, not {type(value).__name__}")
    return value.strip() or None
