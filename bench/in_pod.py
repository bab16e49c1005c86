"""`python -m bench.in_pod ACCOUNT_DIR ARGS...`: the command line as in a pod, for the footprint.

A pod has its ServiceAccount's token, CA and namespace in one fixed folder; here it is a folder
for the local fake API server, and the in-cluster loader is pointed at it before the command
line starts.
"""

from __future__ import annotations

import sys
from pathlib import Path

from orchestrator_telemetry.cli import main
from orchestrator_telemetry.kube import client as kube

if __name__ == "__main__":
    account, *args = sys.argv[1:]
    kube.SERVICE_ACCOUNT_DIR = Path(account)
    sys.exit(main(args))
