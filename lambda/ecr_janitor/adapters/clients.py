"""boto3 clients configured the same way everywhere: adaptive retries and a recognisable user agent."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.credentials import CredentialProvider, CredentialResolver, Credentials
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


ClientFactory = Callable[[str, str], Any]
"""(service, region) -> a boto3 client, in one account."""


# Parsing botocore's service models is most of the cost of a new client; a shared loader parses each
# once per process. Sessions stay fresh, so credentials and AWS_* settings are read as they are now.
_MODELS = botocore.loaders.create_loader()


def client(service: str, region: str, credentials: Credentials | None = None) -> Any:
    """A client for `service` in `region`; honours AWS_ENDPOINT_URL and the standard credential chain,
    unless `credentials` (another account's role session) are given."""
    core = botocore.session.Session()
    core.register_component("data_loader", _MODELS)
    if credentials is not None:
        core.register_component("credential_provider", CredentialResolver([_Given(credentials)]))
    return boto3.session.Session(botocore_session=core).client(
        service, region_name=region, config=CLIENT_CONFIG
    )


class _Given(CredentialProvider):  # type: ignore[misc]
    """Credentials obtained elsewhere (refreshable ones refresh themselves)."""

    METHOD = "ecr-janitor-role"

    def __init__(self, credentials: Credentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> Credentials:
        return self._credentials


def pages(client: Any, operation: str, key: str, **kwargs: Any) -> Iterator[Any]:
    """Every item under `key` of every page of a paginated operation."""
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key, [])


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
