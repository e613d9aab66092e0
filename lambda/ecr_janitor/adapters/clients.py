"""boto3 clients configured the same way everywhere: adaptive retries, short connect timeouts, a warning
when calls start being retried, and a recognisable user agent."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import boto3
import botocore.loaders
import botocore.session
import botocore.utils
from botocore.config import Config
from botocore.credentials import CredentialProvider, CredentialResolver, Credentials
from botocore.exceptions import BotoCoreError, ClientError

from ecr_janitor import __version__
from ecr_janitor.adapters.parsing import ResponseParserFactory
from ecr_janitor.observability import logger

MAX_RETRIES = 10
"""botocore's `max_attempts` counts retries: a call is tried once and retried up to 10 times."""
AWS_ERRORS = (ClientError, BotoCoreError)
"""What an AWS call raises when AWS (or the way to it) fails, as opposed to a bug."""

CONNECT_TIMEOUT_SECONDS = 5
"""An endpoint that doesn't accept a connection within 5 s is down or unreachable (botocore's default is
60 s, which with 11 attempts a call kept a run silent for many minutes)."""
READ_TIMEOUT_SECONDS = 60
"""A page of 1000 image details or a batch of 100 deletions is answered within seconds; 60 s leaves a
throttled or slow ECR room without hanging a run."""

CLIENT_CONFIG = Config(
    retries={"mode": "adaptive", "max_attempts": MAX_RETRIES},
    connect_timeout=CONNECT_TIMEOUT_SECONDS,
    read_timeout=READ_TIMEOUT_SECONDS,
    user_agent_appid=f"ecr-janitor-{__version__}",
    max_pool_connections=50,
)

RETRY_WARNING_INTERVAL_SECONDS = 60.0
"""At most one retry warning per client this often: the first retry is visible at once, a persistent
problem keeps showing, and a throttled run of thousands of calls doesn't flood the log."""
_FAILURE = "ecr_janitor_failure"
"""Where, in a request's context, the retry watch keeps why its last attempt failed."""


_AWS_ENDPOINT = Config(ignore_configured_endpoint_urls=True)


class ClientFactory(Protocol):
    """(service, region) -> a boto3 client, in one account (`client` for the credentials' own)."""

    def __call__(self, service: str, region: str, /, *, configured_endpoint: bool = True) -> Any: ...


class _SharedLoader(botocore.loaders.Loader):  # type: ignore[misc]
    """botocore's loader, one file at a time: its cache is not locked, and clients made at once in
    several threads (the in-use sources) each parsed the same endpoint and model files again (a
    tenth of a second of CPU and 20 MiB each time)."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.RLock()
        # boto3 appends its data folder on every Session it creates; here once is enough.
        self._search_paths = _Distinct(self.search_paths)

    def load_service_model(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return super().load_service_model(*args, **kwargs)

    def load_data_with_path(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return super().load_data_with_path(*args, **kwargs)


class _Distinct(list[str]):
    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


# Parsing botocore's service models is most of the cost of a new client; a shared loader parses each
# once per process. Sessions stay fresh, so credentials and AWS_* settings are read as they are now.
_MODELS = _SharedLoader()


def client(
    service: str, region: str, *, configured_endpoint: bool = True, credentials: Credentials | None = None
) -> Any:
    """A client for `service` in `region`; honours AWS_ENDPOINT_URL (unless `configured_endpoint` is
    false: AWS's own endpoint) and the standard credential chain, unless `credentials` (another account's
    role session) are given."""
    core = botocore.session.Session()
    core.register_component("data_loader", _MODELS)
    core.register_component("response_parser_factory", ResponseParserFactory())
    if credentials is not None:
        core.register_component("credential_provider", CredentialResolver([_Given(credentials)]))
    config = CLIENT_CONFIG if configured_endpoint else CLIENT_CONFIG.merge(_AWS_ENDPOINT)
    created = boto3.session.Session(botocore_session=core).client(service, region_name=region, config=config)
    RetryWatch(service, region).attach(created)
    return created


class _Given(CredentialProvider):  # type: ignore[misc]
    """Credentials obtained elsewhere (refreshable ones refresh themselves)."""

    METHOD = "ecr-janitor-role"

    def __init__(self, credentials: Credentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> Credentials:
        return self._credentials


def has_credentials() -> bool:
    """Whether the standard credential chain finds any credentials (it doesn't check they are valid)."""
    return boto3.session.Session().get_credentials() is not None


class RetryWatch:
    """Logs a warning when a client's call is retried, saying why the attempt failed, so an unreachable
    endpoint or a throttling storm shows within seconds instead of after all the attempts. botocore's
    retry decision itself is untouched: `needs-retry` is only observed, to remember why an attempt
    failed; `before-send` of a second attempt means the retry is happening."""

    def __init__(self, service: str, region: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.service = service
        self.region = region
        self._clock = clock
        self._lock = threading.Lock()
        self._last_warning: float | None = None
        self._quiet_retries = 0

    def attach(self, created: Any) -> None:
        created.meta.events.register("needs-retry", self._remember_failure)
        created.meta.events.register("before-send", self._on_send)

    def _remember_failure(
        self, request_dict: dict[str, Any], response: Any = None, caught_exception: Any = None, **_: Any
    ) -> None:
        context = request_dict.get("context", {})
        if caught_exception is not None:
            context[_FAILURE] = f"{type(caught_exception).__name__}: {caught_exception}"
        elif response is not None:
            http, parsed = response
            error = parsed.get("Error", {}) if isinstance(parsed, dict) else {}
            if error or http.status_code >= 500:
                context[_FAILURE] = (
                    f"{error.get('Code') or f'HTTP {http.status_code}'}: {error.get('Message', '')}"
                )

    def _on_send(self, request: Any, event_name: str = "", **_: Any) -> None:
        context = getattr(request, "context", None) or {}
        attempt = context.get("retries", {}).get("attempt", 1)
        if attempt != 2:  # the first retry of a call
            return
        with self._lock:
            now = self._clock()
            if self._last_warning is not None and now - self._last_warning < RETRY_WARNING_INTERVAL_SECONDS:
                self._quiet_retries += 1
                return
            quiet, self._quiet_retries, self._last_warning = self._quiet_retries, 0, now
        operation = event_name.rpartition(".")[2] or "a call"  # before-send.<service>.<Operation>
        failure = context.get(_FAILURE, "a failed attempt")
        since = f"; {quiet} more call(s) were retried since the last warning" if quiet else ""
        logger.warning(
            f"{self.service} {self.region}: retrying {operation} after {failure} "
            f"(up to {MAX_RETRIES} retries){since}",
            extra={"event": "aws_retry", "aws_service": self.service, "region": self.region},
        )


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
