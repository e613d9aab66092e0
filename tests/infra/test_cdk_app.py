"""app.py as `cdk synth` runs it: the config is validated first, context is honoured, nothing is left
behind, and cdk-nag runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.infra.cdk_support import MINIMAL_CONFIG, ROOT

INVALID_CONFIG = """\
dryRun: maybe
targets:
  - repositories: ["*"]
    mode: retain
    policy:
      rules:
        - rulePriority: 1
          selection: {tagStatus: untagged, countType: sinceImagePushed, countNumber: 14}
          action: {type: expire}
"""


def _run_app(tmp_path: Path, **context: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Run app.py the way the CDK CLI does: context and output directory through the environment."""
    outdir = tmp_path / "cdk.out"
    scratch = tmp_path / "tmp"
    scratch.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "CDK_CONTEXT_JSON": json.dumps(context),
        "CDK_OUTDIR": str(outdir),
        "TMPDIR": str(scratch),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    env.pop("PYTHONPATH", None)  # app.py finds lambda/ and infra/ itself
    result = subprocess.run(
        [sys.executable, str(ROOT / "app.py")],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    return result, outdir


def _validate_cli(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ecr_janitor", "validate", "--config", str(config)],
        env={**os.environ, "PYTHONPATH": str(ROOT / "lambda")},
        capture_output=True,
        text=True,
        check=False,
    )


def test_invalid_config_fails_synth_with_the_cli_message(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(INVALID_CONFIG)
    result, outdir = _run_app(tmp_path, config=str(config))
    cli = _validate_cli(config)
    assert (result.returncode, cli.returncode) == (2, 2)
    assert result.stderr == cli.stderr
    assert result.stderr.startswith(f"invalid config {config}: 2 problem(s)\n")
    assert "  - dryRun: Input should be a valid boolean\n" in result.stderr
    assert "countUnit is required with countType sinceImagePushed" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (outdir / "EcrJanitor.template.json").exists()


def test_missing_config_file_fails_synth(tmp_path: Path) -> None:
    result, _ = _run_app(tmp_path, config=str(tmp_path / "nowhere.yaml"))
    assert result.returncode == 2
    assert result.stderr == (
        f"invalid config {tmp_path / 'nowhere.yaml'}: can't read the file: No such file or directory\n"
    )


def test_a_repeated_key_fails_synth_with_the_cli_message(tmp_path: Path) -> None:
    config = tmp_path / "repeated.json"
    config.write_text(json.dumps(MINIMAL_CONFIG)[:-1] + ', "dryRun": true, "dryRun": false}')
    result, outdir = _run_app(tmp_path, config=str(config))
    cli = _validate_cli(config)
    assert (result.returncode, cli.returncode) == (2, 2)
    assert (
        result.stderr
        == cli.stderr
        == (
            f"invalid config {config}: key 'dryRun' appears twice in one object; "
            "a repeated key would hide the first value\n"
        )
    )
    assert not (outdir / "EcrJanitor.template.json").exists()


def test_invalid_context_fails_synth(tmp_path: Path) -> None:
    result, _ = _run_app(tmp_path, schedule="nightly")
    assert result.returncode == 2
    assert result.stderr.startswith(
        "context schedule='nightly' is not an EventBridge Scheduler schedule expression"
    )
    assert "Traceback" not in result.stderr


def test_synth_with_context_runs_cdk_nag_and_leaves_nothing_behind(tmp_path: Path) -> None:
    config = tmp_path / "janitor.json"
    config.write_text(json.dumps({**MINIMAL_CONFIG, "regions": ["eu-west-1"]}))
    result, outdir = _run_app(
        tmp_path,
        config=str(config),
        schedule="cron(30 1 * * ? *)",
        scheduleTimezone="America/New_York",
        alarmEmail="ops@example.com",
    )
    assert result.returncode == 0, result.stderr
    template: dict[str, Any] = json.loads((outdir / "EcrJanitor.template.json").read_text())
    types = [r["Type"] for r in template["Resources"].values()]
    schedule = next(r for r in template["Resources"].values() if r["Type"] == "AWS::Scheduler::Schedule")
    assert schedule["Properties"]["ScheduleExpression"] == "cron(30 1 * * ? *)"
    assert schedule["Properties"]["ScheduleExpressionTimezone"] == "America/New_York"
    assert "AWS::SNS::Subscription" in types
    assert "eu-west-1" in json.dumps(template)
    report = json.loads((outdir / "validation-report.json").read_text())
    assert report["pluginReports"] == []  # cdk-nag ran (the report exists) and found nothing open
    assert list((tmp_path / "tmp").iterdir()) == []  # the staging directory is gone
    assert not (ROOT / "build").exists()


def test_synth_with_fan_out_from_the_context(tmp_path: Path) -> None:
    config = tmp_path / "janitor.json"
    config.write_text(json.dumps(MINIMAL_CONFIG))
    result, outdir = _run_app(tmp_path, config=str(config), fanOut="true", fanOutConcurrency="3")
    assert result.returncode == 0, result.stderr
    template: dict[str, Any] = json.loads((outdir / "EcrJanitor.template.json").read_text())
    types = [r["Type"] for r in template["Resources"].values()]
    assert types.count("AWS::StepFunctions::StateMachine") == 1
    function = next(r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function")
    assert function["Properties"]["ReservedConcurrentExecutions"] == 4
    assert '\\"MaxConcurrency\\":3' in json.dumps(template)
    report = json.loads((outdir / "validation-report.json").read_text())
    assert report["pluginReports"] == []


def test_synth_writes_the_member_role_template_with_the_configs_role_name(tmp_path: Path) -> None:
    config = tmp_path / "janitor.json"
    document = {
        **MINIMAL_CONFIG,
        "accounts": "organization",
        "accessRole": {"externalId": "x-1", "name": "reader"},
    }
    config.write_text(json.dumps(document))
    result, outdir = _run_app(tmp_path, config=str(config))
    assert result.returncode == 0, result.stderr
    member: dict[str, Any] = json.loads((outdir / "EcrJanitorMemberRole.template.json").read_text())
    assert member["Parameters"]["RoleName"]["Default"] == "reader"
    assert "Rules" not in member  # deployable as a StackSet: no CDK bootstrap version check
    janitor: dict[str, Any] = json.loads((outdir / "EcrJanitor.template.json").read_text())
    assert 'arn:", {"Ref": "AWS::Partition"}, ":iam::*:role/reader' in json.dumps(janitor)
    report = json.loads((outdir / "validation-report.json").read_text())
    assert report["pluginReports"] == []


def test_invalid_fan_out_context_fails_synth(tmp_path: Path) -> None:
    result, outdir = _run_app(tmp_path, fanOutConcurrency="8")
    assert result.returncode == 2
    assert result.stderr == "context fanOutConcurrency applies only with fan-out: add -c fanOut=true\n"
    assert not (outdir / "EcrJanitor.template.json").exists()
