"""A few typed GETs against a Kubernetes API server, over urllib3 (which botocore already depends on).

Only what the janitor needs: list every object of a kind in every namespace, page by page. TLS is
verified against the cluster's own CA (from DescribeCluster), and against nothing else; there is no way
to turn verification off. Each request carries a fresh bearer token, so a long listing never outlives it.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    MaxRetryError,
    NewConnectionError,
    ReadTimeoutError,
    SSLError,
)

PAGE_SIZE = 500
"""Objects per page (`limit`). kubectl asks for 500 too; a page of Pods is then a few MB at most."""
CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 30.0
RETRIES = urllib3.Retry(
    total=3,
    connect=2,
    read=1,
    status=2,
    other=0,  # a certificate that doesn't verify won't verify on a second try
    status_forcelist=(429, 500, 502, 503, 504),  # API priority and fairness answers 429 with Retry-After
    backoff_factor=0.5,
    allowed_methods=frozenset({"GET"}),
    raise_on_status=False,
)
RESTARTS_AFTER_EXPIRY = 1
"""A continue token the server no longer honours (410 Gone) restarts the listing this often. The items
already seen stay counted, so the result is a superset of a complete listing: safe to keep."""


class KubeError(Exception):
    """A request the API server refused or that never got an answer; `code` as Kubernetes names it
    (`Unauthorized`, `Forbidden`, `Expired`) or what went wrong on the way (`SSLError`, `Timeout`)."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


TokenSource = Callable[[], str]


class KubeApi:
    def __init__(self, endpoint: str, ca_pem: str, token: TokenSource, *, page_size: int = PAGE_SIZE) -> None:
        if not endpoint.startswith("https://"):
            raise KubeError("InsecureEndpoint", f"{endpoint!r} is not an https:// endpoint")
        self._endpoint = endpoint.rstrip("/")
        self._token = token
        self._page_size = page_size
        self._pool = urllib3.PoolManager(
            num_pools=1,
            cert_reqs="CERT_REQUIRED",
            ssl_context=cluster_tls(ca_pem),
            timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT_SECONDS, read=READ_TIMEOUT_SECONDS),
            retries=RETRIES,
        )

    def items(self, path: str) -> Iterator[dict[str, Any]]:
        """Every object a list endpoint has, following `continue` until the server says there is no
        more. Raises KubeError on any refusal: a listing is complete or it is an error."""
        restarts = 0
        while True:
            try:
                yield from self._pages(path)
                return
            except KubeError as error:
                if error.status != 410 or restarts == RESTARTS_AFTER_EXPIRY:
                    raise
                restarts += 1

    def _pages(self, path: str) -> Iterator[dict[str, Any]]:
        seen: set[str] = set()
        token = ""
        while True:
            query = {"limit": str(self._page_size), **({"continue": token} if token else {})}
            page = self._get(f"{path}?{urlencode(query)}")
            items = page.get("items")
            if not isinstance(items, list):
                raise KubeError("InvalidResponse", f"GET {path}: no items list in the answer")
            yield from items
            token = str((page.get("metadata") or {}).get("continue") or "")
            if not token:
                return
            if token in seen:  # a server that hands out the same page again would loop forever
                raise KubeError("InvalidResponse", f"GET {path}: the continue token repeats")
            seen.add(token)

    def _get(self, path_and_query: str) -> dict[str, Any]:
        path = path_and_query.split("?", 1)[0]
        headers = {"Authorization": f"Bearer {self._token()}", "Accept": "application/json"}
        try:
            response = self._pool.request(
                "GET", self._endpoint + path_and_query, headers=headers, retries=RETRIES, redirect=False
            )
        except MaxRetryError as error:
            raise _transport_error(path, error.reason or error) from error
        except HTTPError as error:
            raise _transport_error(path, error) from error
        try:
            body: Any = json.loads(response.data or b"{}")
        except ValueError:
            body = {}
        if response.status != 200:
            status = body if isinstance(body, dict) else {}
            raise KubeError(
                str(status.get("reason") or f"HTTP{response.status}"),
                f"GET {path}: {status.get('message') or response.reason or response.status}",
                response.status,
            )
        if not isinstance(body, dict):
            raise KubeError("InvalidResponse", f"GET {path}: the answer is not a JSON object")
        return body


def cluster_tls(ca_pem: str) -> ssl.SSLContext:
    """Trust exactly the cluster's CA; check the chain, expiry and host name.

    Without X.509 strict mode, which Python 3.13+ (the Lambda runs 3.14) and urllib3 2 turn on by default:
    EKS issues its cluster CA without key identifiers (RFC 5280 allows that for a self-signed root) and
    the API server's certificate without an Authority Key Identifier, which strict mode refuses
    ("Missing Authority Key Identifier"; kubernetes-client/python#2394)."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cadata=ca_pem)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_flags &= ~ssl.VERIFY_X509_STRICT
    return context


def _transport_error(path: str, error: BaseException) -> KubeError:
    if isinstance(error, SSLError):
        code = "SSLError"
    elif isinstance(error, NewConnectionError):  # refused or unresolvable (a ConnectTimeoutError subclass)
        code = "ConnectionError"
    elif isinstance(error, (ConnectTimeoutError, ReadTimeoutError)):
        code = "Timeout"
    else:
        code = "ConnectionError"
    return KubeError(code, f"GET {path}: {error}")
