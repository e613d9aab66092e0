"""The tracer: the X-Ray SDK in Lambda, nothing outside it (where Powertools disables tracing, and the
SDK's import alone would create X-Ray clients). Each case imports the package in a fresh interpreter, as
a Lambda cold start or a CLI start does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

LAMBDA_CODE = Path(__file__).resolve().parents[2] / "lambda"
PROBE = """
import json, sys
from ecr_janitor import handler, observability

@observability.tracer.capture_method
def traced(value):
    return value * 2

print(json.dumps({
    "xray_imported": "aws_xray_sdk.core" in sys.modules,
    "provider": type(observability.tracer.provider).__name__,
    "disabled": bool(observability.tracer.disabled),
    "traced": traced(21),
}))
"""


def probe(**env: str) -> dict[str, object]:
    clean = {
        k: v for k, v in os.environ.items() if k not in ("LAMBDA_TASK_ROOT", "POWERTOOLS_TRACE_DISABLED")
    }
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**clean, "PYTHONPATH": str(LAMBDA_CODE), "AWS_DEFAULT_REGION": "eu-west-1", **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    found: dict[str, object] = json.loads(result.stdout.splitlines()[-1])
    return found


def test_outside_lambda_the_xray_sdk_is_not_even_imported() -> None:
    found = probe()
    assert found == {"xray_imported": False, "provider": "_Untraced", "disabled": True, "traced": 42}


def test_in_lambda_the_tracer_is_the_xray_sdks() -> None:
    found = probe(LAMBDA_TASK_ROOT="/var/task")
    expected = {"xray_imported": True, "provider": "AsyncAWSXRayRecorder", "disabled": False, "traced": 42}
    assert found == expected
