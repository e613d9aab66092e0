"""The command line: validate | plan | run | restore. `plan` never writes; `run` is what the nightly Lambda
does; `restore` brings archived images back (it only ever makes images pullable again)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from ecr_janitor.adapters import clients
from ecr_janitor.config import Config, ConfigError, load_config
from ecr_janitor.observability import logger
from ecr_janitor.outputs.progress import ProgressPrinter
from ecr_janitor.outputs.render import report_json, report_text
from ecr_janitor.outputs.restore import restore_json, restore_text
from ecr_janitor.run import janitor, restore

EXIT_OK = 0
EXIT_FAILURES = 1
EXIT_INVALID = 2
"""Nothing was done: an invalid config or argument, no region, or no AWS credentials."""

NO_CREDENTIALS = (
    "no AWS credentials found: set AWS_PROFILE (after `aws sso login` if it is an SSO profile) or "
    "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; nothing was done"
)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logger.setLevel(args.log_level)
    if args.command == "restore":
        return restore_command(args)
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
    if not clients.has_credentials():
        print(NO_CREDENTIALS, file=sys.stderr)
        return EXIT_INVALID
    show_progress = sys.stderr.isatty() if args.progress is None else args.progress
    if show_progress:
        request = replace(request, progress=ProgressPrinter(sys.stderr))
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
        epilog="Exit codes: 0 done; 1 finished with failures; 2 nothing done (invalid config or arguments, "
        "no region, no AWS credentials).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    helps = {
        "validate": "check the config and exit; makes no AWS call",
        "plan": "show what a run would do; never deletes or writes",
        "run": "what the nightly Lambda does; deletes and archives only when the config says dryRun: false",
    }
    for name, text in helps.items():
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("--config", required=True, metavar="FILE", help="YAML or JSON config")
        _log_level(sub)
        if name != "validate":
            sub.add_argument("--region", help="only this region (default: the config's regions)")
            sub.add_argument("--json", action="store_true", help="print the machine report on stdout")
            sub.add_argument(
                "--progress",
                action=argparse.BooleanOptionalAction,
                default=None,
                help="per region, repositories done of those listed, on stderr every few seconds "
                "(default: when stderr is a terminal)",
            )
    add_restore_parser(commands)
    return parser


def _log_level(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="level of the JSON log lines on stderr (default INFO: one per repository and deletion)",
    )


# -- restore -------------------------------------------------------------------------------------------

RESTORE_HELP = (
    "bring archived images back to ECR's standard class (pullable within about 20 minutes): one image "
    "and what follows it, or everything one run archived; writes even without the config's dryRun: false"
)
RESTORE_EPILOG = """examples:
  restore --repository payments/api --digest sha256:...   one image, with its platform images and signatures
  restore --repository payments/api --tag v1.4.0
  restore --run RUN_ID --from report.json                 what a run archived, from `run --json` output
  restore --run RUN_ID --from audit.jsonl                 ... or from its audit log lines (CLI stderr,
                                                          aws logs filter-log-events --output json)
  restore --run RUN_ID --log-group /aws/lambda/NAME       ... or straight from the function's log group
--run restores the images of the credentials' account only; those of another account the run cleaned
are listed (other-account): run the same restore with that account's credentials.
Exit codes: 0 every image restored or already active; 1 some not found, refused or in another account;
2 invalid arguments, a run whose archives can't be read, or credentials whose account STS won't tell,
nothing done."""


def add_restore_parser(commands: Any) -> None:
    sub = commands.add_parser(
        "restore",
        help=RESTORE_HELP,
        description=RESTORE_HELP,
        epilog=RESTORE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub.add_argument("--repository", help="the repository of the image to restore")
    which = sub.add_mutually_exclusive_group()
    which.add_argument("--digest", help="the image's digest (sha256:...)")
    which.add_argument("--tag", help="one of the image's tags")
    sub.add_argument("--run", metavar="RUN_ID", help="restore every image this run archived")
    source = sub.add_mutually_exclusive_group()
    source.add_argument(
        "--from", dest="source", metavar="FILE", help="the run's --json report or audit log lines"
    )
    source.add_argument("--log-group", metavar="NAME", help="read the run's audit lines from this log group")
    sub.add_argument(
        "--region", help="the repository's (or the log group's) region (default: AWS_DEFAULT_REGION)"
    )
    sub.add_argument("--config", metavar="FILE", help="the config, for its rate limit and restoreGraceDays")
    sub.add_argument("--dry-run", action="store_true", help="only show what would be restored")
    sub.add_argument("--json", action="store_true", help="print the machine result on stdout")
    _log_level(sub)


def restore_command(args: argparse.Namespace) -> int:
    config: Config | None = None
    if args.config:
        try:
            config = load_config(args.config)
        except ConfigError as error:
            print(error, file=sys.stderr)
            return EXIT_INVALID
    try:
        report = restore.from_arguments(
            config,
            repository=args.repository,
            digest=args.digest,
            tag=args.tag,
            run_id=args.run,
            source=args.source,
            log_group=args.log_group,
            region=args.region,
            dry_run=args.dry_run,
        )
    except restore.RestoreRequestError as error:
        print(f"restore: {error}; nothing was restored", file=sys.stderr)
        return EXIT_INVALID
    if args.json:
        json.dump(restore_json(report), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(restore_text(report))
    return EXIT_OK if report.ok else EXIT_FAILURES
