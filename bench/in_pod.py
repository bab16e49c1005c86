"""`python -m bench.in_pod TOKEN CA ARGS...`: the command line as in a pod, for the footprint.

A pod has its ServiceAccount's token and CA at fixed paths; here they are files of the local
fake API server, and the in-cluster loader is pointed at them before the command line starts.
"""

from __future__ import annotations

import sys

from kubernetes.config import incluster_config

from orchestrator_telemetry.cli import main

if __name__ == "__main__":
    token, ca, *args = sys.argv[1:]
    incluster_config.SERVICE_TOKEN_FILENAME = token
    incluster_config.SERVICE_CERT_FILENAME = ca
    sys.exit(main(args))
