"""The Kubernetes API client (lightkube): the installation's ConfigMap and `/version`."""

from __future__ import annotations

import contextlib
import json
import re
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx
import structlog
from lightkube import ApiError, Client
from lightkube.config.client_adapter import Client as HttpClient
from lightkube.config.client_adapter import ConnectionParams, verify_cluster
from lightkube.config.kubeconfig import KubeConfig, SingleConfig
from lightkube.config.models import User
from lightkube.core.exceptions import ConfigError
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap
from lightkube.types import PatchType

from ..errors import KubernetesError
from . import SERVICE_ACCOUNT_DIR, TOKEN_PATH, running_in_cluster

__all__ = [
    "DEFAULT_CONFIGMAP",
    "INSTALL_EVENT_KEY",
    "SERVICE_ACCOUNT_DIR",
    "TOKEN_PATH",
    "UCID_KEY",
    "Kubernetes",
    "running_in_cluster",
]

log = structlog.get_logger(__name__)

DEFAULT_CONFIGMAP = "devtron-ucid"
UCID_KEY = "UCID"
INSTALL_EVENT_KEY = "installEvent"
INSTALL_EVENT_DONE = "2"  # "1" until the installation event was sent, as Devtron's installer has it

_UCID_FORMAT = re.compile(r"[a-z0-9]{16}")
_ATTEMPTS = 3  # read-then-write rounds lost to other replicas before giving up
_MAX_DETAIL = 300

T = TypeVar("T")


class SharedTransport(httpx.HTTPTransport):
    """One connection pool for the lightkube client and the /version client, closed once."""

    def __deepcopy__(self, memo: dict[int, object]) -> SharedTransport:
        # lightkube deep-copies its connection parameters; a pool (and its TLS context) is shared.
        return self


class Kubernetes:
    """The installation's ConfigMap and the API server's version, through lightkube."""

    def __init__(
        self,
        config: SingleConfig | KubeConfig,
        *,
        namespace: str,
        configmap: str = DEFAULT_CONFIGMAP,
        timeout: float = 5.0,
    ) -> None:
        """Reach the API server of `config` for ConfigMap `namespace`/`configmap`."""
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        single = config.get() if isinstance(config, KubeConfig) else config
        if single is None or single.user is None:
            raise ValueError("the Kubernetes configuration names no context or no user")
        self._config: SingleConfig = single
        self._user: User = single.user
        # TLS against the configuration's CA (the cluster's, in a pod); one attempt per call:
        # the callers retry on their own schedule.
        verify = verify_cluster(single.cluster, self._user, single.abs_file, trust_env=False)
        self._transport = SharedTransport(verify=verify, retries=0)
        # No proxy from the environment between the pod and its own API server.
        limits = httpx.Timeout(timeout)
        params = ConnectionParams(timeout=limits, trust_env=False, transport=self._transport)
        self._client = Client(
            self._config, timeout=limits, trust_env=False, transport=self._transport
        )
        # lightkube has no call for the non-resource URL /version: a plain client, same settings.
        self._http = HttpClient(self._config, params)
        self.namespace = namespace
        self.configmap = configmap
        self.timeout = float(timeout)
        self._warned_ucid: str | None = None

    @classmethod
    def in_cluster(
        cls,
        *,
        namespace: str,
        configmap: str = DEFAULT_CONFIGMAP,
        timeout: float = 5.0,
    ) -> Kubernetes:
        """A client authenticated as the pod's ServiceAccount (token re-read as it rotates)."""
        # lightkube reads the token from its file again when the API server refuses the one it
        # holds (401), as client-go does: the kubelet rotates a projected token in place.
        account = SERVICE_ACCOUNT_DIR
        try:
            config = KubeConfig.from_service_account(account)
        except (ConfigError, OSError) as exc:  # a file missing (ConfigError) or unreadable
            raise KubernetesError(
                f"kubernetes: cannot load the in-cluster configuration: {_one_line(str(exc))}"
            ) from exc
        except KeyError as exc:
            raise KubernetesError(
                "kubernetes: cannot load the in-cluster configuration: "
                f"{exc.args[0]} is not set (not running in a pod?)"
            ) from exc
        try:
            return cls(config, namespace=namespace, configmap=configmap, timeout=timeout)
        except (OSError, ssl.SSLError) as exc:  # the CA certificate is missing or unreadable
            raise KubernetesError(
                "kubernetes: cannot load the in-cluster configuration: cannot read the CA "
                f"certificate in {account} ({_one_line(str(exc))})"
            ) from exc

    @property
    def _target(self) -> str:
        return f"ConfigMap {self.namespace}/{self.configmap}"

    # the installation's ConfigMap --------------------------------------------------------

    def ucid(self, generate: Callable[[], str]) -> str:
        """The installation id from the ConfigMap, creating or completing it with `generate()`."""
        for _ in range(_ATTEMPTS):
            found = self._read()
            if found is None:
                candidate = generate()
                if self._create({UCID_KEY: candidate, INSTALL_EVENT_KEY: "1"}):
                    log.info(
                        "created the installation's ConfigMap with a new installation id",
                        configmap=f"{self.namespace}/{self.configmap}",
                        ucid=candidate,
                    )
                    return candidate
                continue  # another replica created it first: read theirs
            stored = _data(found).get(UCID_KEY)
            if stored:
                self._check_format(stored)
                return stored
            candidate = generate()
            # The resourceVersion makes the patch conditional: if another replica completed the
            # ConfigMap since our read, the API server answers 409 and we read its id instead.
            version = found.metadata.resourceVersion if found.metadata else None
            if self._patch({UCID_KEY: candidate}, resource_version=version, missing_ok=True):
                log.info(
                    "added a new installation id to the installation's ConfigMap",
                    configmap=f"{self.namespace}/{self.configmap}",
                    ucid=candidate,
                )
                return candidate
        raise KubernetesError(
            f"kubernetes: {self._target} kept changing while the installation id was being "
            f"settled; gave up after {_ATTEMPTS} attempts"
        )

    def stored_ucid(self) -> str | None:
        """The installation id in the ConfigMap, if any; creates nothing (preview, status)."""
        found = self._read()
        if found is None:
            return None
        return _data(found).get(UCID_KEY) or None

    def install_event(self) -> str | None:
        """The ConfigMap's `installEvent` ("1" before the install event was sent), or None."""
        found = self._read()
        return None if found is None else _data(found).get(INSTALL_EVENT_KEY)

    def set_install_event(self, value: str) -> None:
        """Set the ConfigMap's `installEvent`, leaving every other key as it is."""
        self._patch({INSTALL_EVENT_KEY: value})

    # the API server ----------------------------------------------------------------------

    def server_version(self) -> str:
        """The API server's GitVersion, e.g. `v1.29.4+k3s1`."""
        target = "the server version (GET /version)"
        info = self._call("read", target, lambda: self._get_json("/version"))
        version = info.get("gitVersion") if isinstance(info, dict) else None
        if not isinstance(version, str) or not version:
            raise KubernetesError(f"kubernetes: cannot read {target}: gitVersion is empty")
        return str(version)

    def close(self) -> None:
        """Close the clients' connections."""
        self._http.close()
        # lightkube's sync Client has no close(): the shared transport holds the connections.
        self._transport.close()

    # calls -------------------------------------------------------------------------------

    def _get_json(self, path: str) -> object:
        response = self._http.get(path)
        response.raise_for_status()
        return response.json()

    def _read(self) -> ConfigMap | None:
        """The ConfigMap, or None when it does not exist."""
        try:
            return self._call(
                "read",
                self._target,
                lambda: self._client.get(ConfigMap, self.configmap, namespace=self.namespace),
            )
        except KubernetesError as exc:
            if exc.status == 404:
                return None
            raise

    def _create(self, data: dict[str, str]) -> bool:
        """Create the ConfigMap with `data`; False if it already exists."""
        body = ConfigMap(
            metadata=ObjectMeta(name=self.configmap, namespace=self.namespace), data=data
        )
        try:
            self._call(
                "create", self._target, lambda: self._client.create(body, namespace=self.namespace)
            )
        except KubernetesError as exc:
            if exc.status == 409:
                return False
            raise
        return True

    def _patch(
        self, data: dict[str, str], *, resource_version: str | None = None, missing_ok: bool = False
    ) -> bool:
        """Merge `data` into the ConfigMap's; False on a lost race (409, or 404 if `missing_ok`)."""
        body: dict[str, object] = {"data": data}
        if resource_version is not None:
            body["metadata"] = {"resourceVersion": resource_version}
        try:
            self._call(
                "patch",
                self._target,
                # A JSON merge patch: strategic merge (lightkube's default) needs the schema.
                lambda: self._client.patch(
                    ConfigMap,
                    self.configmap,
                    body,
                    namespace=self.namespace,
                    patch_type=PatchType.MERGE,
                ),
            )
        except KubernetesError as exc:
            if (exc.status == 409 and resource_version is not None) or (
                exc.status == 404 and missing_ok
            ):
                return False
            raise
        return True

    def _call(self, action: str, target: str, call: Callable[[], T]) -> T:
        """Run one API call, turning every failure into a one-line KubernetesError."""
        status: int | None = None
        try:
            return call()
        except httpx.HTTPStatusError as exc:  # ApiError too: any answer with an error status
            message, status = self._api_failure(action, target, exc), exc.response.status_code
        except httpx.HTTPError as exc:
            message = self._network_failure(action, target, exc)
        except (ValueError, KeyError, TypeError) as exc:
            # JSON and model errors: a 2xx answer that is not what the API server sends.
            message = (
                f"kubernetes: cannot {action} {target}: unexpected answer ({_one_line(str(exc))})"
            )
        raise KubernetesError(self._scrub(message), status)

    def _api_failure(self, action: str, target: str, exc: httpx.HTTPStatusError) -> str:
        code = exc.status.code if isinstance(exc, ApiError) and exc.status.code else 0
        code = code or exc.response.status_code
        reason = exc.response.reason_phrase.strip()
        head = f"kubernetes: cannot {action} {target}"
        detail = _status_message(exc.response.text)
        text = f"{head}: {code} {reason}".rstrip()
        if detail and detail != reason:
            text += f" ({detail})"
        return text + _hint(code, target.startswith("ConfigMap"), self.namespace)

    def _network_failure(self, action: str, target: str, exc: httpx.HTTPError) -> str:
        host = self._config.cluster.server
        cause = _root_cause(exc)
        if isinstance(exc, httpx.TimeoutException):
            why = f"no answer from {host} within {self.timeout:g}s"
        elif isinstance(exc, httpx.ConnectError) and isinstance(cause, ssl.SSLError):
            why = f"TLS failure with {host} ({_one_line(str(cause))})"
        elif isinstance(exc, httpx.ConnectError):
            why = f"cannot connect to {host} ({_one_line(str(exc))})"
        else:
            why = f"connection to {host} failed ({type(exc).__name__}: {_one_line(str(exc))})"
        return f"kubernetes: cannot {action} {target}: {why}"

    def _scrub(self, message: str) -> str:
        """Mask the credentials this client sends, should an answer ever echo them."""
        tokens = [self._user.token]
        if self._user.token_file is not None:
            # Unreadable: then no request carried it, and no answer can echo it.
            with contextlib.suppress(OSError):
                tokens.append(Path(self._user.token_file).read_text().strip())
        for token in tokens:
            if token and len(token) >= 8:
                message = message.replace(token, "***")
        return message

    def _check_format(self, ucid: str) -> None:
        """Warn once per value about an id that is not Devtron's: it stays the identity anyway."""
        if _UCID_FORMAT.fullmatch(ucid) or ucid == self._warned_ucid:
            return
        self._warned_ucid = ucid
        log.warning(
            "the installation id in the ConfigMap is not in Devtron's format "
            "(16 characters from [a-z0-9]); using it as it is",
            configmap=f"{self.namespace}/{self.configmap}",
            ucid=ucid,
        )


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost exception of a chain (httpx wraps httpcore's, which wraps the OS's)."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return exc


def _data(configmap: ConfigMap) -> dict[str, str]:
    """A ConfigMap's `data`, empty when it has none."""
    return {str(key): str(value) for key, value in (configmap.data or {}).items()}


def _status_message(body: object) -> str:
    """The `message` of the API server's `Status` answer, or the body's start if not one."""
    if not isinstance(body, str) or not body.strip():
        return ""
    try:
        decoded = json.loads(body)
    except ValueError:
        return _one_line(body)
    if isinstance(decoded, dict) and isinstance(decoded.get("message"), str):
        return _one_line(decoded["message"])
    return _one_line(body)


def _hint(code: int, configmap: bool, namespace: str) -> str:
    """What an operator does about a status, as a `; ...` suffix."""
    if code == 401:
        return "; the ServiceAccount token was rejected (is it mounted and unexpired?)"
    if code == 403 and configmap:
        return f"; grant the ServiceAccount get/create/patch on configmaps in namespace {namespace}"
    if code == 403:
        return "; grant the ServiceAccount get on the non-resource URL /version"
    return ""


def _one_line(text: str) -> str:
    """Collapse whitespace and cap the length, so a message stays one readable line."""
    flat = " ".join(text.split())
    return flat if len(flat) <= _MAX_DETAIL else flat[: _MAX_DETAIL - 3] + "..."
