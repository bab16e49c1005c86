"""Secrets are masked in everything the program prints and stores, not only in log lines."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from tests.support.capture import CaptureServer, Reply
from tests.support.cli import API_KEY, cli_env, plain_url, run_cli

pytestmark = pytest.mark.integration

SECRET = "s3cret-value-42"


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter with the package under test."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env=cli_env(),
    )


def test_print_output_and_an_uncaught_traceback_are_masked() -> None:
    result = run_python(
        f"""
        from orchestrator_telemetry import logs
        logs.mask_streams(logs.Redactor([{SECRET!r}]))
        print("connecting with {SECRET}")
        raise RuntimeError("refused: {SECRET}")
        """
    )

    assert result.returncode == 1
    assert "connecting with ***" in result.stdout
    assert "RuntimeError: refused: ***" in result.stderr
    assert SECRET not in result.stdout + result.stderr


def test_the_http_servers_own_error_output_is_masked() -> None:
    result = run_python(
        f"""
        import urllib.error, urllib.request
        from orchestrator_telemetry import logs
        from orchestrator_telemetry.serve.endpoints import Endpoints
        from orchestrator_telemetry.serve.metrics import Monitor

        logs.mask_streams(logs.Redactor([{SECRET!r}]))

        def alive():
            raise RuntimeError("cannot check: {SECRET}")

        endpoints = Endpoints(Monitor(), alive=alive, preview=list)
        port = endpoints.start("127.0.0.1", 0)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({{}}))
        try:
            opener.open(f"http://127.0.0.1:{{port}}/healthz", timeout=10)
        except urllib.error.HTTPError as error:
            print("status", error.code)
        endpoints.stop()
        """
    )

    assert "status 500" in result.stdout, result.stderr
    assert "RuntimeError: cannot check: ***" in result.stderr  # wsgiref's own traceback
    assert SECRET not in result.stdout + result.stderr


def test_an_error_quoting_secrets_is_stored_and_logged_masked(
    orchestrator_db_url: str, orchestrator_engine: Engine, capture: CaptureServer
) -> None:
    password = "db-pass-123"  # the throwaway server trusts local connections; any password does
    url = plain_url(
        make_url(orchestrator_db_url).set(password=password).render_as_string(hide_password=False)
    )
    capture.respond_with(Reply.error(503, f"key {API_KEY} and {url} via http://p:proxy-pw@x:1"))
    env = cli_env(
        OT_DATABASE_URL=url,
        OT_POSTHOG_HOST=capture.url,
        OT_POSTHOG_API_KEY=API_KEY,
        OT_IDENTITY_UCID="maskucid00000042",
        OT_DEVTRON_SERVER_VERSION="v1.29.4",
    )

    result = run_cli("emit", "InstallationStart", env=env)

    assert result.returncode == 0, result.describe()
    with orchestrator_engine.connect() as connection:
        [stored] = connection.execute(
            text("SELECT last_error FROM orchestrator_telemetry.outbox")
        ).scalars()
    assert "key ***" in stored
    assert API_KEY not in stored
    assert password not in stored
    assert "proxy-pw" not in stored
    assert API_KEY not in result.output
    assert password not in result.output
