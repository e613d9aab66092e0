"""Helpers for the CDK tests: a synthesized stack, and the metrics a template refers to."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Template

from tests.factories import config_document

ROOT = Path(__file__).resolve().parents[2]
CFN_LINT_CONFIG = ROOT / "infra" / "cfn-lint.yaml"
CFN_LINT = str(Path(sys.executable).parent / "cfn-lint")  # the venv's, as `make infra` runs it
SHIPPED_CONFIG = ROOT / "ecr-janitor.yaml"

MINIMAL_CONFIG: dict[str, Any] = config_document()
"""One retain target over every repository: untagged images after 14 days."""


@dataclass(frozen=True)
class Synthesized:
    stack: Stack
    template: Template
    outdir: Path

    @property
    def json(self) -> dict[str, Any]:
        return dict(self.template.to_json())

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: dict(v) for k, v in self.template.find_resources(resource_type).items()}

    def only(self, resource_type: str) -> dict[str, Any]:
        found = self.resources(resource_type)
        assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
        return next(iter(found.values()))


Synth = Callable[..., Synthesized]


def resolve_join(value: Any, token: str = "TOKEN") -> str:
    """Flatten an Fn::Join of strings and intrinsics into one string, each intrinsic as `token`."""
    if isinstance(value, str):
        return value
    if "Fn::Join" not in value:
        return token  # a single intrinsic: Ref, Fn::GetAtt, ...
    separator, parts = value["Fn::Join"]
    return str(separator).join(part if isinstance(part, str) else token for part in parts)


def arn(value: Any) -> str:
    """An ARN built with Fn::Join, with pseudo parameters written as ${AWS::...}."""
    if isinstance(value, str):
        return value
    separator, parts = value["Fn::Join"]
    return str(separator).join(p if isinstance(p, str) else "${" + p["Ref"] + "}" for p in parts)


def dashboard_body(synthesized: Synthesized) -> dict[str, Any]:
    dashboard = synthesized.only("AWS::CloudWatch::Dashboard")
    body: dict[str, Any] = json.loads(resolve_join(dashboard["Properties"]["DashboardBody"]))
    return body


@dataclass(frozen=True, order=True)
class MetricRef:
    """A metric as CloudWatch identifies it: namespace, name and the full dimension set."""

    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, namespace: str, name: str, dimensions: dict[str, str]) -> MetricRef:
        return cls(namespace, name, tuple(sorted(dimensions.items())))


def dashboard_metrics(body: dict[str, Any]) -> Iterator[tuple[str, MetricRef]]:
    """(widget title, metric) for every metric of every widget; math expressions are skipped, their
    input metrics are listed like any other."""
    for widget in body["widgets"]:
        properties = widget["properties"]
        for entry in properties.get("metrics", []):
            names = [item for item in entry if isinstance(item, str)]
            if not names:
                continue  # a math expression: [{"expression": ..., "id": ...}]
            namespace, name, *pairs = names
            dimensions = dict(zip(pairs[0::2], pairs[1::2], strict=True))
            yield properties.get("title", ""), MetricRef.of(namespace, name, dimensions)


def dashboard_expressions(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        item
        for widget in body["widgets"]
        for entry in widget["properties"].get("metrics", [])
        for item in entry
        if isinstance(item, dict) and "expression" in item
    ]


def alarm_metrics(template: dict[str, Any]) -> Iterator[tuple[str, MetricRef]]:
    """(alarm logical id, metric) for every alarm, whether on a plain metric or a math expression."""
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        props = resource["Properties"]
        stats = [props] if "MetricName" in props else [m["MetricStat"]["Metric"] for m in props["Metrics"]]
        for stat in stats:
            dimensions = {d["Name"]: resolve_join(d["Value"]) for d in stat.get("Dimensions", [])}
            yield logical_id, MetricRef.of(stat["Namespace"], stat["MetricName"], dimensions)


def placeholder(value: Any) -> str:
    """An intrinsic as text: {"Ref": X} -> ${X}, {"Fn::GetAtt": [X, "Arn"]} -> ${X.Arn}."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return "${" + str(value["Ref"]) + "}"
    if "Fn::GetAtt" in value:
        return "${" + ".".join(value["Fn::GetAtt"]) + "}"
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(placeholder(part) for part in parts)
    return "${?}"


def state_machine_definition(synthesized: Synthesized) -> dict[str, Any]:
    """The state machine's DefinitionString, parsed, with each intrinsic as a ${...} placeholder."""
    machine = synthesized.only("AWS::StepFunctions::StateMachine")
    definition: dict[str, Any] = json.loads(placeholder(machine["Properties"]["DefinitionString"]))
    return definition


def policy_statements(synthesized: Synthesized) -> Iterator[tuple[str, dict[str, Any]]]:
    """(policy logical id, statement) of every IAM policy, resources as ${...} text, always lists."""
    for logical_id, policy in synthesized.resources("AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            yield (
                logical_id,
                {**statement, "Action": actions, "Resource": [placeholder(r) for r in resources]},
            )


def cfn_lint(template: Path) -> subprocess.CompletedProcess[str]:
    """cfn-lint on a synthesized template, with the project's rules (infra/cfn-lint.yaml)."""
    return subprocess.run(
        [CFN_LINT, "--config-file", str(CFN_LINT_CONFIG), "--", str(template)],
        capture_output=True,
        text=True,
        check=False,
    )


def nag_findings(app: App, outdir: Path) -> set[tuple[str, str]]:
    """(construct path, rule) of every cdk-nag finding when `app` synthesizes: for apps built with
    acknowledgements switched off, so that synth must fail and report them."""
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report: dict[str, Any] = json.loads((outdir / "validation-report.json").read_text())
    return {
        (construct["constructPath"], violation["ruleName"])
        for plugin in report["pluginReports"]
        for violation in plugin["violations"]
        for construct in violation["violatingConstructs"]
    }
