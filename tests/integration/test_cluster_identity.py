"""Inside a cluster: the ucid and installEvent in Devtron's ConfigMap, serverVersion from the API.

The daemon is composed by `application(...)` exactly as the command line composes it, with
`kubernetes.enabled` on. The in-cluster loader finds what a kubelet mounts in a pod, pointed at a
fake API server over TLS; the state database is a real PostgreSQL; events go to a MemorySink.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from orchestrator_telemetry.app import App, application
from orchestrator_telemetry.config import load
from orchestrator_telemetry.deliver.sinks import MemorySink
from orchestrator_telemetry.errors import KubernetesError, TransientError
from orchestrator_telemetry.events import Event, EventName
from tests.support.kube import FakeKubernetesApi, pretend_in_pod

pytestmark = pytest.mark.integration

TOKEN = "eyJhbGciOiJSUzI1NiJ9.cluster-identity-token"
NAMESPACE = "devtroncd"
CONFIGMAP = "devtron-ucid"
CONFIGMAP_PATH = f"/api/v1/namespaces/{NAMESPACE}/configmaps/{CONFIGMAP}"
NOW = datetime(2026, 11, 25, 7, 30, tzinfo=UTC)
HEARTBEAT_SLOT = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
DEVTRONS_UCID = "k3v9q2m8x1c7w4zt"

Compose = Callable[..., contextlib.AbstractContextManager[App]]


@pytest.fixture
def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKubernetesApi]:
    """A fake API server over TLS, found by the in-cluster loader as in a pod."""
    with FakeKubernetesApi(TOKEN, tls=True) as server:
        pretend_in_pod(monkeypatch, server, tmp_path / "token", TOKEN)
        yield server


@pytest.fixture
def sink() -> MemorySink:
    """Where delivered events end up."""
    return MemorySink()


@pytest.fixture
def compose(orchestrator_db_url: str, sink: MemorySink) -> Compose:
    """Compose the daemon with kubernetes on, plus `OT_*` settings given as keyword arguments."""

    def build(**settings: str) -> contextlib.AbstractContextManager[App]:
        environ = {
            "OT_DATABASE_URL": orchestrator_db_url,
            "OT_KUBERNETES_ENABLED": "true",
            "OT_KUBERNETES_TIMEOUT": "5",
            **settings,
        }
        config = load(None, environ, require_api_key=False)
        return application(config, lambda: NOW, sink=sink)

    return build


def heartbeat_of(app: App, sink: MemorySink) -> Event:
    """Prepare, record the current Heartbeat and deliver it; return what the sink received."""
    app.telemetry.prepare()
    app.telemetry.record_heartbeat(HEARTBEAT_SLOT)
    app.telemetry.deliver()
    [event] = sink.events
    return event


# the installation id ---------------------------------------------------------------------------


def test_the_ucid_is_taken_from_devtrons_configmap(
    api: FakeKubernetesApi, compose: Compose, sink: MemorySink
) -> None:
    api.put_configmap(NAMESPACE, CONFIGMAP, {"UCID": DEVTRONS_UCID, "installEvent": "2"})

    with compose() as app:
        ucid = app.telemetry.prepare()
        event = heartbeat_of(app, sink)

    assert ucid == DEVTRONS_UCID
    assert event.distinct_id == DEVTRONS_UCID
    assert event.to_capture()["properties"]["ucid"] == DEVTRONS_UCID
    assert api.writes == []
    assert api.configmap_data(NAMESPACE, CONFIGMAP) == {"UCID": DEVTRONS_UCID, "installEvent": "2"}


def test_a_missing_configmap_is_created_and_its_new_ucid_is_used(
    api: FakeKubernetesApi, compose: Compose, sink: MemorySink
) -> None:
    with compose() as app:
        ucid = app.telemetry.prepare()
        event = heartbeat_of(app, sink)

    assert re.fullmatch(r"[a-z0-9]{16}", ucid)
    assert api.configmap_data(NAMESPACE, CONFIGMAP) == {"UCID": ucid, "installEvent": "1"}
    assert event.distinct_id == ucid
    # A restart finds the ConfigMap and keeps the id.
    sink.events.clear()
    with compose() as app:
        assert app.telemetry.prepare() == ucid


def test_a_configured_ucid_wins_and_the_configmap_is_not_read(
    api: FakeKubernetesApi, compose: Compose, sink: MemorySink
) -> None:
    api.put_configmap(NAMESPACE, CONFIGMAP, {"UCID": DEVTRONS_UCID, "installEvent": "2"})

    with compose(OT_IDENTITY_UCID="c0nf1gureducid01") as app:
        ucid = app.telemetry.prepare()
        event = heartbeat_of(app, sink)

    assert ucid == "c0nf1gureducid01"
    assert event.distinct_id == "c0nf1gureducid01"
    assert api.requests_to("GET", CONFIGMAP_PATH) == []
    assert api.writes == []


# serverVersion -------------------------------------------------------------------------------


def test_server_version_is_the_api_servers_git_version(
    api: FakeKubernetesApi, compose: Compose, sink: MemorySink
) -> None:
    api.put_configmap(NAMESPACE, CONFIGMAP, {"UCID": DEVTRONS_UCID})
    api.version = {**api.version, "gitVersion": "v1.30.2-eks-1552ad0"}

    with compose() as app:
        event = heartbeat_of(app, sink)

    assert event.to_capture()["properties"]["serverVersion"] == "v1.30.2-eks-1552ad0"
    assert [r.path for r in api.requests if r.path.startswith("/version")] == ["/version"]


def test_a_configured_server_version_wins_and_the_api_is_not_asked(
    api: FakeKubernetesApi, compose: Compose, sink: MemorySink
) -> None:
    api.put_configmap(NAMESPACE, CONFIGMAP, {"UCID": DEVTRONS_UCID})

    with compose(OT_DEVTRON_SERVER_VERSION="v1.28.0-custom") as app:
        event = heartbeat_of(app, sink)

    assert event.to_capture()["properties"]["serverVersion"] == "v1.28.0-custom"
    assert [r for r in api.requests if r.path.startswith("/version")] == []


def test_server_version_is_unknown_while_the_version_endpoint_fails(
    api: FakeKubernetesApi, compose: Compose, sink: MemorySink
) -> None:
    api.put_configmap(NAMESPACE, CONFIGMAP, {"UCID": DEVTRONS_UCID})
    api.fail_version(503)

    with compose() as app:
        event = heartbeat_of(app, sink)
        api.fail_version(None)
        recovered = app.telemetry.versions().server

    assert event.to_capture()["properties"]["serverVersion"] == "unknown"
    assert recovered == "v1.29.4+k3s1"  # a failure is not remembered as the answer


# installEvent --------------------------------------------------------------------------------


def install_event(api: FakeKubernetesApi) -> str | None:
    data = api.configmap_data(NAMESPACE, CONFIGMAP)
    return None if data is None else data.get("installEvent")


def test_install_event_becomes_2_once_installation_success_is_delivered(
    api: FakeKubernetesApi, compose: Compose, sink: MemorySink
) -> None:
    with compose() as app:
        ucid = app.telemetry.prepare()  # creates the ConfigMap: installEvent "1"
        recorded = app.telemetry.record_installer_event(EventName.INSTALLATION_SUCCESS)
        before_delivery = install_event(api)
        app.telemetry.deliver()

    assert before_delivery == "1"
    assert [event.uuid for event in sink.events] == [recorded.uuid]
    assert sink.events[0].distinct_id == ucid
    assert api.configmap_data(NAMESPACE, CONFIGMAP) == {"UCID": ucid, "installEvent": "2"}


def test_install_event_stays_1_until_installation_success_is_really_delivered(
    api: FakeKubernetesApi, compose: Compose, sink: MemorySink
) -> None:
    api.put_configmap(NAMESPACE, CONFIGMAP, {"UCID": DEVTRONS_UCID, "installEvent": "1"})
    sink.fail_next(TransientError("HTTP 503: Service Unavailable"))

    with compose() as app:
        app.telemetry.prepare()
        app.telemetry.record_installer_event(EventName.INSTALLATION_SUCCESS)
        failed = app.telemetry.deliver()
        after_failure = install_event(api)
        writes_after_failure = len(api.writes)
        retried = app.telemetry.deliver(ignore_backoff=True)

    assert failed.failed == ["InstallationSuccess"]
    assert after_failure == "1"
    assert writes_after_failure == 0
    assert [event.name for event in retried.sent] == ["InstallationSuccess"]
    assert install_event(api) == "2"


@pytest.mark.parametrize(
    "name",
    [EventName.INSTALLATION_START, EventName.INSTALLATION_FAILURE, EventName.UPGRADE_SUCCESS],
)
def test_other_installer_events_leave_install_event_alone(
    name: EventName, api: FakeKubernetesApi, compose: Compose, sink: MemorySink
) -> None:
    api.put_configmap(NAMESPACE, CONFIGMAP, {"UCID": DEVTRONS_UCID, "installEvent": "1"})

    with compose() as app:
        app.telemetry.prepare()
        app.telemetry.record_installer_event(name)
        app.telemetry.deliver()

    assert [event.name for event in sink.events] == [name.value]
    assert install_event(api) == "1"
    assert api.writes == []


def test_an_install_event_update_lost_to_an_api_error_is_made_later(
    api: FakeKubernetesApi, compose: Compose, sink: MemorySink
) -> None:
    api.put_configmap(NAMESPACE, CONFIGMAP, {"UCID": DEVTRONS_UCID, "installEvent": "1"})
    api.fail_next(503, method="PATCH", path=CONFIGMAP_PATH)

    with compose() as app:
        app.telemetry.prepare()
        app.telemetry.record_installer_event(EventName.INSTALLATION_SUCCESS)
        with contextlib.suppress(KubernetesError):
            app.telemetry.deliver()
        app.telemetry.deliver()  # the daemon's next pass
    with compose() as app:  # or, at the latest, the next start
        app.telemetry.prepare()
        app.telemetry.deliver()

    assert [event.name for event in sink.events] == ["InstallationSuccess"]
    assert api.pending_scripts == 0
    assert install_event(api) == "2"
