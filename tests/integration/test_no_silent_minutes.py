"""No silent minutes: an unreachable endpoint or missing credentials say so within seconds, retries are
visible as they start, and a long CLI run shows its progress on stderr without touching stdout."""

from __future__ import annotations

import io
import json
import os
import selectors
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
import yaml

from devtools.local_ecr import Fault, LocalEcr
from devtools.seed import Seeder
from ecr_janitor.adapters import clients
from ecr_janitor.cli import main
from ecr_janitor.outputs import progress as progress_module
from ecr_janitor.outputs.progress import ProgressPrinter, RegionProgress
from tests.factories import config_document

ROOT = Path(__file__).resolve().parents[2]


def _config(tmp_path: Path, *, workers: int = 16) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({**config_document(), "execution": {"workers": workers}}))
    return path


def _closed_port() -> int:
    """A local port nothing listens on: connecting is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# -- timeouts and the retry warning -----------------------------------------------------------------


def test_clients_give_up_connecting_after_seconds_not_a_minute() -> None:
    client = clients.client("ecr", "us-east-1")
    assert client.meta.config.connect_timeout == clients.CONNECT_TIMEOUT_SECONDS == 5
    assert client.meta.config.read_timeout == clients.READ_TIMEOUT_SECONDS == 60
    # botocore reads max_attempts as retries: the first attempt and ten more.
    assert client.meta.config.retries == {"mode": "adaptive", "total_max_attempts": 11}


def test_an_unreachable_endpoint_is_reported_within_seconds(tmp_path: Path) -> None:
    """The CLI against an endpoint that refuses connections: a warning on stderr at the first retry, long
    before botocore's ten attempts per call are spent."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "lambda"),
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{_closed_port()}",
    }
    started = time.monotonic()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ecr_janitor",
            "plan",
            "--config",
            str(_config(tmp_path)),
            "--log-level",
            "WARNING",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    warning = ""
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(process.stderr, selectors.EVENT_READ)
            while time.monotonic() - started < 15 and not warning:
                if selector.select(timeout=1):
                    line = process.stderr.readline()
                    if "retrying" in line:
                        warning = line
    finally:
        process.kill()
        process.wait()
    elapsed = time.monotonic() - started
    assert warning, "no retry warning within 15 s"
    assert elapsed < 10
    record = json.loads(warning)
    assert record["level"] == "WARNING"
    assert record["event"] == "aws_retry"
    assert "EndpointConnectionError" in record["message"]
    assert "(up to 10 retries)" in record["message"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_first_retry_warns_then_at_most_once_a_minute_per_client(
    local_ecr: LocalEcr, seeder: Seeder, instant_retries: None, capsys: pytest.CaptureFixture[str]
) -> None:
    seeder.repository("team/api")
    clock = Clock()
    ecr = boto3.client("ecr", region_name="us-east-1", config=clients.CLIENT_CONFIG)
    clients.RetryWatch("ecr", "us-east-1", clock=clock).attach(ecr)

    def throttled_call() -> str:
        local_ecr.strict.faults.append(Fault("DescribeRepositories", "ThrottlingException", "slow down"))
        ecr.describe_repositories()
        return capsys.readouterr().err

    first = throttled_call()
    assert "ecr us-east-1: retrying DescribeRepositories after ThrottlingException: slow down" in first
    clock.now += 30
    assert "retrying" not in throttled_call()  # a minute hasn't passed
    clock.now += 31
    assert "1 more call(s) were retried since the last warning" in throttled_call()
    ecr.describe_repositories()
    assert "retrying" not in capsys.readouterr().err  # no retry, no warning


def test_a_call_that_succeeds_at_once_warns_nothing(
    local_ecr: LocalEcr, seeder: Seeder, capsys: pytest.CaptureFixture[str]
) -> None:
    seeder.repository("team/api")
    clients.client("ecr", "us-east-1").describe_repositories()
    assert "retrying" not in capsys.readouterr().err


# -- credentials ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["plan", "run"])
def test_missing_credentials_are_one_line_and_exit_2_before_any_call(
    tmp_path: Path,
    local_ecr: LocalEcr,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    assert main([command, "--config", str(_config(tmp_path))]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "no AWS credentials found: set AWS_PROFILE (after `aws sso login` if it is an SSO profile) or "
        "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; nothing was done\n"
    )
    assert local_ecr.strict.count() == 0


def test_with_credentials_the_same_command_runs(
    tmp_path: Path, local_ecr: LocalEcr, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", "--config", str(_config(tmp_path))]) == 0
    assert local_ecr.strict.count("DescribeRepositories") == 1


# -- progress -------------------------------------------------------------------------------------------


def test_progress_goes_to_stderr_and_json_stdout_stays_one_document(
    tmp_path: Path,
    local_ecr: LocalEcr,
    seeder: Seeder,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for n in range(5):
        seeder.repository(f"team/app-{n}")
    monkeypatch.setattr(progress_module, "PROGRESS_INTERVAL_SECONDS", 0.0)
    config = _config(tmp_path, workers=1)  # one at a time: repositories finish while the listing goes on
    assert main(["plan", "--config", str(config), "--json", "--progress", "--log-level", "WARNING"]) == 0
    out, err = capsys.readouterr()
    assert len(json.loads(out)["repositories"]) == 5  # the whole of stdout is the one JSON document
    lines = err.splitlines()
    assert lines[-1] == "us-east-1: 5/5 repositories, done"
    assert "us-east-1: 1 repositories done, still listing" in lines


def test_no_progress_when_stderr_is_not_a_terminal_unless_asked(
    tmp_path: Path, local_ecr: LocalEcr, seeder: Seeder, capsys: pytest.CaptureFixture[str]
) -> None:
    seeder.repository("team/api")
    config = _config(tmp_path)
    assert main(["plan", "--config", str(config), "--log-level", "WARNING"]) == 0
    assert "repositories" not in capsys.readouterr().err
    assert main(["plan", "--config", str(config), "--log-level", "WARNING", "--progress"]) == 0
    assert "us-east-1: 1/1 repositories, done" in capsys.readouterr().err


def test_the_printer_prints_every_interval_and_always_the_last_line() -> None:
    clock, stream = Clock(), io.StringIO()
    printer = ProgressPrinter(stream, interval=5.0, clock=clock)
    printer(RegionProgress("eu-west-1", 1, None))
    for done in range(2, 50):
        clock.now += 0.1
        printer(RegionProgress("eu-west-1", done, None))
    clock.now += 1
    printer(RegionProgress("eu-west-1", 80, 120))  # 5.9 s after the first line
    printer(RegionProgress("eu-west-1", 120, 120))
    printer(RegionProgress("eu-west-1", 120, 120))  # the run's closing word repeats the last one
    printer(RegionProgress("us-east-1", 0, 0))
    assert stream.getvalue().splitlines() == [
        "eu-west-1: 1 repositories done, still listing",
        "eu-west-1: 80/120 repositories",
        "eu-west-1: 120/120 repositories, done",
        "us-east-1: 0/0 repositories, done",
    ]
