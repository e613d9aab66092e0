"""The SDK the function runs with is the pinned one it was tested with: staged into the asset from the
build environment, checked against constraints.txt, trimmed to the services the code uses, and loaded
from the asset ahead of anything else on Lambda's path."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from ecr_janitor.config import Config
from ecr_janitor.constants import AWS_SERVICES
from infra.package import stage_function_code
from infra.sdk import (
    BOTOCORE_SHARED_DATA,
    KEPT_SERVICES,
    SDK_DISTRIBUTIONS,
    SdkPinError,
    normalized,
    pinned_versions,
    stage_sdk,
)

ROOT = Path(__file__).resolve().parents[2]
SITE_PACKAGES = Path(str(importlib.metadata.distribution("pydantic").locate_file("")))
LAYER_PACKAGES = (
    "aws_lambda_powertools",
    "aws_xray_sdk",
    "wrapt",
    "pydantic",
    "pydantic_core",
    "annotated_types",
    "typing_extensions.py",
    "typing_inspection",
)
"""What the public Powertools layer provides (Powertools with the tracer's X-Ray SDK, pydantic): the
function's imports besides the asset. Deliberately no boto3, botocore or their dependencies."""


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory, shipped_config: Config) -> Path:
    return stage_function_code(shipped_config, destination=tmp_path_factory.mktemp("asset") / "code")


@pytest.fixture(scope="module")
def layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory like the layer's /opt/python: links to the venv's non-AWS-SDK packages only."""
    directory = tmp_path_factory.mktemp("layer")
    for name in LAYER_PACKAGES:
        (directory / name).symlink_to(SITE_PACKAGES / name)
    return directory


def _closure(name: str, seen: set[str]) -> set[str]:
    """`name` and everything it requires to run (no extras), by the installed metadata."""
    key = normalized(name)
    if key in seen:
        return seen
    seen.add(key)
    for line in importlib.metadata.requires(name) or ():
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            _closure(requirement.name, seen)
    return seen


def test_the_shipped_distributions_are_boto3_and_all_it_needs() -> None:
    assert {normalized(name) for name in SDK_DISTRIBUTIONS} == _closure("boto3", set())


def test_every_shipped_distribution_is_pinned_and_installed_at_its_pin() -> None:
    pins = pinned_versions()
    for name in SDK_DISTRIBUTIONS:
        assert importlib.metadata.version(name) == pins[normalized(name)], name
    assert pins["boto3"] == pins["botocore"]  # boto3 and botocore are released in lockstep


def test_a_drifted_build_environment_stops_synth(tmp_path: Path) -> None:
    constraints = tmp_path / "constraints.txt"
    text = (ROOT / "constraints.txt").read_text()
    installed = importlib.metadata.version("botocore")
    constraints.write_text(text.replace(f"botocore=={installed}", "botocore==1.0.0"))
    with pytest.raises(
        SdkPinError, match=rf"botocore {installed} is installed but constraints.txt pins 1.0.0"
    ):
        stage_sdk(tmp_path / "asset", constraints=constraints)
    assert not (tmp_path / "asset").exists()


def test_the_asset_keeps_only_the_service_models_the_function_uses(staged: Path) -> None:
    data = staged / "botocore" / "data"
    assert {p.name for p in data.iterdir()} == {*AWS_SERVICES, "xray", *BOTOCORE_SHARED_DATA}
    assert not list(staged.rglob("__pycache__"))
    assert not list(staged.rglob("RECORD"))


def test_the_asset_is_small(staged: Path) -> None:
    size = sum(p.stat().st_size for p in staged.rglob("*") if p.is_file())
    assert size < 12 * 1024 * 1024  # 7.1 MB: botocore without the other services' models


def test_every_client_the_code_makes_is_for_a_service_the_asset_keeps() -> None:
    """A client for a service whose model was trimmed would fail in Lambda only: find them all in the code
    (string literals passed as the service to clients.client or to a client factory)."""
    found: set[str] = set()
    for path in (ROOT / "lambda" / "ecr_janitor").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
                function = node.func
                name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
                if name in ("client", "client_for", "_client_for") and isinstance(node.args[0].value, str):
                    found.add(node.args[0].value)
    assert found  # the scan sees the code's clients
    assert found <= set(AWS_SERVICES), found - set(AWS_SERVICES)
    assert {"ecr", "ecs", "lambda", "batch", "ssm", "s3", "stepfunctions"} <= found


def test_the_handler_runs_on_the_assets_sdk_alone(staged: Path, layer: Path, tmp_path: Path) -> None:
    """Python without site-packages, the asset then the layer on the path, as Lambda arranges them: the
    handler imports (with the layer's X-Ray SDK as its tracer, as in Lambda), a client of every service is
    created, and botocore/boto3 are the asset's, pinned."""
    script = f"""
import json, sys
sys.path[:0] = [{str(staged)!r}, {str(layer)!r}]
import ecr_janitor.handler
from ecr_janitor.adapters import clients
import boto3, botocore, urllib3, dateutil, jmespath, s3transfer
made = {{service: type(clients.client(service, "eu-west-1")).__name__ for service in {list(KEPT_SERVICES)!r}}}
print(json.dumps({{
    "modules": {{m.__name__: m.__file__ for m in (boto3, botocore, urllib3, dateutil, jmespath, s3transfer)}},
    "versions": {{"boto3": boto3.__version__, "botocore": botocore.__version__}},
    "clients": made,
    "handler": ecr_janitor.handler.__file__,
    "tracer": type(ecr_janitor.handler.tracer.provider).__module__,
}}))
"""
    result = subprocess.run(
        [sys.executable, "-S", "-c", script],
        env={"AWS_DEFAULT_REGION": "eu-west-1", "PATH": "", "LAMBDA_TASK_ROOT": str(staged)},
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.splitlines()[-1])
    for module, location in found["modules"].items():
        assert location.startswith(str(staged)), (module, location)
    assert found["handler"].startswith(str(staged))
    pins = pinned_versions()
    assert found["versions"] == {"boto3": pins["boto3"], "botocore": pins["botocore"]}
    assert set(found["clients"]) == {*AWS_SERVICES, "xray"}
    assert found["tracer"].startswith("aws_xray_sdk.core")


def test_without_the_asset_the_sdk_is_missing(layer: Path, tmp_path: Path) -> None:
    """Control: the layer alone has no botocore, so the test above can only pass on the asset's."""
    result = subprocess.run(
        [sys.executable, "-S", "-c", f"import sys; sys.path[:0] = [{str(layer)!r}]; import botocore"],
        env={"PATH": ""},
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "No module named 'botocore'" in result.stderr
