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
from ecr_janitor.config import Config
from ecr_janitor.constants import ACCESS_ROLE_DEFAULT_NAME, SKIP_TAG_KEY
from infra.member_stack import JANITOR_ROLE_ARN_PATTERN, MEMBER_STACK_NAME, EcrJanitorMemberRoleStack
from infra.permissions import ECR_READ_ACTIONS, ECR_WRITE_ACTIONS, IN_USE_READ_ACTIONS
from tests.infra.cdk_support import Synthesized, cfn_lint, nag_findings, placeholder, policy_statements
from tests.infra.test_cdk_stack import MIN_REASON_WORDS, _acknowledgements

MEMBER_REPOSITORIES = "arn:${AWS::Partition}:ecr:*:${AWS::AccountId}:repository/*"


def _policies(synthesized: Synthesized) -> dict[str, tuple[str | None, dict[str, dict[str, Any]]]]:
    """Policy logical id -> (its Condition, its statements by Sid, resources as ${...} text)."""
    conditions = {
        key: policy.get("Condition") for key, policy in synthesized.resources("AWS::IAM::Policy").items()
    }
    found: dict[str, tuple[str | None, dict[str, dict[str, Any]]]] = {}
    for logical_id, statement in policy_statements(synthesized):
        found.setdefault(logical_id, (conditions[logical_id], {}))[1][statement["Sid"]] = statement
    return found


def _one_policy(synthesized: Synthesized, sid: str) -> tuple[str | None, dict[str, dict[str, Any]]]:
    (policy,) = [p for p in _policies(synthesized).values() if sid in p[1]]
    return policy


def _main_role(default: Synthesized) -> dict[str, dict[str, Any]]:
    """The janitor's own role's statements by Sid (its one policy), resources in every region."""
    return {
        statement.get("Sid", ""): {
            **statement,
            "Resource": [r.replace("${AWS::Region}", "*") for r in statement["Resource"]],
        }
        for logical_id, statement in policy_statements(default)
        if "Janitor" in logical_id
    }


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


def test_reading_workloads_is_always_allowed_read_only_and_the_main_roles(
    member: Synthesized, default: Synthesized
) -> None:
    condition, statements = _one_policy(member, "FindImagesInUse")
    assert condition is None
    assert set(statements["FindImagesInUse"]["Action"]) == set(IN_USE_READ_ACTIONS)  # the main role's tuple
    assert statements["FindImagesInUse"]["Resource"] == ["*"]
    # EKS as the shipped config reads it (clusters: auto), in whichever region the janitor walks.
    assert set(statements) == {"FindImagesInUse", "FindEksClusters", "DescribeEksClusters"}
    main = _main_role(default)
    for sid, statement in statements.items():
        assert set(statement["Action"]) == set(main[sid]["Action"])
        assert statement["Resource"] == main[sid]["Resource"]
        verbs = {action.split(":", 1)[1] for action in statement["Action"]}
        assert all(verb.startswith(("List", "Describe", "Get", "BatchGet")) for verb in verbs)


def test_cleaning_is_allowed_only_where_clean_repositories_is_true_with_the_main_roles_scope(
    member: Synthesized, default: Synthesized
) -> None:
    assert member.json["Conditions"] == {
        "CleansRepositories": {"Fn::Equals": [{"Ref": "CleanRepositories"}, "true"]}
    }
    condition, statements = _one_policy(member, "NeverTouchOptedOutRepositories")
    assert condition == "CleansRepositories"
    assert set(statements["ReadRepositories"]["Action"]) == set(ECR_READ_ACTIONS)
    assert statements["ReadRepositories"]["Resource"] == [MEMBER_REPOSITORIES]
    # The writes are the main role's: the same write-action tuple, scoped to the same target patterns
    # (region: any, as the shipped config names none), and the same Deny on opted-out repositories.
    writes = {sid: s for sid, s in statements.items() if sid.endswith("Writes")}
    assert set().union(*(s["Action"] for s in writes.values())) == set(ECR_WRITE_ACTIONS)
    main = _main_role(default)
    for sid, statement in writes.items():
        assert set(statement["Action"]) == set(main[sid]["Action"])
        assert sorted(statement["Resource"]) == sorted(main[sid]["Resource"])
    deny = statements["NeverTouchOptedOutRepositories"]
    assert deny["Effect"] == "Deny"
    assert set(deny["Action"]) == set(ECR_WRITE_ACTIONS)
    assert deny["Condition"] == main["NeverTouchOptedOutRepositories"]["Condition"]
    assert deny["Condition"] == {"StringEqualsIgnoreCase": {f"aws:ResourceTag/{SKIP_TAG_KEY}": "true"}}
    assert deny["Resource"] == [MEMBER_REPOSITORIES]
    for statement in statements.values():
        assert all(
            r.startswith("arn:${AWS::Partition}:ecr:*:${AWS::AccountId}:repository/")
            for r in statement["Resource"]
        )


def test_every_acknowledgement_is_reasoned_needed_and_covers_a_real_finding(
    member: Synthesized, shipped_config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    acknowledged = {(path, rule) for path, rule, _ in _acknowledgements(member.stack)}
    assert acknowledged
    for path, rule, reason in _acknowledgements(member.stack):
        assert len(reason.split()) >= MIN_REASON_WORDS, f"{path} {rule}: give a real reason"
    monkeypatch.setattr(Validations, "acknowledge", lambda self, *rules: None)
    app = App(outdir=str(tmp_path / "cdk.out"))
    EcrJanitorMemberRoleStack(app, config=shipped_config)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    findings = nag_findings(app, tmp_path / "cdk.out")
    covered = {(p, r) for p, r in acknowledged for f in findings if f[1] == r and f[0].startswith(p + "/")}
    assert covered == acknowledged, "acknowledgement without a finding: remove it"
    assert all(any(f[1] == r and f[0].startswith(p + "/") for p, r in acknowledged) for f in findings)


def test_cfn_lint_passes_on_the_member_template(member: Synthesized) -> None:
    result = cfn_lint(member.outdir / f"{MEMBER_STACK_NAME}.template.json")
    assert result.returncode == 0, result.stdout + result.stderr
