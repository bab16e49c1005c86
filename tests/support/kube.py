"""A local Kubernetes API server that answers the few paths the daemon uses, like the real one."""

from __future__ import annotations

import copy
import json
import re
import shutil
import ssl
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from lightkube.config.kubeconfig import KubeConfig
from lightkube.config.models import Cluster, User

from orchestrator_telemetry.kube import client as kube
from tests.support.http import (
    MAX_DELAY_SECONDS,  # noqa: F401 - part of this module's interface
    JsonReply,
    LocalServer,
    QuietServer,
    RequestHandler,
    phrase,
)

__all__ = [
    "DEFAULT_GIT_VERSION",
    "FakeKubernetesApi",
    "KubeRequest",
    "api_config",
    "version_info",
]

DEFAULT_GIT_VERSION = "v1.29.4+k3s1"
VERSION_PATHS = frozenset({"/version", "/version/"})
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
# A self-signed certificate for 127.0.0.1/localhost, valid 2000-2099, for the TLS the in-cluster
# configuration insists on (its host is always https://). Test material, not a secret.
TLS_CERTIFICATE = """\
-----BEGIN CERTIFICATE-----
MIIBizCCATGgAwIBAgIBATAKBggqhkjOPQQDAjAeMRwwGgYDVQQDDBNmYWtlLWt1
YmUtYXBpc2VydmVyMCAXDTAwMDEwMTAwMDAwMFoYDzIwOTkxMjMxMjM1OTU5WjAe
MRwwGgYDVQQDDBNmYWtlLWt1YmUtYXBpc2VydmVyMFkwEwYHKoZIzj0CAQYIKoZI
zj0DAQcDQgAED8Vd70Wkwz2eAvisccOWj1MoNdEm7bSeSrbRKwznMIezp7QAh8u6
1mLroVf96QDPNMCABHg+tGEXcSnGxxoQhqNeMFwwGgYDVR0RBBMwEYcEfwAAAYIJ
bG9jYWxob3N0MA8GA1UdEwEB/wQFMAMBAf8wDgYDVR0PAQH/BAQDAgKEMB0GA1Ud
DgQWBBRjpqDDZW5QwzMvDq5hrYBrPqz/2DAKBggqhkjOPQQDAgNIADBFAiEAnS/o
NxkR1d16DZt1iuJo6VsRv+yJ8dOFQy1XKYYWu2kCIH2dv/Ov5VqOMICR30jXcUhe
A2FpqOZGG/xWHrvC7JyF
-----END CERTIFICATE-----
"""
TLS_PRIVATE_KEY = """\
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgPc1ACacwI7FK3V3L
SMKxcgu7IpWtFfVnYwh6kFY1TM2hRANCAAQPxV3vRaTDPZ4C+Kxxw5aPUyg10Sbt
tJ5KttErDOcwh7OntACHy7rWYuuhV/3pAM80wIAEeD60YRdxKcbHGhCG
-----END PRIVATE KEY-----
"""

_CONFIGMAPS = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/configmaps(?:/(?P<name>[^/]+))?$")
_MAX_BODY_BYTES = 3 * 1024 * 1024  # the API server's own request size limit


def version_info(git_version: str = DEFAULT_GIT_VERSION) -> dict[str, str]:
    """The `/version` document a real API server of `git_version` answers, every field included."""
    match = re.match(r"^v(\d+)\.(\d+)", git_version)
    major, minor = match.groups() if match else ("", "")
    return {
        "major": major,
        "minor": minor,
        "gitVersion": git_version,
        "gitCommit": "c5ce6f5bdf3a6fb4b9fab7ac0a5d4fd7a2b1d0b5",
        "gitTreeState": "clean",
        "buildDate": "2024-04-16T20:09:20Z",
        "goVersion": "go1.22.2",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def status(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> str:
    """A `Status` object, the body of every API server error."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details is not None:
        body["details"] = details
    return json.dumps(body)


@dataclass(frozen=True)
class KubeRequest:
    """One request the server received; header names are lower-cased; status is its answer."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    status: int

    def header(self, name: str) -> str | None:
        """Return a header value by case-insensitive name, or None."""
        return self.headers.get(name.lower())


@dataclass
class _Script:
    """A one-shot rule for the next request matching `method` and `path` (None matches any)."""

    method: str | None
    path: str | None
    status: int | None = None
    reason: str | None = None
    message: str | None = None
    delay: float = 0.0
    action: Callable[[], object] | None = None

    def matches(self, method: str, path: str) -> bool:
        # Trailing slashes ignored: `/version` and `/version/` are one endpoint on the API server.
        return (self.method is None or self.method == method) and (
            self.path is None or self.path.rstrip("/") == path.rstrip("/")
        )


class _Handler(RequestHandler["FakeKubernetesApi"]):
    """Routes every request to the owning FakeKubernetesApi."""

    server_version = "fake-kube-apiserver"
    methods = ("GET", "POST", "PUT", "PATCH", "DELETE")

    def handle_request(self) -> None:
        """Answer the request as the API server would."""
        raw = self.read_body(_MAX_BODY_BYTES) or b""
        self.send_json(self.owner._serve(self.command, self.path, self.header_map(), raw))


class FakeKubernetesApi(LocalServer[KubeRequest]):
    """A real local HTTP server answering `/version` and core/v1 ConfigMaps like the API server."""

    # Paths: `/version` (and `/version/`: both answer, as on the API server),
    # `/api/v1/namespaces/{ns}/configmaps` (POST) and `.../configmaps/{name}` (GET, PATCH with
    # merge or strategic-merge patches). Any namespace exists.
    # Every request must carry `Authorization: Bearer <token>` (401 otherwise). ConfigMaps live
    # in memory with a resourceVersion bumped on every write; a patch whose
    # metadata.resourceVersion is stale answers 409 Conflict, as the API server's optimistic
    # concurrency does. Scripted rules (`fail_next`, `delay_next`, `before_next`) apply once,
    # to the first matching request, in the order they were added. Everything is recorded in
    # the order they were answered (a `before_next` action's own requests come first).

    # Clients that refuse the certificate are not server errors either.
    _quiet_errors = (*LocalServer._quiet_errors, ssl.SSLError)

    def __init__(
        self,
        token: str,
        *,
        git_version: str = DEFAULT_GIT_VERSION,
        host: str = "127.0.0.1",
        tls: bool = False,
    ) -> None:
        """Prepare a server accepting `token` (over HTTPS if `tls`); `start()` binds a free port."""
        super().__init__(
            _Handler,
            host=host,
            name="fake-kube-api",
            label="FakeKubernetesApi",
            usage="`with FakeKubernetesApi()`",
        )
        self.token = token
        self.tls = tls
        self._tls_dir: Path | None = None
        self.version: dict[str, str] = version_info(git_version)
        self._configmaps: dict[tuple[str, str], dict[str, Any]] = {}
        self._scripts: list[_Script] = []
        self._version_failure: int | None = None
        self._resource_version = 1000

    # lifecycle ---------------------------------------------------------------------------

    def _prepare(self, httpd: QuietServer) -> None:
        """Serve over TLS when `tls`, with a certificate written to a temporary directory."""
        if not self.tls:
            return
        self._tls_dir = Path(tempfile.mkdtemp(prefix="fake-kube-api-"))
        (self._tls_dir / "ca.crt").write_text(TLS_CERTIFICATE)
        (self._tls_dir / "tls.key").write_text(TLS_PRIVATE_KEY)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self._tls_dir / "ca.crt", self._tls_dir / "tls.key")
        # The handshake then happens on the handler thread, not in accept() on the server's.
        httpd.socket = context.wrap_socket(
            httpd.socket, server_side=True, do_handshake_on_connect=False
        )

    def _release(self) -> None:
        """Remove the certificate directory."""
        if self._tls_dir is not None:
            shutil.rmtree(self._tls_dir, ignore_errors=True)
            self._tls_dir = None

    def _scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def ca_path(self) -> Path:
        """Return the CA certificate clients verify the server with (`tls=True` only)."""
        if self._tls_dir is None:
            raise RuntimeError("FakeKubernetesApi serves TLS only when started with tls=True")
        return self._tls_dir / "ca.crt"

    # state -------------------------------------------------------------------------------

    def put_configmap(
        self, namespace: str, name: str, data: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """Store a ConfigMap as if someone else had created it; return the stored object."""
        with self._lock:
            stored = self._new_configmap(namespace, name, data)
            self._configmaps[(namespace, name)] = stored
            return copy.deepcopy(stored)

    def configmap(self, namespace: str, name: str) -> dict[str, Any] | None:
        """Return a copy of a stored ConfigMap, or None."""
        with self._lock:
            stored = self._configmaps.get((namespace, name))
            return copy.deepcopy(stored) if stored is not None else None

    def configmap_data(self, namespace: str, name: str) -> dict[str, str] | None:
        """Return a copy of a stored ConfigMap's `data` ({} when it has none), or None if absent."""
        stored = self.configmap(namespace, name)
        return None if stored is None else dict(stored.get("data") or {})

    @property
    def configmaps(self) -> dict[tuple[str, str], dict[str, Any]]:
        """Return copies of every stored ConfigMap, keyed by (namespace, name)."""
        with self._lock:
            return copy.deepcopy(self._configmaps)

    # scripting ---------------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        *,
        method: str | None = None,
        path: str | None = None,
        reason: str | None = None,
        message: str | None = None,
    ) -> None:
        """Answer the next matching request with an error `Status`, changing nothing."""
        self._add(_Script(method, path, status=status, reason=reason, message=message))

    def delay_next(
        self, seconds: float, *, method: str | None = None, path: str | None = None
    ) -> None:
        """Stall the next matching request for `seconds` (capped) before answering it normally."""
        self._add(_Script(method, path, delay=seconds))

    def before_next(
        self, action: Callable[[], object], *, method: str | None = None, path: str | None = None
    ) -> None:
        """Run `action` when the next matching request arrives, before it is processed."""
        # The action runs on the handler thread with no lock held, so it may itself call the
        # server (e.g. another replica's whole ucid() between this replica's read and write).
        self._add(_Script(method, path, action=action))

    def fail_version(self, status: int | None = 503) -> None:
        """Make `GET /version` answer `status` until called with None."""
        with self._lock:
            self._version_failure = status

    @property
    def pending_scripts(self) -> int:
        """Return how many scripted rules have not been used yet."""
        with self._lock:
            return len(self._scripts)

    # observations ------------------------------------------------------------------------

    def requests_to(self, method: str, path: str) -> list[KubeRequest]:
        """Return the requests with this method and path (query excluded)."""
        return [r for r in self.requests if r.method == method and r.path == path]

    @property
    def writes(self) -> list[KubeRequest]:
        """Return the requests that may change state (POST, PUT, PATCH, DELETE)."""
        return [r for r in self.requests if r.method != "GET"]

    # handler callbacks -------------------------------------------------------------------

    def _add(self, script: _Script) -> None:
        with self._lock:
            self._scripts.append(script)

    def _take_script(self, method: str, path: str) -> _Script | None:
        with self._lock:
            for index, script in enumerate(self._scripts):
                if script.matches(method, path):
                    return self._scripts.pop(index)
        return None

    def _serve(self, method: str, raw_path: str, headers: dict[str, str], raw: bytes) -> JsonReply:
        """Answer one request and record it (called on a handler thread)."""
        split = urlsplit(raw_path)
        path, query = split.path, parse_qs(split.query)
        body = _decode(raw)
        answer = self._authenticate(headers)
        script = self._take_script(method, path) if answer is None else None
        if script is not None:
            if script.action is not None:
                script.action()
            if script.delay > 0:
                self._sleep(script.delay)
            if script.status is not None:
                reason = script.reason or _reason_of(script.status)
                message = script.message or f"scripted failure: {script.status}"
                answer = JsonReply(script.status, status(script.status, reason, message))
        if answer is None:
            with self._lock:
                answer = self._route(method, path, headers, body)
        self._record(KubeRequest(method, path, query, headers, body, answer.status))
        return answer

    def _authenticate(self, headers: dict[str, str]) -> JsonReply | None:
        # The auth scheme is case-insensitive (RFC 9110): the in-cluster loader sends "bearer".
        scheme, _, credentials = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and credentials == self.token:
            return None
        return JsonReply(401, status(401, "Unauthorized", "Unauthorized"))

    def _route(  # noqa: PLR0911 - one answer per route and per refusal, as the API server
        self, method: str, path: str, headers: dict[str, str], body: Any
    ) -> JsonReply:
        """Answer as the API server would (lock held)."""
        # The API server answers `/version` and `/version/` (the OpenAPI path) alike.
        if path in VERSION_PATHS:
            if method != "GET":
                return _method_not_allowed(method)
            if self._version_failure is not None:
                code = self._version_failure
                return JsonReply(code, status(code, _reason_of(code), "version is unavailable"))
            return JsonReply(200, json.dumps(self.version))
        match = _CONFIGMAPS.match(path)
        if match is None:
            return JsonReply(
                404, status(404, "NotFound", "the server could not find the requested resource")
            )
        namespace, name = match["ns"], match["name"]
        if name is None:
            return self._create(method, namespace, headers.get("content-type", ""), body)
        if method == "GET":
            stored = self._configmaps.get((namespace, name))
            return _ok(stored) if stored is not None else _not_found(name)
        if method == "PATCH":
            return self._patch(namespace, name, headers.get("content-type", ""), body)
        return _method_not_allowed(method)

    def _create(  # noqa: PLR0911 - each refusal is its own Status, checked in the server's order
        self, method: str, namespace: str, content_type: str, body: Any
    ) -> JsonReply:
        if method != "POST":
            return _method_not_allowed(method)
        media_type = content_type.split(";", 1)[0].strip().lower()
        if media_type not in ("", "application/json"):  # no Content-Type: the server assumes JSON
            return _unsupported_media_type(content_type, "application/json")
        if not isinstance(body, dict) or body.get("kind", "ConfigMap") != "ConfigMap":
            return JsonReply(400, status(400, "BadRequest", "the body is not a ConfigMap"))
        metadata = body.get("metadata") or {}
        name = metadata.get("name")
        if not name:
            return _invalid("", "metadata.name: Required value: name or generateName is required")
        if metadata.get("namespace", namespace) != namespace:
            return JsonReply(
                400,
                status(
                    400,
                    "BadRequest",
                    "the namespace of the provided object does not match the namespace sent on "
                    "the request",
                ),
            )
        if (namespace, name) in self._configmaps:
            return JsonReply(
                409,
                status(
                    409,
                    "AlreadyExists",
                    f'configmaps "{name}" already exists',
                    {"name": name, "kind": "configmaps"},
                ),
            )
        data = body.get("data")
        if data is not None and not _string_map(data):
            return _invalid(name, "data: Invalid value: values must be strings")
        stored = self._new_configmap(namespace, name, data, labels=metadata.get("labels"))
        self._configmaps[(namespace, name)] = stored
        return _ok(stored, 201)

    def _patch(  # noqa: PLR0911 - each refusal is its own Status, checked in the server's order
        self, namespace: str, name: str, content_type: str, body: Any
    ) -> JsonReply:
        media_type = content_type.split(";", 1)[0].strip().lower()
        if media_type not in (MERGE_PATCH, STRATEGIC_MERGE_PATCH):
            # JSON patch and server-side apply are real API features the daemon does not use.
            return _unsupported_media_type(content_type, f"{MERGE_PATCH}, {STRATEGIC_MERGE_PATCH}")
        stored = self._configmaps.get((namespace, name))
        if stored is None:
            return _not_found(name)
        if not isinstance(body, dict):
            return JsonReply(400, status(400, "BadRequest", "the patch is not a JSON object"))
        # For a ConfigMap (maps of strings, no lists) strategic merge behaves as a JSON merge patch.
        patched = _merge(stored, body)
        wanted = (patched.get("metadata") or {}).get("resourceVersion")
        current = stored["metadata"]["resourceVersion"]
        if wanted is not None and wanted != current:
            return JsonReply(
                409,
                status(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on configmaps "{name}": the object has been '
                    "modified; please apply your changes to the latest version and try again",
                    {"name": name, "kind": "configmaps"},
                ),
            )
        metadata = patched.get("metadata") or {}
        if metadata.get("name") != name or metadata.get("namespace") != namespace:
            return _invalid(name, "metadata: the name and namespace of an object are immutable")
        if patched.get("data") is not None and not _string_map(patched["data"]):
            return _invalid(name, "data: Invalid value: values must be strings")
        if stored.get("immutable") and patched.get("data") != stored.get("data"):
            return _invalid(name, "data: Forbidden: field is immutable when `immutable` is set")
        metadata["resourceVersion"] = self._next_resource_version()
        self._configmaps[(namespace, name)] = patched
        return _ok(patched)

    def _new_configmap(
        self,
        namespace: str,
        name: str,
        data: dict[str, str] | None,
        labels: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        metadata: dict[str, Any] = {
            "name": name,
            "namespace": namespace,
            "uid": str(uuid.uuid4()),
            "resourceVersion": self._next_resource_version(),
            "creationTimestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        if labels:
            metadata["labels"] = dict(labels)
        configmap: dict[str, Any] = {"kind": "ConfigMap", "apiVersion": "v1", "metadata": metadata}
        if data is not None:
            configmap["data"] = dict(data)
        return configmap

    def _next_resource_version(self) -> str:
        self._resource_version += 1
        return str(self._resource_version)


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return raw.decode("utf-8", errors="replace")


def _merge(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge recursively, null deletes, the rest replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge(result.get(key), value)
    return result


def _string_map(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


def _reason_of(code: int) -> str:
    return phrase(code, unknown="Unknown").replace(" ", "")


def _ok(configmap: dict[str, Any], code: int = 200) -> JsonReply:
    return JsonReply(code, json.dumps(configmap))


def _not_found(name: str) -> JsonReply:
    return JsonReply(
        404,
        status(
            404, "NotFound", f'configmaps "{name}" not found', {"name": name, "kind": "configmaps"}
        ),
    )


def _invalid(name: str, cause: str) -> JsonReply:
    return JsonReply(
        422,
        status(
            422,
            "Invalid",
            f'ConfigMap "{name}" is invalid: {cause}',
            {"name": name, "kind": "ConfigMap"},
        ),
    )


def _unsupported_media_type(content_type: str, accepted: str) -> JsonReply:
    return JsonReply(
        415,
        status(
            415,
            "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted media types by this "
            f'fake: {accepted}; got "{content_type}"',
        ),
    )


def _method_not_allowed(method: str) -> JsonReply:
    return JsonReply(
        405, status(405, "MethodNotAllowed", f"the server does not allow this method: {method}")
    )


def api_config(server: FakeKubernetesApi, token: str) -> KubeConfig:
    """A client configuration for `server`, authenticating with `token` as a ServiceAccount does."""
    return KubeConfig.from_one(cluster=Cluster(server=server.url), user=User(token=token))


def pretend_in_pod(
    monkeypatch: pytest.MonkeyPatch, server: FakeKubernetesApi, token_file: Path, token: str
) -> None:
    """Make the in-cluster loader find `server` as in a pod: service address, projected files."""
    # The kubelet projects token, ca.crt and namespace into one directory.
    account = token_file.parent
    token_file.write_text(token)
    (account / "ca.crt").write_bytes(server.ca_path.read_bytes())
    (account / "namespace").write_text("devtroncd")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(server.port))
    monkeypatch.setattr(kube, "SERVICE_ACCOUNT_DIR", account)
    for proxy in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(proxy, raising=False)
