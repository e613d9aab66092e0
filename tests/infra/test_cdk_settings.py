"""CDK context: defaults, overrides, and a clear error for each bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.settings import (
    CONTEXT_ALARM_EMAIL,
    CONTEXT_CONFIG,
    CONTEXT_SCHEDULE,
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
        SettingsError, match=r"^context schedule=.* is not an EventBridge schedule expression"
    ):
        settings_from_context(_context(schedule=schedule).get)


def test_refused_email() -> None:
    with pytest.raises(SettingsError, match="context alarmEmail='ops' is not an e-mail address"):
        settings_from_context(_context(alarmEmail="ops").get)


def test_refused_non_text() -> None:
    with pytest.raises(SettingsError, match="context config must be a string, not int"):
        settings_from_context(_context(config=3).get)
