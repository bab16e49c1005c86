"""The effective configuration as `check-config` prints it: every value, never null, and why."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from sqlalchemy.engine import make_url

from .config import Config, env_name, keys, password_parameters
from .kube import running_in_cluster

ServerVersion = Callable[[], str]

_SHORTEST_SHOWN = 12  # a shorter secret shows nothing of itself: four characters would be a third


def describe(
    config: Config,
    environ: Mapping[str, str] = os.environ,
    server_version: ServerVersion | None = None,
) -> Iterator[str]:
    """One `key: value  # source` line per key, secrets masked; unset values say what stands."""
    data = config.settings.model_dump(by_alias=True)
    for section, key in keys():
        value: Any = data[section][key]
        origin = config.source_of(f"{section}.{key}")
        variable = env_name(section, key)
        where = origin if origin == variable else f"{origin}; env {variable}"
        if value is None:
            shown, why = _resolved(config, section, key, environ, server_version)
            where = f"{why}; env {variable}"
        else:
            shown = json.dumps(_masked(key, value))
        yield f"{section}.{key}: {shown}  # {where}"


def mask_secret(key: str, secret: str) -> str:
    """A URL with its passwords hidden; a key as its first and last four characters."""
    if key == "url":
        url = make_url(secret)
        hidden = dict.fromkeys(password_parameters(url), "***")
        masked: str = url.update_query_dict(hidden).render_as_string(hide_password=True)
        return masked
    # The last four tell two keys apart; the first four say which kind of key it is.
    return "***" if len(secret) < _SHORTEST_SHOWN else f"{secret[:4]}...{secret[-4:]}"


def _masked(key: str, value: Any) -> Any:
    if hasattr(value, "get_secret_value"):
        return mask_secret(key, value.get_secret_value())
    return value


def kubernetes_in_use(config: Config, environ: Mapping[str, str]) -> tuple[bool, str]:
    """Whether the Kubernetes API is used, and why."""
    wanted = config.settings.kubernetes.enabled
    if wanted is not None:
        return wanted, f"set by {config.source_of('kubernetes.enabled')}"
    if running_in_cluster(environ):
        return True, "default: running in a cluster (KUBERNETES_SERVICE_HOST and a token)"
    return False, "default: not running in a cluster (no KUBERNETES_SERVICE_HOST and token)"


def _resolved(
    config: Config,
    section: str,
    key: str,
    environ: Mapping[str, str],
    server_version: ServerVersion | None,
) -> tuple[str, str]:
    """What an unset key resolves to (as JSON) and why."""
    settings = config.settings
    name = f"{section}.{key}"
    in_use = kubernetes_in_use(config, environ)
    if name == "state.url":
        shown = mask_secret("url", settings.state_url.get_secret_value())
        return json.dumps(shown), "not set: the daemon's tables live in database.url"
    if name == "kubernetes.enabled":
        return json.dumps(in_use[0]), in_use[1]
    if name == "devtron.server_version":
        return _server_version(in_use[0], server_version)
    asked = settings.posthog.key_url is not None
    why = {
        "posthog.api_key": "asked from posthog.key_url at run time"
        if asked
        else "not needed (nothing is sent to PostHog)",
        "posthog.key_url": "posthog.api_key is used",
        "identity.ucid": "read from "
        + ("the ConfigMap, else " if in_use[0] else "")
        + "the daemon's identity table",
    }.get(name)
    return json.dumps("none"), f"not set: {why}" if why else "not set"


def _server_version(used: bool, server_version: ServerVersion | None) -> tuple[str, str]:
    if not used or server_version is None:
        return json.dumps("unknown"), (
            "not set and no Kubernetes API: events report unknown; set devtron.server_version"
        )
    try:
        version = server_version()
    except Exception as exc:  # noqa: BLE001 - shown, not raised: the daemon would report unknown
        return json.dumps("unknown"), f"not set; the Kubernetes API did not answer: {exc}"
    return json.dumps(version), "not set: read from the Kubernetes API (GET /version)"
