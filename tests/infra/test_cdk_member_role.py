"""Stack EcrJanitorMemberRole: a plain template for a StackSet (no assets, no bootstrap), a role that
trusts only the janitor's role with the external id, read-only unless CleanRepositories is true, and
then the main role's own write actions with the opt-out Deny. cdk-nag and cfn-lint as for the main stack."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from devtools.accounts import member_trust_policy
from ecr_janitor.constants import ACCESS_ROLE_DEFAULT_NAME, SKIP_TAG_KEY
from infra.member_stack import JANITOR_ROLE_ARN_PATTERN, MEMBER_STACK_NAME, EcrJanitorMemberRoleStack
from infra.permissions import ECR_READ_ACTIONS, ECR_WRITE_ACTIONS, IN_USE_READ_ACTIONS
from tests.infra.cdk_support import Synthesized, cfn_lint, nag_findings, placeholder
from tests.infra.test_cdk_stack import MIN_REASON_WORDS, _acknowledgements

MEMBER_REPOSITORIES = "arn:${AWS::Partition}:ecr:*:${AWS::AccountId}:repository/*"


def _policies(member: Synthesized) -> dict[str, dict[str, Any]]:
    """Policy name (its Sid set) -> resource, statements' resources as ${...} text."""
    found = {}
    for resource in member.resources("AWS::IAM::Policy").values():
        statements = resource["Properties"]["PolicyDocument"]["Statement"]
        for statement in statements:
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            statement["Resource"] = [placeholder(r) for r in resources]
            statement["Action"] = (
                statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            )
        found[",".join(sorted(s["Sid"] for s in statements))] = resource
    return found


def _resolved(value: Any) -> Any:
    """A template fragment with each intrinsic as ${...} text."""
    if isinstance(value, dict):
        if {"Ref", "Fn::GetAtt", "Fn::Join"} & set(value):
            return placeholder(value)
        return {key: _resolved(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolved(item) for item in value]
    return value


def test_the_template_is_plain_cloudformation_for_a_stackset(member: Synthesized) -> None:
    template = member.json
    assert member.stack.stack_name == MEMBER_STACK_NAME
    assert sorted(template["Parameters"]) == ["CleanRepositories", "ExternalId", "JanitorRoleArn", "RoleName"]
    assert "Rules" not in template  # no CDK bootstrap version check
    assert {r["Type"] for r in template["Resources"].values()} == {"AWS::IAM::Role", "AWS::IAM::Policy"}
    manifest = json.loads((member.outdir / "manifest.json").read_text())
    artifact = manifest["artifacts"][MEMBER_STACK_NAME]
    assert artifact["environment"] == "aws://unknown-account/unknown-region"
    assert not [name for name in manifest["artifacts"] if name.startswith(f"{MEMBER_STACK_NAME}.assets")]
    assert "missing" not in manifest


def test_parameters_are_checked_as_the_config_checks_them(member: Synthesized) -> None:
    parameters = member.json["Parameters"]
    assert parameters["CleanRepositories"]["AllowedValues"] == ["true", "false"]
    assert parameters["CleanRepositories"]["Default"] == "false"  # read-only unless asked
    assert parameters["RoleName"]["Default"] == ACCESS_ROLE_DEFAULT_NAME
    assert "Default" not in parameters["ExternalId"]
    assert "Default" not in parameters["JanitorRoleArn"]
    external_id = re.compile(parameters["ExternalId"]["AllowedPattern"])
    assert external_id.fullmatch("ecr-janitor-7f3a")
    assert external_id.fullmatch("a" * 1224)
    assert not external_id.fullmatch("x")
    assert not external_id.fullmatch("has space")
    role = re.compile(parameters["JanitorRoleArn"]["AllowedPattern"])
    assert role.fullmatch("arn:aws:iam::123456789012:role/EcrJanitor-JanitorRoleABC-1X2Y")
    assert role.fullmatch("arn:aws-cn:iam::123456789012:role/path/EcrJanitor")
    assert not role.fullmatch("arn:aws:iam::123456789012:root")
    assert not role.fullmatch("*")
    assert parameters["JanitorRoleArn"]["AllowedPattern"] == JANITOR_ROLE_ARN_PATTERN


def test_the_role_trusts_only_the_janitors_role_and_only_with_the_external_id(member: Synthesized) -> None:
    role = member.only("AWS::IAM::Role")["Properties"]
    assert role["RoleName"] == {"Ref": "RoleName"}
    assert "ManagedPolicyArns" not in role
    assert "Policies" not in role
    # The same document the strict local STS evaluates in the integration tests (devtools.accounts).
    assert _resolved(role["AssumeRolePolicyDocument"]) == member_trust_policy(
        "${JanitorRoleArn}", "${ExternalId}"
    )


def test_reading_workloads_is_always_allowed_and_read_only(member: Synthesized) -> None:
    read = _policies(member)["FindImagesInUse"]
    assert "Condition" not in read
    (statement,) = read["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == list(IN_USE_READ_ACTIONS)  # the main role's own tuple
    assert statement["Resource"] == ["*"]
    verbs = {action.split(":", 1)[1] for action in statement["Action"]}
    assert all(verb.startswith(("List", "Describe", "Get", "BatchGet")) for verb in verbs)


def test_cleaning_is_allowed_only_where_clean_repositories_is_true(member: Synthesized) -> None:
    assert member.json["Conditions"] == {
        "CleansRepositories": {"Fn::Equals": [{"Ref": "CleanRepositories"}, "true"]}
    }
    clean = _policies(member)["CleanRepositories,NeverTouchOptedOutRepositories,ReadRepositories"]
    assert clean["Condition"] == "CleansRepositories"
    statements = {s["Sid"]: s for s in clean["Properties"]["PolicyDocument"]["Statement"]}
    assert statements["ReadRepositories"]["Action"] == list(ECR_READ_ACTIONS)
    # The write actions are the main role's tuple, not a copy of it.
    assert statements["CleanRepositories"]["Action"] == list(ECR_WRITE_ACTIONS)
    deny = statements["NeverTouchOptedOutRepositories"]
    assert (deny["Effect"], deny["Action"]) == ("Deny", list(ECR_WRITE_ACTIONS))
    assert deny["Condition"] == {"StringEquals": {f"aws:ResourceTag/{SKIP_TAG_KEY}": "true"}}
    for statement in statements.values():
        assert statement["Resource"] == [MEMBER_REPOSITORIES]  # this account's repositories only


def test_every_acknowledgement_is_reasoned_needed_and_covers_a_real_finding(
    member: Synthesized, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    acknowledged = {(path, rule) for path, rule, _ in _acknowledgements(member.stack)}
    assert acknowledged
    for path, rule, reason in _acknowledgements(member.stack):
        assert len(reason.split()) >= MIN_REASON_WORDS, f"{path} {rule}: give a real reason"
    monkeypatch.setattr(Validations, "acknowledge", lambda self, *rules: None)
    app = App(outdir=str(tmp_path / "cdk.out"))
    EcrJanitorMemberRoleStack(app)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    findings = nag_findings(app, tmp_path / "cdk.out")
    covered = {(p, r) for p, r in acknowledged for f in findings if f[1] == r and f[0].startswith(p + "/")}
    assert covered == acknowledged, "acknowledgement without a finding: remove it"
    assert all(any(f[1] == r and f[0].startswith(p + "/") for p, r in acknowledged) for f in findings)


def test_cfn_lint_passes_on_the_member_template(member: Synthesized) -> None:
    result = cfn_lint(member.outdir / f"{MEMBER_STACK_NAME}.template.json")
    assert result.returncode == 0, result.stdout + result.stderr
