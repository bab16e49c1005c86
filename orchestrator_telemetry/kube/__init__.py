"""The daemon's only door to the Kubernetes API, and the cheap check whether it runs in a pod.

This module imports nothing heavy: `client` (the API client) and `install_event` (Devtron's
ConfigMap kept in step) are imported only when Kubernetes is in use (in a pod, or
`kubernetes.enabled: true`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

# Where the kubelet mounts the pod's ServiceAccount: token, ca.crt, namespace.
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
TOKEN_PATH = SERVICE_ACCOUNT_DIR / "token"


def running_in_cluster(
    environ: Mapping[str, str] = os.environ, token_path: Path = TOKEN_PATH
) -> bool:
    """True inside a pod: the API server's address is set and a ServiceAccount token is mounted."""
    return bool(environ.get("KUBERNETES_SERVICE_HOST")) and token_path.is_file()
