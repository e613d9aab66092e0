"""The command line: validate | plan | run. `plan` never writes; `run` is what the nightly Lambda does."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from ecr_janitor.config import Config, ConfigError, load_config
from ecr_janitor.observability import logger
from ecr_janitor.outputs.render import report_json, report_text
from ecr_janitor.run import janitor

EXIT_OK = 0
EXIT_FAILURES = 1
EXIT_INVALID = 2


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logger.setLevel(args.log_level)
    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return EXIT_INVALID
    if args.command == "validate":
        print(_validated(args.config, config))
        return EXIT_OK

    try:
        request = janitor.begin(
            config,
            command=args.command,
            now=datetime.now(UTC),
            forced_dry_run=args.command == "plan",
            forced_by="plan never deletes",
            region=args.region,
        )
    except janitor.NoRegionError as error:
        print(error, file=sys.stderr)
        return EXIT_INVALID
    report = janitor.run_on_aws(config, request)
    if args.json:
        json.dump(report_json(report), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(report_text(report, config))
    return EXIT_FAILURES if report.has_failures else EXIT_OK


def _validated(path: str, config: Config) -> str:
    targets = ", ".join(f"[{i}] {t.mode} {t.label}" for i, t in enumerate(config.targets))
    regions = ", ".join(config.regions) if config.regions else "the current region"
    text = f"{path}: valid. dryRun {str(config.dry_run).lower()}; regions: {regions}; targets: {targets}"
    if config.accounts is not None:
        text += f"; registries of: {config.accounts.describe()}"
    if config.protect.consumer_accounts is not None:
        text += f"; workloads also read in: {config.protect.consumer_accounts.describe()}"
    if config.access_role is not None:
        text += f" (through role {config.access_role.name})"
    return text


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ecr_janitor",
        description="Keep Amazon ECR repositories tidy without deleting what is still needed.",
        epilog="Exit codes: 0 done; 1 finished with failures; 2 invalid config or arguments, nothing done.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    helps = {
        "validate": "check the config and exit; makes no AWS call",
        "plan": "show what a run would do; never deletes or writes",
        "run": "what the nightly Lambda does; deletes only when the config says dryRun: false",
    }
    for name, text in helps.items():
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("--config", required=True, metavar="FILE", help="YAML or JSON config")
        sub.add_argument(
            "--log-level",
            default="INFO",
            choices=["DEBUG", "INFO", "WARNING", "ERROR"],
            help="level of the JSON log lines on stderr (default INFO: one per repository and deletion)",
        )
        if name != "validate":
            sub.add_argument("--region", help="only this region (default: the config's regions)")
            sub.add_argument("--json", action="store_true", help="print the machine report on stdout")
    return parser
