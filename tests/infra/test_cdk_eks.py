"""EKS in the stack: what the role may describe, the access entries it gets inside clusters, and the
function placed in a VPC for clusters with a private endpoint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ecr_janitor.config import parse_config
from infra.permissions import VPC_ACCESS_ACTIONS
from infra.settings import VpcSettings
from tests.infra.cdk_support import MINIMAL_CONFIG, Synth, Synthesized, arn, cfn_lint, policy_statements
from tests.infra.test_cdk_app import _run_app

VPC = VpcSettings(subnets=("subnet-0a1b2c3d", "subnet-0123456789abcdef0"), security_groups=("sg-0a1b2c3d",))


def synth_with(synth: Synth, *, regions: list[str] | None = None, **protect: Any) -> Synthesized:
    document = {**MINIMAL_CONFIG, "protect": protect, **({"regions": regions} if regions else {})}
    return synth(parse_config(document, "<test>"))


def eks_statements(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    return {
        s["Sid"]: s
        for _, s in policy_statements(synthesized)
        if any(action.startswith("eks:") for action in s["Action"])
    }


def test_auto_lists_clusters_and_describes_any_cluster_of_the_configured_regions(synth: Synth) -> None:
    statements = eks_statements(synth_with(synth, regions=["eu-west-1", "us-east-1"]))
    assert statements["FindEksClusters"]["Action"] == ["eks:ListClusters"]
    assert statements["FindEksClusters"]["Resource"] == ["*"]
    assert statements["DescribeEksClusters"]["Action"] == ["eks:DescribeCluster"]
    assert statements["DescribeEksClusters"]["Resource"] == [
        "arn:${AWS::Partition}:eks:eu-west-1:${AWS::AccountId}:cluster/*",
        "arn:${AWS::Partition}:eks:us-east-1:${AWS::AccountId}:cluster/*",
    ]


def test_listed_clusters_are_described_by_name_and_never_listed(synth: Synth) -> None:
    statements = eks_statements(synth_with(synth, eks=["prod", "staging"]))
    assert sorted(statements) == ["DescribeEksClusters"]
    assert statements["DescribeEksClusters"]["Resource"] == [
        "arn:${AWS::Partition}:eks:${AWS::Region}:${AWS::AccountId}:cluster/prod",
        "arn:${AWS::Partition}:eks:${AWS::Region}:${AWS::AccountId}:cluster/staging",
    ]


def janitor_role_id(synthesized: Synthesized) -> str:
    """The function's own role (the stack has others, e.g. the schedule's)."""
    role = synthesized.only("AWS::Lambda::Function")["Properties"]["Role"]
    return str(role["Fn::GetAtt"][0])


@pytest.mark.parametrize("protect", [{"eks": "off"}, {"inUse": False}])
def test_no_eks_permission_when_eks_is_not_read(synth: Synth, protect: dict[str, Any]) -> None:
    assert eks_statements(synth_with(synth, **protect)) == {}


def test_no_access_entry_and_no_vpc_by_default(default: Synthesized) -> None:
    assert default.resources("AWS::EKS::AccessEntry") == {}
    assert "VpcConfig" not in default.only("AWS::Lambda::Function")["Properties"]
    assert not [s for _, s in policy_statements(default) if set(s["Action"]) & set(VPC_ACCESS_ACTIONS)]


def test_named_clusters_get_an_access_entry_with_the_view_policy_at_cluster_scope(synth: Synth) -> None:
    synthesized = synth(eks_clusters=("prod", "staging-2"))
    role_id = janitor_role_id(synthesized)
    entries = sorted(
        (e["Properties"] for e in synthesized.resources("AWS::EKS::AccessEntry").values()),
        key=lambda p: str(p["ClusterName"]),
    )
    assert [e["ClusterName"] for e in entries] == ["prod", "staging-2"]
    for entry in entries:
        assert entry["PrincipalArn"] == {"Fn::GetAtt": [role_id, "Arn"]}
        assert entry["Type"] == "STANDARD"
        (policy,) = entry["AccessPolicies"]
        assert (
            arn(policy["PolicyArn"])
            == "arn:${AWS::Partition}:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
        )
        assert policy["AccessScope"] == {"Type": "cluster"}
    assert synthesized.json["Outputs"]["RoleArn"]["Value"] == {"Fn::GetAtt": [role_id, "Arn"]}


def test_a_vpc_places_the_function_in_the_given_subnets_with_its_own_eni_permissions(synth: Synth) -> None:
    synthesized = synth(vpc=VPC)
    function = synthesized.only("AWS::Lambda::Function")
    assert function["Properties"]["VpcConfig"] == {
        "SubnetIds": ["subnet-0a1b2c3d", "subnet-0123456789abcdef0"],
        "SecurityGroupIds": ["sg-0a1b2c3d"],
    }
    (policy_id, statement) = next(
        (policy_id, s) for policy_id, s in policy_statements(synthesized) if s.get("Sid") == "RunInVpc"
    )
    assert sorted(statement["Action"]) == sorted(VPC_ACCESS_ACTIONS)
    assert statement["Resource"] == ["*"]
    # Lambda checks the role can create network interfaces when it creates the function.
    assert policy_id in function["DependsOn"]
    role_id = janitor_role_id(synthesized)
    assert "ManagedPolicyArns" not in synthesized.resources("AWS::IAM::Role")[role_id]["Properties"]
    assert not synthesized.resources("AWS::EC2::SecurityGroup"), "given security groups, none made up"


def test_synth_from_the_context_with_access_entries_and_a_vpc_passes_cdk_nag_and_cfn_lint(
    tmp_path: Path,
) -> None:
    config = tmp_path / "janitor.json"
    config.write_text(json.dumps({**MINIMAL_CONFIG, "regions": ["eu-west-1"]}))
    result, outdir = _run_app(
        tmp_path,
        config=str(config),
        eksClusters="prod,staging",
        vpcSubnets="subnet-0a1b2c3d,subnet-0b1b2c3d",
        vpcSecurityGroups="sg-0a1b2c3d",
    )
    assert result.returncode == 0, result.stderr
    template = outdir / "EcrJanitor.template.json"
    types = [r["Type"] for r in json.loads(template.read_text())["Resources"].values()]
    assert types.count("AWS::EKS::AccessEntry") == 2
    assert json.loads((outdir / "validation-report.json").read_text())["pluginReports"] == []
    lint = cfn_lint(template)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_access_entries_for_a_config_that_reads_no_cluster_fail_synth(tmp_path: Path) -> None:
    config = tmp_path / "janitor.json"
    config.write_text(json.dumps({**MINIMAL_CONFIG, "protect": {"eks": "off"}}))
    result, outdir = _run_app(tmp_path, config=str(config), eksClusters="prod")
    assert result.returncode == 2
    assert result.stderr.startswith(
        "context eksClusters grants access to EKS clusters, but the config reads none"
    )
    assert not (outdir / "EcrJanitor.template.json").exists()
