"""The code asset: the package plus the validated config, readable by the function without PyYAML."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import FileSystem

from ecr_janitor.config import Config, load_config, parse_config
from ecr_janitor.constants import CONFIG_FILE_NAME
from infra.package import PACKAGE_DIR, config_document, stage_function_code
from infra.sdk import normalized, pinned_versions
from tests.factories import config_document as config_document_of_tests


def _files(directory: Path) -> set[str]:
    return {str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file()}


PINS = pinned_versions()
SDK_TOP_LEVEL = {
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "dateutil",
    "six.py",
    "urllib3",
    *(
        f"{name}-{PINS[normalized(name)]}.dist-info"
        for name in ("boto3", "botocore", "s3transfer", "jmespath", "python_dateutil", "six", "urllib3")
    ),
}


def test_asset_holds_the_package_the_pinned_sdk_and_the_config(
    shipped_config: Config, tmp_path: Path
) -> None:
    staged = stage_function_code(shipped_config, destination=tmp_path / "code")
    sources = {f"ecr_janitor/{p.relative_to(PACKAGE_DIR).as_posix()}" for p in PACKAGE_DIR.rglob("*.py")}
    assert "ecr_janitor/handler.py" in sources
    files = _files(staged)
    assert {f for f in files if f.startswith("ecr_janitor/")} == sources
    assert {f.split("/")[0] for f in files} == {CONFIG_FILE_NAME, "ecr_janitor", *SDK_TOP_LEVEL}
    assert (staged / CONFIG_FILE_NAME).read_text() == config_document(shipped_config)


def test_the_function_reads_back_exactly_the_validated_config(shipped_config: Config, tmp_path: Path) -> None:
    staged = stage_function_code(shipped_config, destination=tmp_path / "code")
    assert load_config(staged / CONFIG_FILE_NAME) == shipped_config


def test_staging_again_replaces_what_was_there(shipped_config: Config, tmp_path: Path) -> None:
    destination = tmp_path / "code"
    destination.mkdir()
    (destination / "stale.py").write_text("")
    stage_function_code(shipped_config, destination=destination)
    assert "stale.py" not in _files(destination)


def test_asset_hash_follows_the_config(
    shipped_config: Config, minimal_config: Config, tmp_path: Path
) -> None:
    def fingerprint(config: Config, name: str) -> str:
        return FileSystem.fingerprint(str(stage_function_code(config, destination=tmp_path / name)))

    assert fingerprint(shipped_config, "a") == fingerprint(shipped_config, "b")
    assert fingerprint(shipped_config, "a") != fingerprint(minimal_config, "c")


def test_staged_handler_imports_and_reads_its_config_without_pyyaml(
    shipped_config: Config, tmp_path: Path
) -> None:
    """Lambda has Powertools + pydantic (layer) and the asset's boto3, not PyYAML."""
    staged = stage_function_code(shipped_config, destination=tmp_path / "code")
    script = (
        "import sys; sys.modules['yaml'] = None\n"
        "import ecr_janitor.handler as h\n"
        "from ecr_janitor.config import load_config\n"
        "assert h.__file__.startswith(sys.argv[1]), h.__file__\n"
        "load_config(h.config_path())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(staged)],
        env={"PYTHONPATH": str(staged), "ECR_JANITOR_CONFIG": str(staged / CONFIG_FILE_NAME), "PATH": ""},
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "accounts",
    [["111122223333", "012345678901"], "organization", {"organization": {"ous": ["ou-ab12-cdef3456"]}}],
)
def test_account_lists_reach_the_function_as_written(accounts: Any, tmp_path: Path) -> None:
    config = parse_config(
        {
            **config_document_of_tests(),
            "accessRole": {"externalId": "ecr-janitor-7f3a"},
            "accounts": accounts,
            "protect": {"consumerAccounts": accounts},
        }
    )
    document = json.loads(config_document(config))  # raises if it does not read back the same
    assert document["accounts"] == accounts
    assert document["protect"]["consumerAccounts"] == accounts
    staged = stage_function_code(config, destination=tmp_path / "code")
    assert load_config(staged / CONFIG_FILE_NAME) == config
