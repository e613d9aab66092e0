"""The clients' timestamp parser gives what botocore's own gives: the same instant, the same offset, the
same text, in any local time zone; only the time zone object is a cheaper one."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timezone
from typing import Any

import botocore.utils
import pytest

from ecr_janitor.adapters.parsing import parse_timestamp

VALUES: list[Any] = [
    0,
    1_700_000_000,
    1_700_000_000.123456,
    1_751_300_000.5,  # summer time where there is one
    "1700000000",
    "1735689600.25",
    "2026-12-03T17:11:11Z",
    "2026-07-03T17:11:11.120+02:00",
    "Wed, 03 Dec 2026 17:11:11 GMT",
]


@pytest.fixture(params=["UTC", "Europe/Berlin", "America/St_Johns"])
def local_zone(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    yield request.param
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("value", VALUES)
def test_the_same_datetime_as_botocore_in_any_local_time_zone(local_zone: str, value: Any) -> None:
    ours, botocores = parse_timestamp(value), botocore.utils.parse_timestamp(value)
    assert ours == botocores
    assert ours.utcoffset() == botocores.utcoffset()
    assert ours.isoformat() == botocores.isoformat()


def test_epochs_get_a_c_time_zone_not_dateutils(local_zone: str) -> None:
    assert type(parse_timestamp(1_700_000_000).tzinfo) is timezone
    assert type(botocore.utils.parse_timestamp(1_700_000_000).tzinfo) is not timezone


def test_times_at_the_same_offset_share_their_time_zone(local_zone: str) -> None:
    """So that sorting and comparing them never asks the zone for an offset."""
    assert parse_timestamp(1_700_000_000).tzinfo is parse_timestamp("1700003600.5").tzinfo


def test_what_botocore_refuses_is_refused() -> None:
    with pytest.raises(ValueError, match="Invalid timestamp"):
        parse_timestamp("not a time")
