"""The whole stack: what it contains, cdk-nag with every acknowledgement justified and needed, cfn-lint."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import aws_cdk
import pytest
from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

from ecr_janitor.config import Config, parse_config
from infra.package import stage_function_code
from infra.settings import DEFAULT_SCHEDULE, FanOutSettings
from infra.stack import EcrJanitorStack
from tests.infra.cdk_support import Synth, Synthesized, cfn_lint, nag_findings

ACKNOWLEDGED = "aws:cdk:acknowledged-rules"
MIN_REASON_WORDS = 15


def _acknowledgements(root: IConstruct) -> Iterator[tuple[str, str, str]]:
    """(construct path, rule id, reason) of every Validations.of(...).acknowledge(...) in the tree."""
    for construct in root.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == ACKNOWLEDGED:
                for rule, reason in entry.data.items():
                    yield construct.node.path, str(rule).removeprefix("Annotation::"), str(reason)


@pytest.fixture(params=["default", "fanned"])
def either(request: pytest.FixtureRequest) -> Synthesized:
    """The default stack, then the one with fan-out: the stack-wide checks hold for both."""
    synthesized: Synthesized = request.getfixturevalue(request.param)
    return synthesized


def test_resources_of_the_stack(default: Synthesized) -> None:
    counts: dict[str, int] = {}
    for resource in default.json["Resources"].values():
        counts[resource["Type"]] = counts.get(resource["Type"], 0) + 1
    assert counts == {
        "AWS::Logs::LogGroup": 1,
        "AWS::IAM::Role": 2,  # the function's, the schedule's
        "AWS::IAM::Policy": 2,
        "AWS::SQS::Queue": 1,
        "AWS::SQS::QueuePolicy": 1,
        "AWS::SSM::Parameter": 1,
        "AWS::Lambda::Function": 1,  # no CDK helper functions (log retention, custom resources)
        "AWS::Lambda::EventInvokeConfig": 1,
        "AWS::Scheduler::Schedule": 1,
        "AWS::SNS::Topic": 1,
        "AWS::SNS::TopicPolicy": 1,
        "AWS::CloudWatch::Alarm": 10,
        "AWS::CloudWatch::Dashboard": 1,
    }


def test_stack_is_environment_agnostic_and_needs_no_lookups(default: Synthesized) -> None:
    assert aws_cdk.Token.is_unresolved(default.stack.account)
    assert aws_cdk.Token.is_unresolved(default.stack.region)
    manifest = json.loads((default.outdir / "manifest.json").read_text())
    assert manifest["artifacts"]["EcrJanitor"]["environment"] == "aws://unknown-account/unknown-region"
    assert "missing" not in manifest  # no context lookups


def test_outputs_tell_where_things_are(default: Synthesized) -> None:
    assert sorted(default.json["Outputs"]) == [
        "AlarmTopicArn",
        "DashboardUrl",
        "FailureQueueUrl",
        "FunctionName",
        "LogGroupName",
        "RoleArn",  # the principal an EKS access entry names, and what member accounts trust
    ]


def test_resources_of_the_stack_with_fan_out(fanned: Synthesized) -> None:
    counts: dict[str, int] = {}
    for resource in fanned.json["Resources"].values():
        counts[resource["Type"]] = counts.get(resource["Type"], 0) + 1
    assert counts == {
        "AWS::Logs::LogGroup": 2,
        "AWS::IAM::Role": 3,  # the function's, the state machine's, the schedule's to start it
        "AWS::IAM::Policy": 5,
        "AWS::SQS::Queue": 1,
        "AWS::SQS::QueuePolicy": 1,
        "AWS::SSM::Parameter": 1,
        "AWS::Lambda::Function": 1,  # still no CDK helper functions (e.g. auto-delete for the bucket)
        "AWS::Lambda::EventInvokeConfig": 1,
        "AWS::Scheduler::Schedule": 1,
        "AWS::S3::Bucket": 1,
        "AWS::S3::BucketPolicy": 1,
        "AWS::StepFunctions::StateMachine": 1,
        "AWS::SNS::Topic": 1,
        "AWS::SNS::TopicPolicy": 1,
        "AWS::CloudWatch::Alarm": 11,
        "AWS::CloudWatch::Dashboard": 1,
    }


def test_every_acknowledgement_gives_a_reason(either: Synthesized) -> None:
    acknowledgements = list(_acknowledgements(either.stack))
    assert acknowledgements
    for path, rule, reason in acknowledgements:
        assert rule.startswith("AwsSolutions-"), (path, rule)
        assert len(reason.split()) >= MIN_REASON_WORDS, f"{path} {rule}: give a real reason"


ORGANIZATION = {"accounts": "organization", "accessRole": {"externalId": "ecr-janitor-7f3a"}}


@pytest.mark.parametrize(
    ("fan_out", "organization"),
    [(None, False), (FanOutSettings(), False), (None, True)],
    ids=["default", "fanned", "organization"],
)
def test_every_acknowledgement_is_needed_and_covers_a_real_finding(
    synth: Synth,
    shipped_config: Config,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fan_out: FanOutSettings | None,
    organization: bool,
) -> None:
    """Synthesize again with acknowledgements switched off: cdk-nag must report exactly what they cover."""
    config = shipped_config
    if organization:
        config = parse_config(
            {**shipped_config.model_dump(by_alias=True, exclude_unset=True), **ORGANIZATION}
        )
    acknowledged = {(path, rule) for path, rule, _ in _acknowledgements(synth(config, fan_out=fan_out).stack)}
    monkeypatch.setattr(Validations, "acknowledge", lambda self, *rules: None)
    app = App(outdir=str(tmp_path / "cdk.out"))
    EcrJanitorStack(
        app,
        config=config,
        code_dir=stage_function_code(config, destination=tmp_path / "code"),
        schedule=DEFAULT_SCHEDULE,
        alarm_email=None,
        fan_out=fan_out,
    )
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    findings = nag_findings(app, tmp_path / "cdk.out")
    assert findings, "cdk-nag reported nothing: is it running?"
    uncovered = [
        f for f in findings if not any(f[1] == r and f[0].startswith(p + "/") for p, r in acknowledged)
    ]
    unused = [a for a in acknowledged if not any(a[1] == r and p.startswith(a[0] + "/") for p, r in findings)]
    assert uncovered == []
    assert unused == [], "acknowledgement without a finding: remove it"


def test_cfn_lint_passes_on_the_synthesized_template(either: Synthesized) -> None:
    result = cfn_lint(either.outdir / "EcrJanitor.template.json")
    assert result.returncode == 0, result.stdout + result.stderr
