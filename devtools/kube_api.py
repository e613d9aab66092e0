"""A local Kubernetes API server for tests: one EKS cluster's list endpoints, as strict as the real one.

`KubeApiFake` serves HTTPS on 127.0.0.1 with a CA it generates at start (the cluster's
`certificateAuthority.data`), and only to a caller presenting the token EKS expects: `k8s-aws-v1.` and
the unpadded base64url of a presigned STS GetCallerIdentity URL for the cluster's region, signed (SigV4,
checked here independently of botocore, with the test credentials' secret) over the `x-k8s-aws-id`
header holding this cluster's name, and no older than EKS allows. Anything else is 401.

It serves Pods, Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs and CronJobs, cluster-wide and per
namespace. It pages strictly: never more than `limit` objects, at most `page_cap` if set (servers may
return fewer than asked), a `continue` token it can check (400 if forged), and 410 Gone for a token it
was told to expire. It answers 403 for a kind forbidden everywhere or in one namespace; a cluster-wide
list of a kind forbidden in any namespace is 403 too, as RBAC does. Every request is recorded.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import re
import ssl
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from socket import socket
from typing import Any
from urllib.parse import parse_qs, parse_qsl, quote, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TOKEN_PREFIX = "k8s-aws-v1."
CLUSTER_ID_HEADER = "x-k8s-aws-id"
TOKEN_LIFETIME = dt.timedelta(minutes=15)
"""EKS accepts a token for 15 minutes after X-Amz-Date, whatever X-Amz-Expires says."""
TEST_SECRET_KEY = "testing"
"""tests/conftest.py's AWS_SECRET_ACCESS_KEY: what a token must be signed with."""

RESOURCES: dict[str, tuple[str, str]] = {
    "Pod": ("/api/v1", "pods"),
    "Deployment": ("/apis/apps/v1", "deployments"),
    "ReplicaSet": ("/apis/apps/v1", "replicasets"),
    "StatefulSet": ("/apis/apps/v1", "statefulsets"),
    "DaemonSet": ("/apis/apps/v1", "daemonsets"),
    "Job": ("/apis/batch/v1", "jobs"),
    "CronJob": ("/apis/batch/v1", "cronjobs"),
}
"""Kind -> (group/version prefix, plural), as the Kubernetes API reference names the list endpoints."""
_ROUTE = re.compile(
    r"^(?P<prefix>/api/v1|/apis/[a-z.]+/v1)(?:/namespaces/(?P<namespace>[^/]+))?/(?P<plural>[a-z]+)$"
)


# -- objects as the API returns them ------------------------------------------------------------------


def _containers(prefix: str, images: Iterable[str]) -> list[dict[str, Any]]:
    return [{"name": f"{prefix}{n}", "image": image} for n, image in enumerate(images)]


def pod_spec(images: Iterable[str] = (), *, init: Iterable[str] = ()) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": _containers("c", images)}
    init_containers = _containers("init", init)
    if init_containers:
        spec["initContainers"] = init_containers
    return spec


def pod(
    namespace: str,
    name: str,
    images: Iterable[str] = (),
    *,
    init: Iterable[str] = (),
    ephemeral: Iterable[str] = (),
    pulled: Iterable[str] = (),
) -> dict[str, Any]:
    """A running Pod; `pulled` are the `imageID`s its container statuses report (what the node pulled)."""
    spec = pod_spec(images, init=init)
    ephemeral_containers = _containers("debug", ephemeral)
    if ephemeral_containers:
        spec["ephemeralContainers"] = ephemeral_containers
    statuses = [
        {"name": f"c{n}", "image": "", "imageID": image_id, "ready": True, "restartCount": 0}
        for n, image_id in enumerate(pulled)
    ]
    return {
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{namespace}-{name}"},
        "spec": spec,
        "status": {"phase": "Running", "containerStatuses": statuses},
    }


def workload(
    kind: str, namespace: str, name: str, images: Iterable[str] = (), *, init: Iterable[str] = ()
) -> dict[str, Any]:
    """A Deployment, ReplicaSet, StatefulSet, DaemonSet, Job or CronJob with a pod template."""
    template = {"metadata": {"labels": {"app": name}}, "spec": pod_spec(images, init=init)}
    spec: dict[str, Any]
    if kind == "CronJob":
        spec = {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": template}}}
    elif kind == "Job":
        spec = {"template": template}
    elif kind in ("Deployment", "ReplicaSet", "StatefulSet"):
        spec = {"replicas": 0, "selector": {"matchLabels": {"app": name}}, "template": template}
    elif kind == "DaemonSet":
        spec = {"selector": {"matchLabels": {"app": name}}, "template": template}
    else:
        raise ValueError(f"not a workload kind: {kind}")
    return {
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{namespace}-{name}"},
        "spec": spec,
    }


def item(kind: str, namespace: str, name: str, images: Iterable[str] = ()) -> dict[str, Any]:
    """A Pod or a controller of `kind` naming `images`."""
    return pod(namespace, name, images) if kind == "Pod" else workload(kind, namespace, name, images)


# -- the server ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    path: str
    query: dict[str, str]
    status: int
    items: int = 0


@dataclass
class KubeApiFake:
    """One EKS cluster's API server. `start()` it, register it in the local EKS, `stop()` it."""

    cluster: str
    region: str = "us-east-1"
    secret_key: str = TEST_SECRET_KEY
    secret_for: Callable[[str], str | None] | None = None
    """The secret of a token's access key (a role session's, say), instead of `secret_key` for every key."""
    signers: list[str] = field(default_factory=list)
    """The access key of every token that was accepted."""
    page_cap: int | None = None
    """Answer at most this many objects a page even when more are asked for (servers may)."""
    objects: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    forbidden: set[tuple[str, str | None]] = field(default_factory=set)
    """(kind, namespace): 403 for that kind in that namespace; namespace None: everywhere."""
    expire_continue: int = 0
    """Answer this many of the next requests that carry a continue token with 410 Gone."""
    requests: list[Request] = field(default_factory=list)
    now: Callable[[], dt.datetime] = field(default_factory=lambda: _utcnow)

    def __post_init__(self) -> None:
        self.ca_pem, self._cert_pem, self._key_pem = _certificates()
        self._lock = threading.RLock()
        self._server: _TlsServer | None = None
        self._thread: threading.Thread | None = None
        self._continue_key = hashlib.sha256(f"continue-{self.cluster}".encode()).digest()

    # -- what the tests set up --

    def add(self, kind: str, *items: dict[str, Any]) -> None:
        if kind not in RESOURCES:
            raise ValueError(f"the fake does not serve {kind}")
        with self._lock:
            self.objects.setdefault(kind, []).extend(items)

    def forbid(self, kind: str, namespace: str | None = None) -> None:
        self.forbidden.add((kind, namespace))

    @property
    def ca_data(self) -> str:
        """DescribeCluster's `certificateAuthority.data`: the CA's PEM, base64."""
        return base64.b64encode(self.ca_pem.encode()).decode()

    @property
    def endpoint(self) -> str:
        assert self._server is not None, "start() the fake first"
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    def lists(self, kind: str) -> list[Request]:
        """The requests for `kind`'s list endpoints (cluster-wide or namespaced)."""
        prefix, plural = RESOURCES[kind]
        return [r for r in self.requests if r.path.startswith(prefix) and r.path.endswith(f"/{plural}")]

    def start(self) -> KubeApiFake:
        with tempfile.TemporaryDirectory() as work:
            cert, key = Path(work) / "cert.pem", Path(work) / "key.pem"
            cert.write_text(self._cert_pem)
            key.write_text(self._key_pem)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert, key)
        self._server = _TlsServer(("127.0.0.1", 0), _handler(self), context)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- answering --

    def answer(self, path: str, query: Mapping[str, str], authorization: str) -> tuple[int, dict[str, Any]]:
        refusal = self.token_problem(authorization)
        if refusal:
            return self._record(path, query, _status(401, "Unauthorized", "Unauthorized"))
        route = _ROUTE.match(path)
        kind = next(
            (
                k
                for k, (prefix, plural) in RESOURCES.items()
                if route and (prefix, plural) == route.group("prefix", "plural")
            ),
            None,
        )
        if route is None or kind is None:
            return self._record(path, query, _status(404, "NotFound", f"the server could not find {path}"))
        namespace = route.group("namespace")
        with self._lock:
            denied = (kind, None) in self.forbidden or any(
                k == kind and (namespace is None or ns == namespace) for k, ns in self.forbidden
            )
            if denied:
                where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
                message = (
                    f'{RESOURCES[kind][1]} is forbidden: User "ecr-janitor" cannot list resource '
                    f'"{RESOURCES[kind][1]}" {where}'
                )
                return self._record(path, query, _status(403, "Forbidden", message))
            items = [i for i in self.objects.get(kind, []) if namespace in (None, i["metadata"]["namespace"])]
            return self._record(path, query, self._page(path, query, items))

    def _page(
        self, path: str, query: Mapping[str, str], items: list[dict[str, Any]]
    ) -> tuple[int, dict[str, Any]]:
        offset = 0
        token = query.get("continue")
        if token:
            if self.expire_continue > 0:
                self.expire_continue -= 1
                return _status(
                    410,
                    "Expired",
                    "The provided continue parameter is too old to display a consistent list result.",
                )
            decoded = self._decode_continue(token, path)
            if decoded is None:
                return _status(400, "BadRequest", "continue key is not valid")
            offset = decoded
        size = len(items)
        if "limit" in query:
            if not query["limit"].isdigit() or int(query["limit"]) < 1:
                return _status(400, "BadRequest", f"invalid limit {query['limit']!r}")
            size = int(query["limit"])
        if self.page_cap is not None:
            size = min(size, self.page_cap)
        page = items[offset : offset + size]
        metadata: dict[str, Any] = {"resourceVersion": "1000"}
        if offset + size < len(items):
            metadata["continue"] = self._encode_continue(offset + size, path)
            metadata["remainingItemCount"] = len(items) - offset - size
        return 200, {"kind": "List", "apiVersion": "v1", "metadata": metadata, "items": page}

    def _encode_continue(self, offset: int, path: str) -> str:
        body = json.dumps({"offset": offset, "path": path}).encode()
        mac = hmac.new(self._continue_key, body, hashlib.sha256).hexdigest()[:16]
        return base64.urlsafe_b64encode(body).decode() + "." + mac

    def _decode_continue(self, token: str, path: str) -> int | None:
        try:
            encoded, mac = token.rsplit(".", 1)
            body = base64.urlsafe_b64decode(encoded.encode())
            expected = hmac.new(self._continue_key, body, hashlib.sha256).hexdigest()[:16]
            document = json.loads(body)
        except (ValueError, TypeError):
            return None
        if not hmac.compare_digest(mac, expected) or document.get("path") != path:
            return None
        return int(document["offset"])

    def _record(
        self, path: str, query: Mapping[str, str], answer: tuple[int, dict[str, Any]]
    ) -> tuple[int, dict[str, Any]]:
        status, body = answer
        with self._lock:
            self.requests.append(Request(path, dict(query), status, len(body.get("items", []))))
        return answer

    # -- the token --

    def token_problem(self, authorization: str) -> str:
        """Why this Authorization header is not a token for this cluster, or empty."""
        scheme, _, token = authorization.partition(" ")
        if scheme != "Bearer" or not token.startswith(TOKEN_PREFIX):
            return "not a k8s-aws-v1 bearer token"
        encoded = token.removeprefix(TOKEN_PREFIX)
        if "=" in encoded or not re.fullmatch(r"[A-Za-z0-9_-]+", encoded):
            return "not unpadded base64url"
        try:
            url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        except ValueError:
            return "not base64url"
        parts = urlsplit(url)
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        if parts.scheme != "https" or parts.netloc != f"sts.{self.region}.amazonaws.com" or parts.path != "/":
            return (
                f"not the regional STS endpoint of {self.region}: {parts.scheme}://{parts.netloc}{parts.path}"
            )
        if params.get("Action") != "GetCallerIdentity" or params.get("Version") != "2011-06-15":
            return "not a GetCallerIdentity request"
        signed = params.get("X-Amz-SignedHeaders", "").split(";")
        if CLUSTER_ID_HEADER not in signed or "host" not in signed:
            return f"{CLUSTER_ID_HEADER} is not signed"
        try:
            signed_at = dt.datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
            expires = int(params["X-Amz-Expires"])
            access_key, date, region, service, terminator = params["X-Amz-Credential"].split("/")
        except (KeyError, ValueError):
            return "incomplete presigned URL"
        if (region, service, terminator) != (self.region, "sts", "aws4_request") or date != params[
            "X-Amz-Date"
        ][:8]:
            return "credential scope is not this region's STS"
        if params.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" or not 0 < expires <= 900:
            return "not a SigV4 presigned URL"
        now = self.now()
        if not signed_at - dt.timedelta(minutes=5) <= now <= signed_at + TOKEN_LIFETIME:
            return "expired"
        secret = self.secret_for(access_key) if self.secret_for else self.secret_key
        expected = sigv4_query_signature(url, {CLUSTER_ID_HEADER: self.cluster}, secret or "")
        if secret is None or not hmac.compare_digest(expected, params.get("X-Amz-Signature", "")):
            return f"the signature does not cover {CLUSTER_ID_HEADER}: {self.cluster}"
        with self._lock:
            self.signers.append(access_key)
        return ""


def sigv4_query_signature(url: str, headers: Mapping[str, str], secret_key: str) -> str:
    """The SigV4 signature of a presigned GET URL (AWS's "Authenticating requests: query parameters"),
    over the headers it names in X-Amz-SignedHeaders: `host` from the URL, the others from `headers`."""
    parts = urlsplit(url)
    pairs = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "X-Amz-Signature"]
    params = dict(pairs)
    canonical_query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(pairs))
    values = {"host": parts.netloc, **{k.lower(): v for k, v in headers.items()}}
    signed = params["X-Amz-SignedHeaders"].split(";")
    canonical_headers = "".join(f"{name}:{values.get(name, '').strip()}\n" for name in signed)
    canonical_request = "\n".join(
        [
            "GET",
            parts.path or "/",
            canonical_query,
            canonical_headers,
            ";".join(signed),
            hashlib.sha256(b"").hexdigest(),
        ]
    )
    _, date, region, service, terminator = params["X-Amz-Credential"].split("/")
    scope = f"{date}/{region}/{service}/{terminator}"
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            params["X-Amz-Date"],
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    key = f"AWS4{secret_key}".encode()
    for part in (date, region, service, terminator):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _status(code: int, reason: str, message: str) -> tuple[int, dict[str, Any]]:
    """A Kubernetes `Status` object, as the API server answers every refusal."""
    return code, {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


class _TlsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], context: ssl.SSLContext
    ) -> None:
        super().__init__(address, handler)
        self._context = context

    def get_request(self) -> tuple[socket, Any]:
        # Wrapped per connection, not the listening socket: a client that refuses our certificate fails
        # its own handshake, and the server goes on serving.
        connection, address = super().get_request()
        connection.settimeout(5)
        return self._context.wrap_socket(connection, server_side=True), address


def _handler(fake: KubeApiFake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            status, body = fake.answer(parts.path, query, self.headers.get("Authorization", ""))
            content = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: tests read `fake.requests`."""

    return Handler


def _certificates() -> tuple[str, str, str]:
    """(CA PEM, server certificate PEM for 127.0.0.1 and localhost, server key PEM), shaped like EKS's:
    a self-signed `CN=kubernetes` root whose only extension is Basic Constraints, and a server
    certificate without an Authority Key Identifier. Valid X.509 that X.509 strict mode (Python 3.13+'s
    default) refuses, so a client that only works in strict mode fails here as it would on EKS."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return (
        ca.public_bytes(pem).decode(),
        server.public_bytes(pem).decode(),
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode(),
    )
