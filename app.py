#!/usr/bin/env python3
"""The CDK app: validate the janitor's config, stage the function code with it, build the stack.

    npx cdk synth                          # ecr-janitor.yaml, nightly at 03:00 UTC; both stacks
    npx cdk deploy EcrJanitor -c schedule="cron(0 3 * * ? *)" -c scheduleTimezone=Europe/Berlin
    npx cdk deploy EcrJanitor -c config=other.yaml -c schedule="cron(30 1 * * ? *)" -c alarmEmail=me@x.org
    npx cdk deploy EcrJanitor -c fanOut=true -c fanOutConcurrency=4   # very large registries: fan-out

Two stacks: EcrJanitor (the janitor itself) and EcrJanitorMemberRole (the role other accounts give it:
a plain template for a CloudFormation StackSet, cdk.out/EcrJanitorMemberRole.template.json).

An invalid config or context value stops synth with the same message `python -m ecr_janitor validate`
prints, and exit code 2, before anything is built. No lookups, no AWS calls: it synthesizes offline.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "lambda"))  # `lambda` is a keyword: the package dir can't be imported as one.
sys.path.insert(1, str(ROOT))

from aws_cdk import App, Validations  # noqa: E402
from cdk_nag import AwsSolutionsChecks  # noqa: E402

from ecr_janitor.config import ConfigError, load_config  # noqa: E402
from infra.member_stack import EcrJanitorMemberRoleStack  # noqa: E402
from infra.package import stage_function_code  # noqa: E402
from infra.settings import SettingsError, check_against_config, settings_from_context  # noqa: E402
from infra.stack import EcrJanitorStack  # noqa: E402

EXIT_INVALID = 2
EXIT_FINDINGS = 1


def main() -> int:
    app = App()
    try:
        settings = settings_from_context(app.node.try_get_context)
        config = load_config(settings.config_path)
        check_against_config(settings, reads_eks=config.protect.reads_eks)
    except (ConfigError, SettingsError) as error:
        print(error, file=sys.stderr)
        return EXIT_INVALID
    # The asset is copied into the cloud assembly during synth; the staging directory isn't needed after.
    with tempfile.TemporaryDirectory(prefix="ecr-janitor-asset-") as staging:
        EcrJanitorStack(
            app,
            config=config,
            code_dir=stage_function_code(config, destination=Path(staging) / "code"),
            schedule=settings.schedule,
            schedule_timezone=settings.schedule_timezone,
            alarm_email=settings.alarm_email,
            fan_out=settings.fan_out,
            eks_clusters=settings.eks_clusters,
            vpc=settings.vpc,
        )
        EcrJanitorMemberRoleStack(app, config=config)
        Validations.of(app).add_plugins(AwsSolutionsChecks(app))
        try:
            app.synth()
        except RuntimeError as error:
            if "ValidationFailed" not in str(error):
                raise
            # The report (rule, resource, how to acknowledge) is already printed above.
            print(f"cdk-nag found unacknowledged problems: {error}", file=sys.stderr)
            return EXIT_FINDINGS
    return 0


if __name__ == "__main__":
    sys.exit(main())
