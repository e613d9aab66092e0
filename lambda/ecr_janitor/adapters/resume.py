"""Where the previous run stopped, per region: one SSM parameter the Lambda reads and writes.

When a registry is too large for one invocation, the run stops starting repositories before the
timeout; the next run starts at the first repository it did not reach, so every repository is
visited regularly however large the registry.

Why fan-out keeps its own carry-over (run.fanout.store) instead: one name per region fits this small
parameter and needs no bucket, while fan-out must carry every name its parallel workers did not reach.
"""

from __future__ import annotations

import json
from typing import Any

from ecr_janitor.adapters.clients import AWS_ERRORS, error_code
from ecr_janitor.observability import logger


class ResumeState:
    def __init__(self, client: Any, parameter: str) -> None:
        self._client = client
        self.parameter = parameter

    def load(self) -> dict[str, str]:
        """Region -> repository to start with; empty (from the beginning) when unknown or unreadable."""
        try:
            text = self._client.get_parameter(Name=self.parameter)["Parameter"]["Value"]
        except AWS_ERRORS as error:
            if error_code(error) != "ParameterNotFound":
                logger.warning("resume state unreadable; starting from the first repository", exc_info=True)
            return {}
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError:
            loaded = None
        if not isinstance(loaded, dict):
            logger.warning("resume state is not a JSON object; starting from the first repository")
            return {}
        return {str(region): name for region, name in loaded.items() if isinstance(name, str)}

    def save(self, resume: dict[str, str]) -> None:
        """Failing to save only means the next run starts from the beginning again."""
        try:
            self._client.put_parameter(
                Name=self.parameter, Value=json.dumps(resume, sort_keys=True), Type="String", Overwrite=True
            )
        except AWS_ERRORS:
            logger.error(
                "resume state not saved; the next run starts from the first repository", exc_info=True
            )
