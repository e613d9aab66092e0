"""Shared fixtures for the CDK tests: synthesized stacks (cdk-nag included) and their parsed parts.

Synthesis takes seconds, so each distinct stack is synthesized once per session. Staging directories
and cloud assemblies go to pytest's tmp dirs, never into the repository.
"""

from __future__ import annotations

import json
import os
from typing import Any

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import pytest
from aws_cdk import App, Validations
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks

from ecr_janitor.config import Config, load_config, parse_config
from infra.member_stack import EcrJanitorMemberRoleStack
from infra.package import stage_function_code
from infra.settings import DEFAULT_SCHEDULE, DEFAULT_SCHEDULE_TIMEZONE, FanOutSettings, VpcSettings
from infra.stack import EcrJanitorStack
from tests.infra.cdk_support import (
    MINIMAL_CONFIG,
    ROOT,
    SHIPPED_CONFIG,
    Synth,
    Synthesized,
    dashboard_body,
)


@pytest.fixture(scope="session")
def shipped_config() -> Config:
    return load_config(SHIPPED_CONFIG)


@pytest.fixture(scope="session")
def minimal_config() -> Config:
    return parse_config(MINIMAL_CONFIG, "<test>")


CDK_CONTEXT: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]
"""The context `npx cdk synth` gets from cdk.json (the feature flags), so tests see the same template."""


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory, shipped_config: Config) -> Synth:
    """Synthesize the stack with cdk-nag's AwsSolutions checks; any unacknowledged finding raises."""
    cache: dict[
        tuple[str, str, str, str | None, FanOutSettings | None, tuple[str, ...], VpcSettings | None],
        Synthesized,
    ] = {}

    def build(
        config: Config | None = None,
        *,
        schedule: str = DEFAULT_SCHEDULE,
        schedule_timezone: str = DEFAULT_SCHEDULE_TIMEZONE,
        alarm_email: str | None = None,
        fan_out: FanOutSettings | None = None,
        eks_clusters: tuple[str, ...] = (),
        vpc: VpcSettings | None = None,
    ) -> Synthesized:
        config = config or shipped_config
        key = (config.model_dump_json(), schedule, schedule_timezone, alarm_email, fan_out, eks_clusters, vpc)
        if key not in cache:
            work = tmp_path_factory.mktemp("synth")
            app = App(outdir=str(work / "cdk.out"), context=CDK_CONTEXT)
            stack = EcrJanitorStack(
                app,
                config=config,
                code_dir=stage_function_code(config, destination=work / "code"),
                schedule=schedule,
                schedule_timezone=schedule_timezone,
                alarm_email=alarm_email,
                fan_out=fan_out,
                eks_clusters=eks_clusters,
                vpc=vpc,
            )
            Validations.of(app).add_plugins(AwsSolutionsChecks(app))
            cache[key] = Synthesized(stack, Template.from_stack(stack), work / "cdk.out")
        return cache[key]

    return build


@pytest.fixture(scope="session")
def default(synth: Synth) -> Synthesized:
    """The stack `npx cdk synth` builds: the shipped config, the default schedule, no e-mail."""
    return synth()


@pytest.fixture(scope="session")
def fanned(synth: Synth) -> Synthesized:
    """The stack `npx cdk synth -c fanOut=true` builds: the shipped config, default fan-out settings."""
    return synth(fan_out=FanOutSettings())


@pytest.fixture(scope="session")
def dashboard(default: Synthesized) -> dict[str, Any]:
    """The default stack's dashboard body, parsed."""
    return dashboard_body(default)


@pytest.fixture(scope="session")
def member(tmp_path_factory: pytest.TempPathFactory, shipped_config: Config) -> Synthesized:
    """The stack EcrJanitorMemberRole, synthesized with cdk-nag as `npx cdk synth` does."""
    outdir = tmp_path_factory.mktemp("member") / "cdk.out"
    app = App(outdir=str(outdir))
    stack = EcrJanitorMemberRoleStack(app, config=shipped_config)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return Synthesized(stack, Template.from_stack(stack), outdir)
