"""The idle daemon stays light: heavy libraries are imported only where they are needed."""

from __future__ import annotations

import subprocess
import sys

PROBE = (
    "import sys, orchestrator_telemetry.cli, orchestrator_telemetry.daemon;"
    "print(sorted({'lightkube', 'kubernetes', 'alembic', 'mako'} & set(sys.modules)))"
)


def test_starting_the_daemon_imports_neither_the_kubernetes_client_nor_alembic() -> None:
    # Outside a cluster the Kubernetes client is dead weight (about 8 MB resident), and Alembic
    # is needed only when the schema is behind.
    loaded = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    ).stdout.strip()

    assert loaded == "[]"
