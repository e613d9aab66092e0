"""The function construct: runtime, layer, code, environment, concurrency, role, logs, failure path."""

from __future__ import annotations

import importlib.metadata
import json
import re
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import aws_lambda as lambda_

from ecr_janitor.config import parse_config
from infra import function as fn
from infra.permissions import (
    ECR_READ_ACTIONS,
    ECR_WRITE_ACTIONS,
    IN_USE_READ_ACTIONS,
    IN_USE_SECOND_WAVE,
    ORGANIZATIONS_READ_ACTIONS,
)
from tests.infra.cdk_support import MINIMAL_CONFIG, ROOT, Synth, Synthesized, arn

DESTRUCTIVE = set(ECR_WRITE_ACTIONS)


def _function(synthesized: Synthesized) -> dict[str, Any]:
    props: dict[str, Any] = synthesized.only("AWS::Lambda::Function")["Properties"]
    return props


def _statements(synthesized: Synthesized) -> list[dict[str, Any]]:
    (policy,) = [
        p for k, p in synthesized.resources("AWS::IAM::Policy").items() if k.startswith("JanitorRole")
    ]
    statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def _actions(statement: dict[str, Any]) -> set[str]:
    actions = statement["Action"]
    return {actions} if isinstance(actions, str) else set(actions)


def _resources(statement: dict[str, Any]) -> list[Any]:
    resources = statement["Resource"]
    return resources if isinstance(resources, list) else [resources]


def test_runtime_is_the_newest_python_that_aws_cdk_lib_knows_on_arm64(default: Synthesized) -> None:
    pythons = [r for r in lambda_.Runtime.ALL if r.family == lambda_.RuntimeFamily.PYTHON]
    newest = max(pythons, key=lambda r: tuple(int(x) for x in r.name.removeprefix("python").split(".")))
    props = _function(default)
    assert props["Runtime"] == newest.name == "python3.14"
    assert props["Architectures"] == ["arm64"]
    assert props["Handler"] == "ecr_janitor.handler.handler"


def _pin(requirements: Path, name: str) -> str:
    (line,) = [
        line.split("#")[0].strip()
        for line in requirements.read_text().splitlines()
        if re.match(rf"^{re.escape(name)}(\[[^\]]*\])?==", line.strip(), re.IGNORECASE)
    ]
    return line.split("==")[1]


def test_the_powertools_layer_is_the_release_of_the_pinned_package(default: Synthesized) -> None:
    """One constant: the layer the template deploys is the public layer of exactly the aws-lambda-powertools
    release requirements.txt and constraints.txt pin, which is what the tests ran with."""
    assert _pin(ROOT / "requirements.txt", "aws-lambda-powertools") == fn.POWERTOOLS_VERSION
    assert _pin(ROOT / "constraints.txt", "aws_lambda_powertools") == fn.POWERTOOLS_VERSION
    assert importlib.metadata.version("aws-lambda-powertools") == fn.POWERTOOLS_VERSION
    (layer,) = _function(default)["Layers"]
    assert layer == (
        f"{{{{resolve:ssm:/aws/service/powertools/python/arm64/python3.14/{fn.POWERTOOLS_VERSION}}}}}"
    )


def test_environment_names_the_service_namespace_and_config_file(default: Synthesized) -> None:
    assert _function(default)["Environment"]["Variables"] == {
        "POWERTOOLS_SERVICE_NAME": "ecr-janitor",
        "POWERTOOLS_METRICS_NAMESPACE": "EcrJanitor",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "ECR_JANITOR_CONFIG": "/var/task/ecr-janitor.json",
        "ECR_JANITOR_STATE_PARAMETER": {"Ref": next(iter(default.resources("AWS::SSM::Parameter")))},
    }


def test_the_resume_state_is_the_only_parameter_the_function_writes(default: Synthesized) -> None:
    (parameter_id,) = default.resources("AWS::SSM::Parameter")
    assert default.only("AWS::SSM::Parameter")["Properties"]["Value"] == "{}"
    writers = [s for s in _statements(default) if "ssm:PutParameter" in _actions(s)]
    (statement,) = writers
    assert _actions(statement) == {"ssm:GetParameter", "ssm:PutParameter"}
    assert len(_resources(statement)) == 1
    assert parameter_id in json.dumps(_resources(statement))


def test_sized_for_large_registries_and_never_overlapping(default: Synthesized) -> None:
    props = _function(default)
    assert props["Timeout"] == 900
    assert props["MemorySize"] == 1769  # one vCPU: infra/function.py MEMORY_MB
    assert props["ReservedConcurrentExecutions"] == 1
    assert props["TracingConfig"] == {"Mode": "Active"}


def test_logs_go_to_an_own_log_group_kept_three_months(default: Synthesized) -> None:
    (log_group_id,) = default.resources("AWS::Logs::LogGroup")
    log_group = default.only("AWS::Logs::LogGroup")
    assert log_group["Properties"]["RetentionInDays"] == 90
    assert log_group["DeletionPolicy"] == "Retain"
    assert _function(default)["LoggingConfig"] == {"LogGroup": {"Ref": log_group_id}}


def test_async_failures_go_to_an_encrypted_tls_only_queue_after_one_retry(default: Synthesized) -> None:
    (queue_id,) = default.resources("AWS::SQS::Queue")
    queue = default.only("AWS::SQS::Queue")
    assert queue["Properties"] == {"MessageRetentionPeriod": 14 * 24 * 3600, "SqsManagedSseEnabled": True}
    config = default.only("AWS::Lambda::EventInvokeConfig")["Properties"]
    assert config["MaximumRetryAttempts"] == 1
    assert config["MaximumEventAgeInSeconds"] == 6 * 3600
    assert config["DestinationConfig"] == {"OnFailure": {"Destination": {"Fn::GetAtt": [queue_id, "Arn"]}}}
    (statement,) = default.only("AWS::SQS::QueuePolicy")["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_role_is_its_own_with_no_managed_policies(default: Synthesized) -> None:
    (role_id,) = [k for k in default.resources("AWS::IAM::Role") if k.startswith("JanitorRole")]
    role = default.resources("AWS::IAM::Role")[role_id]["Properties"]
    assert "ManagedPolicyArns" not in role
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}
    ]
    assert _function(default)["Role"] == {"Fn::GetAtt": [role_id, "Arn"]}
    (policy,) = [p for k, p in default.resources("AWS::IAM::Policy").items() if k.startswith("JanitorRole")]
    assert policy["Properties"]["Roles"] == [{"Ref": role_id}]


def test_role_allows_exactly_the_actions_the_janitor_needs(default: Synthesized) -> None:
    allowed = set().union(*(_actions(s) for s in _statements(default) if s["Effect"] == "Allow"))
    assert allowed == {
        *ECR_READ_ACTIONS,
        *ECR_WRITE_ACTIONS,
        *IN_USE_READ_ACTIONS,
        "eks:ListClusters",  # protect.eks is auto by default
        "eks:DescribeCluster",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "sqs:SendMessage",
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
        "ssm:GetParameter",
        "ssm:PutParameter",
    }
    assert not any(action.endswith("*") for action in allowed)


def test_destructive_actions_are_allowed_only_on_the_repositories_their_mode_covers(
    default: Synthesized,
) -> None:
    """The shipped config: retain targets `ml/*` and `*` (everything), a propagate target `sandbox/*`."""
    destructive = [s for s in _statements(default) if s["Effect"] == "Allow" and _actions(s) & DESTRUCTIVE]
    assert destructive, "no statement allows deletions: the janitor could not clean anything"
    by_action = {action: [arn(r) for r in _resources(s)] for s in destructive for action in _actions(s)}
    assert by_action == {
        "ecr:BatchDeleteImage": ["arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/*"],
        "ecr:UpdateImageStorageClass": [  # archiving, like deleting, is retain mode's own
            "arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/*"
        ],
        "ecr:PutLifecyclePolicy": [
            "arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/sandbox/*"
        ],
    }
    assert not any("*" in _resources(s) for s in destructive)


def test_opted_out_repositories_are_denied_deletion_and_policy_writes(default: Synthesized) -> None:
    denies = [s for s in _statements(default) if s["Effect"] == "Deny"]
    assert len(denies) == 1
    (deny,) = denies
    assert _actions(deny) == DESTRUCTIVE
    assert deny["Condition"] == {"StringEqualsIgnoreCase": {"aws:ResourceTag/ecr-janitor:skip": "true"}}
    assert [arn(r) for r in _resources(deny)] == [
        "arn:${AWS::Partition}:ecr:*:${AWS::AccountId}:repository/*"
    ]


def test_only_read_only_actions_have_a_wildcard_resource(default: Synthesized) -> None:
    on_star = set().union(
        *(_actions(s) for s in _statements(default) if s["Effect"] == "Allow" and "*" in _resources(s))
    )
    assert on_star == {
        *IN_USE_READ_ACTIONS,
        "eks:ListClusters",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }


def test_ecr_access_is_limited_to_the_regions_the_config_names(synth: Synth) -> None:
    config = parse_config({**MINIMAL_CONFIG, "regions": ["eu-west-1", "us-east-1"]}, "<test>")
    ecr = [s for s in _statements(synth(config)) if s["Effect"] == "Allow" and _actions(s) & DESTRUCTIVE]
    (statement,) = ecr
    assert sorted(arn(r) for r in _resources(statement)) == [
        "arn:${AWS::Partition}:ecr:eu-west-1:${AWS::AccountId}:repository/*",
        "arn:${AWS::Partition}:ecr:us-east-1:${AWS::AccountId}:repository/*",
    ]


def test_the_code_asset_changes_when_the_config_changes(default: Synthesized, synth: Synth) -> None:
    other = synth(parse_config(MINIMAL_CONFIG, "<test>"))
    assert _function(default)["Code"]["S3Key"] != _function(other)["Code"]["S3Key"]


@pytest.mark.parametrize("regions", [None, ["us-west-2"]])
@pytest.mark.parametrize("patterns", [["*"], ["team-a/*", "api", "ml/models-*"]])
def test_nag_ids_match_the_arns_in_the_template(
    synth: Synth, regions: list[str] | None, patterns: list[str]
) -> None:
    """The IAM5 acknowledgements name the ARNs exactly as cdk-nag prints them; a mismatch fails synth."""
    document = {**MINIMAL_CONFIG, **({"regions": regions} if regions else {})}
    document["targets"] = [{**document["targets"][0], "repositories": patterns}]
    assert json.dumps(synth(parse_config(document, "<test>")).json)  # cdk-nag ran: nothing unacknowledged


def test_extra_image_lists_are_readable_and_nothing_else(synth: Synth, default: Synthesized) -> None:
    assert not [s for s in _statements(default) if s.get("Sid", "").startswith("ReadImageList")]
    config = parse_config(
        {**MINIMAL_CONFIG, "protect": {"extraImageLists": ["ssm:/ecr-janitor/in-use", "s3://lists/eks.txt"]}},
        "<test>",
    )
    statements = {s.get("Sid"): s for s in _statements(synth(config))}
    parameters = statements["ReadImageListParameters"]
    assert _actions(parameters) == {"ssm:GetParameter"}
    assert [arn(r) for r in _resources(parameters)] == [
        "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/ecr-janitor/in-use"
    ]
    objects = statements["ReadImageListObjects"]
    assert _actions(objects) == {"s3:GetObject"}
    assert [arn(r) for r in _resources(objects)] == ["arn:${AWS::Partition}:s3:::lists/eks.txt"]


def test_the_second_wave_in_use_sources_are_read_only(default: Synthesized) -> None:
    allowed = set().union(*(_actions(s) for s in _statements(default) if s["Effect"] == "Allow"))
    assert set(IN_USE_SECOND_WAVE) <= allowed
    assert {"ecs:DescribeServiceRevisions", "batch:ListJobs", "inspector2:ListCoverage"} <= allowed
    # What the synthesized role grants on every resource to find images in use: reads only.
    verbs = {action.split(":", 1)[1] for action in _actions(_by_sid(default)["FindImagesInUse"])}
    assert all(verb.startswith(("Describe", "List", "BatchGet", "Get")) for verb in verbs), verbs
    assert {a for a in allowed if a.startswith("inspector2:")} == {
        "inspector2:BatchGetAccountStatus",
        "inspector2:ListCoverage",
    }


# -- other accounts: only their member role, by name; Organizations only with `organization` ---------

ROLE = {"accessRole": {"externalId": "ecr-janitor-7f3a", "name": "janitor-reader"}}


def _by_sid(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    return {s.get("Sid", ""): s for s in _statements(synthesized)}


def _everywhere(synthesized: Synthesized) -> set[str]:
    return set().union(*(_actions(s) for s in _statements(synthesized)))


def test_a_single_account_config_assumes_no_role_and_lists_no_organization(default: Synthesized) -> None:
    actions = _everywhere(default)
    assert "sts:AssumeRole" not in actions
    assert not {a for a in actions if a.startswith("organizations:")}


def test_listed_accounts_are_reached_only_through_their_member_role(synth: Synth) -> None:
    config = parse_config(
        {
            **MINIMAL_CONFIG,
            **ROLE,
            "accounts": ["111122223333"],
            "protect": {"consumerAccounts": ["444455556666", "111122223333"]},
        }
    )
    synthesized = synth(config)
    assume = _by_sid(synthesized)["AssumeMemberRoles"]
    assert (assume["Effect"], _actions(assume)) == ("Allow", {"sts:AssumeRole"})
    assert sorted(arn(r) for r in _resources(assume)) == [
        "arn:${AWS::Partition}:iam::111122223333:role/janitor-reader",
        "arn:${AWS::Partition}:iam::444455556666:role/janitor-reader",
    ]
    assert not {a for a in _everywhere(synthesized) if a.startswith("organizations:")}
    assert sum("sts:AssumeRole" in _actions(s) for s in _statements(synthesized)) == 1


@pytest.mark.parametrize("where", ["accounts", "consumerAccounts"])
def test_an_organization_lets_the_janitor_list_it_and_assume_the_role_of_that_name(
    synth: Synth, where: str
) -> None:
    selection = {"organization": {"ous": ["ou-ab12-cdef3456"]}}
    document = {**MINIMAL_CONFIG, **ROLE}
    document.update(
        {"accounts": selection} if where == "accounts" else {"protect": {"consumerAccounts": selection}}
    )
    statements = _by_sid(synth(parse_config(document)))
    assert [arn(r) for r in _resources(statements["AssumeMemberRoles"])] == [
        "arn:${AWS::Partition}:iam::*:role/janitor-reader"
    ]
    listing = statements["ListOrganizationAccounts"]
    assert _actions(listing) == set(ORGANIZATIONS_READ_ACTIONS)
    assert all(action.split(":", 1)[1].startswith("List") for action in ORGANIZATIONS_READ_ACTIONS)
    assert _resources(listing) == ["*"]
