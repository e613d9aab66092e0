"""cdk.json adopts aws-cdk-lib's recommended feature flags, exactly as the installed release recommends
them (the list `cdk init` writes and `cdk flags` checks), so new projects' defaults apply here too."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

import aws_cdk

from tests.infra.cdk_support import ROOT
from tests.infra.conftest import CDK_CONTEXT


def _recommended() -> dict[str, Any]:
    """recommended-feature-flags.json of the aws-cdk-lib package jsii loads (inside the Python wheel)."""
    (tarball,) = (Path(aws_cdk.__file__).parent / "_jsii").glob("aws-cdk-lib@*.jsii.tgz")
    with tarfile.open(tarball) as package:
        member = package.extractfile("package/recommended-feature-flags.json")
        assert member is not None
        flags: dict[str, Any] = json.load(member)
    return flags


def test_every_recommended_flag_is_set_to_its_recommended_value() -> None:
    recommended = _recommended()
    assert len(recommended) > 80
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    assert {flag: context.get(flag) for flag in recommended} == recommended


def test_the_template_tests_synthesize_with_the_same_flags() -> None:
    assert json.loads((ROOT / "cdk.json").read_text())["context"] == CDK_CONTEXT
