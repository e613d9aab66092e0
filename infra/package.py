"""The function's code asset, without Docker: the `ecr_janitor` package, the pinned AWS SDK (infra/sdk.py)
and the validated config as JSON.

Powertools (with pydantic) comes from the public layer. Everything in the asset is pure Python, copied
from the build environment. The config is written from the validated model, so the deployed function
reads exactly what `cdk synth` checked; a change to the config changes the asset hash and so the function.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import ecr_janitor
from ecr_janitor.config import Config, parse_config
from ecr_janitor.constants import CONFIG_FILE_NAME
from infra.sdk import stage_sdk

PACKAGE_DIR = Path(ecr_janitor.__file__).resolve().parent
PACKAGE_NAME = PACKAGE_DIR.name


def config_document(config: Config) -> str:
    """The config as the deployed function reads it: JSON, stable key order, checked to round-trip."""
    # Only what the user wrote: defaults come from the same code in the asset, and a key that only applies
    # to one mode (onDrift) must not appear on a target of the other.
    document = config.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_unset=True)
    if parse_config(document, f"<{CONFIG_FILE_NAME}>") != config:
        raise RuntimeError(f"the config does not survive its conversion to {CONFIG_FILE_NAME}; this is a bug")
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def stage_function_code(config: Config, *, destination: Path) -> Path:
    """Write the asset directory (replacing whatever was there) and return it."""
    if destination.exists():
        shutil.rmtree(destination)
    destination.mkdir(parents=True)
    shutil.copytree(
        PACKAGE_DIR,
        destination / PACKAGE_NAME,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*"),
    )
    stage_sdk(destination)
    (destination / CONFIG_FILE_NAME).write_text(config_document(config), encoding="utf-8")
    return destination
