"""CDK context: defaults, overrides, and a clear error for each bad value."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from infra.settings import (
    CONTEXT_ALARM_EMAIL,
    CONTEXT_CONFIG,
    CONTEXT_FAN_OUT,
    CONTEXT_FAN_OUT_CONCURRENCY,
    CONTEXT_FAN_OUT_SLICE_SIZE,
    CONTEXT_SCHEDULE,
    CONTEXT_SCHEDULE_TIMEZONE,
    FanOutSettings,
    Settings,
    SettingsError,
    settings_from_context,
)


def _context(**values: object) -> dict[str, object]:
    return values


def test_context_keys_are_the_documented_ones() -> None:
    assert (CONTEXT_CONFIG, CONTEXT_SCHEDULE, CONTEXT_ALARM_EMAIL) == ("config", "schedule", "alarmEmail")


def test_defaults() -> None:
    assert settings_from_context(_context().get) == Settings(
        config_path=Path("ecr-janitor.yaml"), schedule="cron(0 3 * * ? *)", alarm_email=None
    )


def test_overrides() -> None:
    context = _context(config="other.yaml", schedule="rate(12 hours)", alarmEmail=" ops@example.com ")
    assert settings_from_context(context.get) == Settings(
        config_path=Path("other.yaml"), schedule="rate(12 hours)", alarm_email="ops@example.com"
    )


@pytest.mark.parametrize(
    "schedule", ["cron(0 3 * * ? *)", "cron(30 1 ? * MON-FRI *)", "rate(1 day)", "rate(6 hours)"]
)
def test_accepted_schedules(schedule: str) -> None:
    assert settings_from_context(_context(schedule=schedule).get).schedule == schedule


@pytest.mark.parametrize(
    "schedule", ["every night", "cron(0 3 * * *)", "rate(1 days)", "rate(0 hours)", "0 3 * * ? *"]
)
def test_refused_schedules(schedule: str) -> None:
    with pytest.raises(
        SettingsError, match=r"^context schedule=.* is not an EventBridge Scheduler schedule expression"
    ):
        settings_from_context(_context(schedule=schedule).get)


def test_refused_email() -> None:
    with pytest.raises(SettingsError, match="context alarmEmail='ops' is not an e-mail address"):
        settings_from_context(_context(alarmEmail="ops").get)


def test_refused_non_text() -> None:
    with pytest.raises(SettingsError, match="context config must be a string, not int"):
        settings_from_context(_context(config=3).get)


def test_fan_out_keys_are_the_documented_ones() -> None:
    assert (CONTEXT_FAN_OUT, CONTEXT_FAN_OUT_CONCURRENCY, CONTEXT_FAN_OUT_SLICE_SIZE) == (
        "fanOut",
        "fanOutConcurrency",
        "fanOutSliceSize",
    )


def test_fan_out_is_off_by_default() -> None:
    assert settings_from_context(_context().get).fan_out is None
    assert settings_from_context(_context(fanOut="false").get).fan_out is None
    assert settings_from_context(_context(fanOut=False).get).fan_out is None


@pytest.mark.parametrize("flag", ["true", " TRUE ", True])
def test_fan_out_on_with_defaults(flag: object) -> None:
    fan_out = settings_from_context(_context(fanOut=flag).get).fan_out
    assert fan_out == FanOutSettings(concurrency=4, slice_size=500)


@pytest.mark.parametrize(
    ("concurrency", "slice_size", "expected"),
    [
        ("8", "100", FanOutSettings(concurrency=8, slice_size=100)),
        (1, 1000, FanOutSettings(concurrency=1, slice_size=1000)),
    ],
)
def test_fan_out_concurrency_and_slice_size(
    concurrency: object, slice_size: object, expected: FanOutSettings
) -> None:
    context = _context(fanOut="true", fanOutConcurrency=concurrency, fanOutSliceSize=slice_size)
    assert settings_from_context(context.get).fan_out == expected


@pytest.mark.parametrize("flag", ["yes", "1", 1, "on"])
def test_refused_fan_out_flag(flag: object) -> None:
    with pytest.raises(SettingsError, match=r"^context fanOut=.* must be true or false$"):
        settings_from_context(_context(fanOut=flag).get)


@pytest.mark.parametrize(
    ("key", "value", "maximum"),
    [
        ("fanOutConcurrency", "0", 50),
        ("fanOutConcurrency", "51", 50),
        ("fanOutConcurrency", "four", 50),
        ("fanOutConcurrency", True, 50),
        ("fanOutConcurrency", 2.5, 50),
        ("fanOutSliceSize", "1001", 1000),
        ("fanOutSliceSize", "-5", 1000),
    ],
)
def test_refused_fan_out_numbers(key: str, value: object, maximum: int) -> None:
    with pytest.raises(
        SettingsError, match=rf"^context {key}=.* must be a whole number from 1 to {maximum}$"
    ):
        settings_from_context(_context(fanOut="true", **{key: value}).get)


@pytest.mark.parametrize("key", ["fanOutConcurrency", "fanOutSliceSize"])
def test_fan_out_numbers_need_the_flag(key: str) -> None:
    with pytest.raises(SettingsError, match=f"^context {key} applies only with fan-out: add -c fanOut=true$"):
        settings_from_context(_context(**{key: "8"}).get)


def test_the_time_zone_key_is_the_documented_one_and_utc_by_default() -> None:
    assert CONTEXT_SCHEDULE_TIMEZONE == "scheduleTimezone"
    assert settings_from_context(_context().get).schedule_timezone == "UTC"


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York", "Asia/Kolkata", "UTC", " Etc/UTC "])
def test_accepted_time_zones(zone: str) -> None:
    assert settings_from_context(_context(scheduleTimezone=zone).get).schedule_timezone == zone.strip()


@pytest.mark.parametrize("zone", ["CEST", "europe/berlin", "Mars/Olympus", "+02:00", "Europe/Berlin "[:-2]])
def test_refused_time_zones(zone: str) -> None:
    expected = rf"^context scheduleTimezone={re.escape(repr(zone))} is not an IANA time zone name"
    with pytest.raises(SettingsError, match=expected):
        settings_from_context(_context(scheduleTimezone=zone).get)
