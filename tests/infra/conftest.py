"""Shared fixtures for the CDK tests: synthesized stacks (cdk-nag included) and their parsed parts.

Synthesis takes seconds, so each distinct stack is synthesized once per session. Staging directories
and cloud assemblies go to pytest's tmp dirs, never into the repository.
"""

from __future__ import annotations

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
from infra.settings import DEFAULT_SCHEDULE, FanOutSettings
from infra.stack import EcrJanitorStack
from tests.infra.cdk_support import (
    MINIMAL_CONFIG,
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


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory, shipped_config: Config) -> Synth:
    """Synthesize the stack with cdk-nag's AwsSolutions checks; any unacknowledged finding raises."""
    cache: dict[tuple[str, str, str | None, FanOutSettings | None], Synthesized] = {}

    def build(
        config: Config | None = None,
        *,
        schedule: str = DEFAULT_SCHEDULE,
        alarm_email: str | None = None,
        fan_out: FanOutSettings | None = None,
    ) -> Synthesized:
        config = config or shipped_config
        key = (config.model_dump_json(), schedule, alarm_email, fan_out)
        if key not in cache:
            work = tmp_path_factory.mktemp("synth")
            app = App(outdir=str(work / "cdk.out"))
            stack = EcrJanitorStack(
                app,
                config=config,
                code_dir=stage_function_code(config, destination=work / "code"),
                schedule=schedule,
                alarm_email=alarm_email,
                fan_out=fan_out,
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
def member(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The stack EcrJanitorMemberRole, synthesized with cdk-nag as `npx cdk synth` does."""
    outdir = tmp_path_factory.mktemp("member") / "cdk.out"
    app = App(outdir=str(outdir))
    stack = EcrJanitorMemberRoleStack(app)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return Synthesized(stack, Template.from_stack(stack), outdir)
