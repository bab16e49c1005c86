"""The daemon's only door to the Kubernetes API: the installation's ConfigMap and `/version`."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TypeVar

import structlog
import urllib3.exceptions
from kubernetes.client import ApiClient, Configuration, CoreV1Api, VersionApi
from kubernetes.client.exceptions import ApiException
from kubernetes.client.models import V1ConfigMap, V1ObjectMeta
from kubernetes.config import ConfigException, load_incluster_config

from .cluster import TOKEN_PATH, running_in_cluster
from .database import Unavailable

__all__ = [
    "DEFAULT_CONFIGMAP",
    "INSTALL_EVENT_KEY",
    "TOKEN_PATH",
    "UCID_KEY",
    "Kubernetes",
    "KubernetesError",
    "running_in_cluster",
]

log = structlog.get_logger(__name__)

DEFAULT_CONFIGMAP = "devtron-ucid"
UCID_KEY = "UCID"
INSTALL_EVENT_KEY = "installEvent"
INSTALL_EVENT_DONE = "2"  # "1" until the installation event was sent, as Devtron's installer has it

MERGE_PATCH = "application/merge-patch+json"
_UCID_FORMAT = re.compile(r"[a-z0-9]{16}")
_ATTEMPTS = 3  # read-then-write rounds lost to other replicas before giving up
_MAX_DETAIL = 300

T = TypeVar("T")


class KubernetesError(Unavailable):
    """A Kubernetes API call failed; the message is one line naming the object and the cause."""

    def __init__(self, message: str, status: int | None = None) -> None:
        """Keep the HTTP status (None when no answer came) for callers that branch on it."""
        super().__init__(message)
        self.status = status


class Kubernetes:
    """The installation's ConfigMap and the API server's version, through the official client."""

    def __init__(
        self,
        api_client: ApiClient,
        *,
        namespace: str,
        configmap: str = DEFAULT_CONFIGMAP,
        timeout: float = 5.0,
    ) -> None:
        """Use `api_client` (closed by `close()`) for ConfigMap `namespace`/`configmap`."""
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self._client = api_client
        self._core = CoreV1Api(api_client)
        self._versions = VersionApi(api_client)
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
        # A fresh Configuration: the client's process-wide default stays untouched.
        configuration = Configuration()
        try:
            load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except ConfigException as exc:
            raise KubernetesError(
                f"kubernetes: cannot load the in-cluster configuration: {_one_line(str(exc))}"
            ) from exc
        # One attempt per call: urllib3's default of 3 retries would let a call take 4 timeouts;
        # the callers retry on their own schedule.
        configuration.retries = 0
        return cls(
            ApiClient(configuration), namespace=namespace, configmap=configmap, timeout=timeout
        )

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
            stored = (found.data or {}).get(UCID_KEY)
            if stored:
                self._check_format(stored)
                return stored
            candidate = generate()
            # The resourceVersion makes the patch conditional: if another replica completed the
            # ConfigMap since our read, the API server answers 409 and we read its id instead.
            version = found.metadata.resource_version if found.metadata else None
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
        return (found.data or {}).get(UCID_KEY) or None

    def install_event(self) -> str | None:
        """The ConfigMap's `installEvent` ("1" before the install event was sent), or None."""
        found = self._read()
        return None if found is None else (found.data or {}).get(INSTALL_EVENT_KEY)

    def set_install_event(self, value: str) -> None:
        """Set the ConfigMap's `installEvent`, leaving every other key as it is."""
        self._patch({INSTALL_EVENT_KEY: value})

    # the API server ----------------------------------------------------------------------

    def server_version(self) -> str:
        """The API server's GitVersion, e.g. `v1.29.4+k3s1`."""
        target = "the server version (GET /version)"
        info = self._call(
            "read", target, lambda: self._versions.get_code(_request_timeout=self.timeout)
        )
        if not info.git_version:
            raise KubernetesError(f"kubernetes: cannot read {target}: gitVersion is empty")
        return info.git_version

    def close(self) -> None:
        """Close the API client's connections."""
        self._client.close()  # type: ignore[no-untyped-call]

    # calls -------------------------------------------------------------------------------

    def _read(self) -> V1ConfigMap | None:
        """The ConfigMap, or None when it does not exist."""
        try:
            return self._call(
                "read",
                self._target,
                lambda: self._core.read_namespaced_config_map(
                    self.configmap, self.namespace, _request_timeout=self.timeout
                ),
            )
        except KubernetesError as exc:
            if exc.status == 404:
                return None
            raise

    def _create(self, data: dict[str, str]) -> bool:
        """Create the ConfigMap with `data`; False if it already exists."""
        body = V1ConfigMap(
            api_version="v1",
            kind="ConfigMap",
            metadata=V1ObjectMeta(name=self.configmap, namespace=self.namespace),
            data=data,
        )
        try:
            self._call(
                "create",
                self._target,
                # The client sends no Content-Type on create and ignores `_content_type` there;
                # the API server would assume JSON, but say it rather than rely on that.
                lambda: self._core.create_namespaced_config_map(
                    self.namespace,
                    body,
                    _headers={"Content-Type": "application/json"},
                    _request_timeout=self.timeout,
                ),
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
                # Explicit: with no content type the client picks strategic merge for a dict.
                lambda: self._core.patch_namespaced_config_map(
                    self.configmap,
                    self.namespace,
                    body,
                    _content_type=MERGE_PATCH,
                    _request_timeout=self.timeout,
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
        try:
            return call()
        except ApiException as exc:
            message, status = self._api_failure(action, target, exc), exc.status
        except urllib3.exceptions.HTTPError as exc:
            message, status = self._network_failure(action, target, exc), None
        except ValueError as exc:
            # pydantic and JSON errors: a 2xx answer that is not what the API server sends.
            message = (
                f"kubernetes: cannot {action} {target}: unexpected answer ({_one_line(str(exc))})"
            )
            status = None
        raise KubernetesError(self._scrub(message), status)

    def _api_failure(self, action: str, target: str, exc: ApiException) -> str:
        code = exc.status if isinstance(exc.status, int) else 0
        reason = str(exc.reason or "").strip()
        head = f"kubernetes: cannot {action} {target}"
        if code == 0:  # raised by the client itself, e.g. a proxy's HTML page
            return f"{head}: unexpected answer ({_one_line(reason)})"
        detail = _status_message(exc.body)
        text = f"{head}: {code} {reason}".rstrip()
        if detail and detail != reason:
            text += f" ({detail})"
        return text + _hint(code, target.startswith("ConfigMap"), self.namespace)

    def _network_failure(self, action: str, target: str, exc: urllib3.exceptions.HTTPError) -> str:
        host = self._client.configuration.host
        cause: BaseException = exc
        if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
            cause = exc.reason
        # NewConnectionError first: urllib3 makes it a subclass of ConnectTimeoutError.
        if isinstance(cause, urllib3.exceptions.NewConnectionError):
            os_error = cause.__cause__ or cause.__context__
            why = f"cannot connect to {host} ({_one_line(str(os_error or cause))})"
        elif isinstance(cause, urllib3.exceptions.TimeoutError):
            why = f"no answer from {host} within {self.timeout:g}s"
        elif isinstance(cause, urllib3.exceptions.SSLError):
            why = f"TLS failure with {host} ({_one_line(str(cause))})"
        else:
            why = f"connection to {host} failed ({type(cause).__name__}: {_one_line(str(cause))})"
        return f"kubernetes: cannot {action} {target}: {why}"

    def _scrub(self, message: str) -> str:
        """Mask the credentials this client sends, should an answer ever echo them."""
        configuration = self._client.configuration
        for value in configuration.api_key.values():
            # The in-cluster loader stores "bearer <token>": mask the token itself.
            for part in str(value).split():
                if len(part) >= 8:
                    message = message.replace(part, "***")
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
