"""As the image runs the daemon: optimised (`PYTHONOPTIMIZE=2`: no docstrings, no asserts).

The image runs optimised to take less memory (BENCHMARKS.md). Whatever the daemon or one of its
libraries reads at run time must survive that: these tests run the command line the same way,
on both paths, and check what arrives.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.footprint import IMAGE_ENV
from tests.support.capture import CaptureServer
from tests.support.cli import API_KEY, cli_env, plain_url, run_cli
from tests.support.kube import FakeKubernetesApi
from tests.support.slots import settled_schedules

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
SCHEDULES = settled_schedules()
TOKEN = "image-like-serviceaccount-token"  # the local API server's own, not a secret


def optimised_env(database_url: str, capture: CaptureServer, **variables: str) -> dict[str, str]:
    """The environment of an optimised command delivering to the capture server."""
    return cli_env(
        OT_DATABASE_URL=plain_url(database_url),
        OT_POSTHOG_HOST=capture.url,
        OT_POSTHOG_API_KEY=API_KEY,
        **IMAGE_ENV,
        **SCHEDULES.env(),
        **variables,
    )


def test_the_optimised_interpreter_really_strips_docstrings() -> None:
    shown = subprocess.run(
        [sys.executable, "-c", "import orchestrator_telemetry.errors as e; print(e.__doc__)"],
        env=cli_env(**IMAGE_ENV),
        capture_output=True,
        text=True,
        check=True,
    )

    assert shown.stdout.strip() == "None"


@pytest.mark.parametrize("payload_format", ["documented", "extended"])
def test_optimised_the_daemon_migrates_a_fresh_schema_and_delivers_both_events(
    orchestrator_db_url: str, capture: CaptureServer, payload_format: str
) -> None:
    env = optimised_env(orchestrator_db_url, capture, OT_PAYLOAD_FORMAT=payload_format)

    result = run_cli("once", "--event", "all", env=env)

    assert result.returncode == 0, result.describe()
    [summary] = capture.events_named("Summary")
    [heartbeat] = capture.events_named("Heartbeat")
    assert summary["distinct_id"] == heartbeat["distinct_id"]
    checked = run_cli("check-config", env=env)
    assert checked.returncode == 0, checked.describe()


def test_optimised_in_a_cluster_the_daemon_reads_its_configmap_and_the_server_version(
    orchestrator_db_url: str, capture: CaptureServer, tmp_path: Path
) -> None:
    with FakeKubernetesApi(TOKEN, tls=True) as api:
        api.put_configmap("devtroncd", "devtron-ucid", {"UCID": "optimisedclusterid"})
        account = tmp_path / "serviceaccount"
        account.mkdir()
        (account / "token").write_text(TOKEN)
        (account / "ca.crt").write_bytes(api.ca_path.read_bytes())
        (account / "namespace").write_text("devtroncd")
        env = optimised_env(
            orchestrator_db_url,
            capture,
            KUBERNETES_SERVICE_HOST="127.0.0.1",
            KUBERNETES_SERVICE_PORT=str(api.port),
            OT_KUBERNETES_ENABLED="true",
            NO_PROXY="127.0.0.1",
        )

        launched = subprocess.run(
            [sys.executable, "-m", "bench.in_pod", str(account), "once", "--event", "all"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert launched.returncode == 0, launched.stdout + launched.stderr
    [summary] = capture.events_named("Summary")
    assert summary["distinct_id"] == "optimisedclusterid"
    assert summary["properties"]["serverVersion"] == api.version["gitVersion"]
