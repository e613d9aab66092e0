"""boto3 clients configured the same way everywhere: adaptive retries and a recognisable user agent."""

from __future__ import annotations

from typing import Any

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ecr_janitor import __version__

MAX_ATTEMPTS = 10
AWS_ERRORS = (ClientError, BotoCoreError)
"""What an AWS call raises when AWS (or the way to it) fails, as opposed to a bug."""

CLIENT_CONFIG = Config(
    retries={"mode": "adaptive", "max_attempts": MAX_ATTEMPTS},
    user_agent_appid=f"ecr-janitor-{__version__}",
    max_pool_connections=50,
)


_AWS_ENDPOINT = Config(ignore_configured_endpoint_urls=True)

# Parsing botocore's service models is most of the cost of a new client; a shared loader parses each
# once per process. Sessions stay fresh, so credentials and AWS_* settings are read as they are now.
_MODELS = botocore.loaders.create_loader()


def client(service: str, region: str, *, configured_endpoint: bool = True) -> Any:
    """A client for `service` in `region`; honours AWS_ENDPOINT_URL (unless `configured_endpoint` is
    false: AWS's own endpoint) and the standard credential chain."""
    core = botocore.session.Session()
    core.register_component("data_loader", _MODELS)
    config = CLIENT_CONFIG if configured_endpoint else CLIENT_CONFIG.merge(_AWS_ENDPOINT)
    return boto3.session.Session(botocore_session=core).client(service, region_name=region, config=config)


def default_region() -> str | None:
    """The region the CLI or the function runs in, from the standard AWS environment."""
    region: str | None = boto3.session.Session().region_name
    return region


def _client_error(error: BaseException) -> dict[str, Any] | None:
    """The `Error` part of a botocore ClientError, also when another library wrapped it."""
    current: BaseException | None = error
    while current is not None:
        response = getattr(current, "response", None)
        if isinstance(response, dict) and response.get("Error"):
            return dict(response["Error"])
        current = current.__cause__ or current.__context__
    return None


def error_code(error: Exception) -> str:
    """The AWS error code of a botocore ClientError, or the exception's class name."""
    details = _client_error(error)
    return str(details["Code"]) if details and details.get("Code") else type(error).__name__


def error_message(error: Exception) -> str:
    details = _client_error(error)
    return str(details["Message"]) if details and details.get("Message") else str(error)
