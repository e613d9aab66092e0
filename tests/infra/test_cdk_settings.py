"""CDK context: defaults, overrides, and a clear error for each bad value."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from infra.settings import (
    CONTEXT_ALARM_EMAIL,
    CONTEXT_CONFIG,
    CONTEXT_EKS_CLUSTERS,
    CONTEXT_FAN_OUT,
    CONTEXT_FAN_OUT_CONCURRENCY,
    CONTEXT_FAN_OUT_SLICE_SIZE,
    CONTEXT_SCHEDULE,
    CONTEXT_SCHEDULE_TIMEZONE,
    CONTEXT_VPC_SECURITY_GROUPS,
    CONTEXT_VPC_SUBNETS,
    FanOutSettings,
    Settings,
    SettingsError,
    VpcSettings,
    check_against_config,
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


# -- EKS access entries and the VPC ----------------------------------------------------------------------


def test_eks_and_vpc_keys_are_the_documented_ones() -> None:
    assert (CONTEXT_EKS_CLUSTERS, CONTEXT_VPC_SUBNETS, CONTEXT_VPC_SECURITY_GROUPS) == (
        "eksClusters",
        "vpcSubnets",
        "vpcSecurityGroups",
    )


def test_no_access_entries_and_no_vpc_by_default() -> None:
    settings = settings_from_context(_context().get)
    assert (settings.eks_clusters, settings.vpc) == ((), None)


def test_eks_clusters_and_a_vpc() -> None:
    context = _context(
        eksClusters="prod, staging_2",
        vpcSubnets="subnet-0a1b2c3d,subnet-0123456789abcdef0",
        vpcSecurityGroups="sg-0123456789abcdef0",
    )
    settings = settings_from_context(context.get)
    assert settings.eks_clusters == ("prod", "staging_2")
    assert settings.vpc == VpcSettings(
        subnets=("subnet-0a1b2c3d", "subnet-0123456789abcdef0"), security_groups=("sg-0123456789abcdef0",)
    )


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"eksClusters": "prod,-bad"}, "context eksClusters: '-bad' is not an EKS cluster name"),
        ({"eksClusters": "prod,,x"}, "context eksClusters: '' is not an EKS cluster name"),
        ({"eksClusters": "prod,prod"}, "context eksClusters: prod listed more than once"),
        ({"eksClusters": 3}, "context eksClusters must be a string, not int"),
        (
            {"vpcSubnets": "subnet-zz", "vpcSecurityGroups": "sg-0a1b2c3d"},
            r"context vpcSubnets: 'subnet-zz' is not a subnet id \(subnet-…\)",
        ),
        (
            {"vpcSubnets": "subnet-0a1b2c3d", "vpcSecurityGroups": "sg-0a1b2c3d,vpc-0a1b2c3d"},
            r"context vpcSecurityGroups: 'vpc-0a1b2c3d' is not a security group id \(sg-…\)",
        ),
        ({"vpcSubnets": "subnet-0a1b2c3d"}, "context vpcSubnets and vpcSecurityGroups go together"),
        ({"vpcSecurityGroups": "sg-0a1b2c3d"}, "context vpcSubnets and vpcSecurityGroups go together"),
        (
            {
                "vpcSubnets": ",".join(f"subnet-{n:08x}" for n in range(17)),
                "vpcSecurityGroups": "sg-0a1b2c3d",
            },
            "context vpcSubnets: at most 16, not 17",
        ),
        (
            {"vpcSubnets": "subnet-0a1b2c3d", "vpcSecurityGroups": ",".join(f"sg-{n:08x}" for n in range(6))},
            "context vpcSecurityGroups: at most 5, not 6",
        ),
    ],
)
def test_refused_eks_and_vpc_values(context: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError, match=f"^{message}"):
        settings_from_context(context.get)


def test_access_entries_for_a_config_that_reads_no_cluster_are_refused() -> None:
    settings = settings_from_context(_context(eksClusters="prod").get)
    check_against_config(settings, reads_eks=True)
    with pytest.raises(
        SettingsError, match=r"^context eksClusters grants access to EKS clusters, but the config"
    ):
        check_against_config(settings, reads_eks=False)
    check_against_config(settings_from_context(_context().get), reads_eks=False)


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
