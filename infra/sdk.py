"""The AWS SDK the function runs with is the one it was tested with: the pinned boto3 and botocore (and
what they need) copied from the build environment into the code asset, without Docker.

The Lambda runtime has a boto3 of its own, of whatever version AWS last put there; the janitor sends
parameters (DescribeImages' `filter.imageStatus`, ECR's archive calls) that an older botocore refuses
before the call. Lambda puts the code asset (/var/task) first on sys.path, so the copy here wins. The
distributions are pure Python, so the build machine's files run on Lambda's arm64 Python as they are.
Their versions are checked against constraints.txt at every synth: a venv that drifted from the pins
stops synth with a clear error instead of shipping an untested SDK.

botocore carries the models of every AWS service (about 25 MB); the asset keeps those of
`ecr_janitor.constants.AWS_SERVICES`, those the layer's libraries use, and the shared files a client
needs.
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
from pathlib import Path

from ecr_janitor.constants import AWS_SERVICES

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / "constraints.txt"

SDK_DISTRIBUTIONS = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3")
"""boto3 and everything it needs to run (their Requires-Dist without extras); a test derives this set
from the installed metadata, so a new dependency of a new pin is noticed."""

LIBRARY_SERVICES = ("xray",)
"""Services the layer's libraries make clients for on the botocore shipped here: the X-Ray SDK (the
tracer) creates an `xray` client for its sampling rules as soon as it is imported."""
KEPT_SERVICES = (*AWS_SERVICES, *LIBRARY_SERVICES)

BOTOCORE_SHARED_DATA = ("endpoints.json", "partitions.json", "sdk-default-configuration.json", "_retry.json")
"""botocore/data files every client loads: the legacy endpoint resolver, partitions for the endpoint
rules, defaults modes and the retry configuration. The rest of botocore/data is one folder per service."""


class SdkPinError(RuntimeError):
    """The build environment's SDK is not the pinned one; nothing is staged."""


def pinned_versions(constraints: Path = CONSTRAINTS) -> dict[str, str]:
    """`name==version` lines of constraints.txt, by normalized name (PEP 503)."""
    pins: dict[str, str] = {}
    for line in constraints.read_text(encoding="utf-8").splitlines():
        requirement = line.split("#", 1)[0].strip()
        if "==" in requirement:
            name, version = (part.strip() for part in requirement.split("==", 1))
            pins[normalized(name)] = version
    return pins


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def stage_sdk(destination: Path, *, constraints: Path = CONSTRAINTS) -> None:
    """Copy the pinned SDK distributions into `destination` (the asset root), trimmed; raise SdkPinError
    when an installed version differs from its pin."""
    pins = pinned_versions(constraints)
    distributions = [importlib.metadata.distribution(name) for name in SDK_DISTRIBUTIONS]
    wrong = [
        f"{name} {dist.version} is installed but {constraints.name} pins {pin or 'nothing'}"
        for name, dist in zip(SDK_DISTRIBUTIONS, distributions, strict=True)
        if (pin := pins.get(normalized(name))) != dist.version
    ]
    if wrong:
        raise SdkPinError(
            "the function ships the pinned AWS SDK, and the build environment's differs: "
            + "; ".join(wrong)
            + " (run `make install`, or pin the versions you mean in constraints.txt)"
        )
    for dist in distributions:
        for file in dist.files or ():
            if _shipped(file.parts):
                target = destination / Path(*file.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(Path(str(file.locate())), target)


def _shipped(parts: tuple[str, ...]) -> bool:
    if parts[0] == ".." or "__pycache__" in parts or parts[-1].endswith(".pyc"):
        return False  # scripts outside site-packages, byte code Lambda's Python compiles itself
    if parts[0].endswith(".dist-info"):
        return parts[-1] in ("METADATA", "top_level.txt")  # importlib.metadata works; RECORD would lie
    if parts[:2] == ("botocore", "data") and len(parts) > 2:
        return parts[2] in BOTOCORE_SHARED_DATA or parts[2] in KEPT_SERVICES
    return True
