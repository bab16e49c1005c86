"""Specification of the Kubernetes door, through the official client over HTTP to a fake API."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import certifi
import pytest
import structlog
from lightkube.config.kubeconfig import KubeConfig
from lightkube.config.models import Cluster, User

from orchestrator_telemetry.collect.identity import generate_ucid
from orchestrator_telemetry.errors import KubernetesError
from orchestrator_telemetry.kube.client import Kubernetes, running_in_cluster
from tests.support.kube import FakeKubernetesApi, api_config, pretend_in_pod

pytestmark = pytest.mark.integration

TOKEN = "eyJhbGciOiJSUzI1NiJ9.service-account-token"
NAMESPACE = "devtroncd"
CONFIGMAP = "devtron-ucid"
CONFIGMAP_PATH = f"/api/v1/namespaces/{NAMESPACE}/configmaps/{CONFIGMAP}"
CONFIGMAPS_PATH = f"/api/v1/namespaces/{NAMESPACE}/configmaps"
TIMEOUT = 2.0

KubeFactory = Callable[..., Kubernetes]


@pytest.fixture
def server() -> Iterator[FakeKubernetesApi]:
    """A fake API server accepting TOKEN, for one test."""
    with FakeKubernetesApi(TOKEN) as fake:
        yield fake


@pytest.fixture
def make_kube(server: FakeKubernetesApi) -> Iterator[KubeFactory]:
    """Build Kubernetes doors (one per replica) on real clients, closed after the test."""
    doors: list[Kubernetes] = []

    def build(
        *,
        token: str = TOKEN,
        namespace: str = NAMESPACE,
        config: KubeConfig | None = None,
        **options: Any,
    ) -> Kubernetes:
        options.setdefault("timeout", TIMEOUT)
        door = Kubernetes(config or api_config(server, token), namespace=namespace, **options)
        doors.append(door)
        return door

    yield build
    for door in doors:
        door.close()


@pytest.fixture
def kube(make_kube: KubeFactory) -> Kubernetes:
    """The door of one replica."""
    return make_kube()


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# the installation id -------------------------------------------------------------------


def test_an_existing_configmap_gives_its_ucid_and_nothing_is_written(
    server: FakeKubernetesApi, kube: Kubernetes
) -> None:
    server.put_configmap(NAMESPACE, CONFIGMAP, {"UCID": "k3v9q2m8x1c7w4zt", "installEvent": "2"})

    assert kube.ucid(generate_ucid) == "k3v9q2m8x1c7w4zt"
    assert server.writes == []
    assert server.configmap_data(NAMESPACE, CONFIGMAP) == {
        "UCID": "k3v9q2m8x1c7w4zt",
        "installEvent": "2",
    }


def test_a_missing_configmap_is_created_with_a_new_ucid_and_install_event_1(
    server: FakeKubernetesApi, make_kube: KubeFactory
) -> None:
    kube = make_kube(namespace="platform")

    ucid = kube.ucid(generate_ucid)

    assert re.fullmatch(r"[a-z0-9]{16}", ucid)
    assert server.configmap_data("platform", CONFIGMAP) == {"UCID": ucid, "installEvent": "1"}
    assert server.configmap_data(NAMESPACE, CONFIGMAP) is None
    [create] = server.requests_to("POST", "/api/v1/namespaces/platform/configmaps")
    assert create.status == 201
    assert create.header("content-type") == "application/json"
    assert create.body == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": CONFIGMAP, "namespace": "platform"},
        "data": {"UCID": ucid, "installEvent": "1"},
    }


def test_the_configmap_name_is_configurable(
    server: FakeKubernetesApi, make_kube: KubeFactory
) -> None:
    server.put_configmap(NAMESPACE, "telemetry-id", {"UCID": "a1b2c3d4e5f6g7h8"})

    assert make_kube(configmap="telemetry-id").ucid(generate_ucid) == "a1b2c3d4e5f6g7h8"


def test_replicas_creating_the_configmap_at_once_agree_on_the_first_ones_ucid(
    server: FakeKubernetesApi, make_kube: KubeFactory
) -> None:
    first, second = make_kube(), make_kube()
    first_ucid: list[str] = []
    # The second replica has read "not found"; before its create is processed the first
    # replica runs its whole ucid() and stores its own id. The second create then gets 409.
    server.before_next(lambda: first_ucid.append(first.ucid(generate_ucid)), method="POST")

    second_ucid = second.ucid(generate_ucid)

    assert second_ucid == first_ucid[0]
    assert server.configmap_data(NAMESPACE, CONFIGMAP) == {"UCID": second_ucid, "installEvent": "1"}
    assert [r.status for r in server.requests_to("POST", CONFIGMAPS_PATH)] == [201, 409]
    assert server.pending_scripts == 0


def test_a_configmap_without_ucid_is_patched_and_its_other_keys_are_kept(
    server: FakeKubernetesApi, kube: Kubernetes
) -> None:
    stored = server.put_configmap(
        NAMESPACE, CONFIGMAP, {"installEvent": "2", "uiEventKey": "dashboard-visited"}
    )

    ucid = kube.ucid(generate_ucid)

    assert re.fullmatch(r"[a-z0-9]{16}", ucid)
    assert server.configmap_data(NAMESPACE, CONFIGMAP) == {
        "UCID": ucid,
        "installEvent": "2",
        "uiEventKey": "dashboard-visited",
    }
    [patch] = server.requests_to("PATCH", CONFIGMAP_PATH)
    assert patch.header("content-type") == "application/merge-patch+json"
    # Conditional on the version read, so a concurrent writer makes it fail instead of lose.
    assert patch.body == {
        "metadata": {"resourceVersion": stored["metadata"]["resourceVersion"]},
        "data": {"UCID": ucid},
    }
    assert server.requests_to("POST", CONFIGMAPS_PATH) == []


def test_replicas_completing_the_configmap_at_once_agree_on_the_first_ones_ucid(
    server: FakeKubernetesApi, make_kube: KubeFactory
) -> None:
    server.put_configmap(NAMESPACE, CONFIGMAP, {"installEvent": "1"})
    first, second = make_kube(), make_kube()
    first_ucid: list[str] = []
    server.before_next(lambda: first_ucid.append(first.ucid(generate_ucid)), method="PATCH")

    second_ucid = second.ucid(generate_ucid)

    assert second_ucid == first_ucid[0]
    assert server.configmap_data(NAMESPACE, CONFIGMAP) == {"UCID": second_ucid, "installEvent": "1"}
    assert [r.status for r in server.requests_to("PATCH", CONFIGMAP_PATH)] == [200, 409]


def test_a_ucid_not_in_devtrons_format_is_still_the_identity_with_one_warning(
    server: FakeKubernetesApi, kube: Kubernetes
) -> None:
    server.put_configmap(NAMESPACE, CONFIGMAP, {"UCID": "Legacy-Install-42"})

    with structlog.testing.capture_logs() as logged:
        answers = [kube.ucid(generate_ucid) for _ in range(3)]

    assert answers == ["Legacy-Install-42"] * 3
    [warning] = [entry for entry in logged if entry["log_level"] == "warning"]
    assert warning["ucid"] == "Legacy-Install-42"
    assert warning["configmap"] == f"{NAMESPACE}/{CONFIGMAP}"
    assert server.writes == []


def test_a_configmap_that_keeps_changing_gives_up_after_three_rounds(
    server: FakeKubernetesApi, kube: Kubernetes
) -> None:
    for _ in range(3):
        server.fail_next(404, method="GET", reason="NotFound")
        server.fail_next(409, method="POST", reason="AlreadyExists")

    with pytest.raises(KubernetesError, match=r"kept changing.*3 attempts"):
        kube.ucid(generate_ucid)


# errors -------------------------------------------------------------------------------


def test_forbidden_names_the_configmap_the_status_and_the_grant_without_the_token(
    server: FakeKubernetesApi, kube: Kubernetes
) -> None:
    server.fail_next(
        403,
        reason="Forbidden",
        message=f'configmaps "{CONFIGMAP}" is forbidden: User '
        '"system:serviceaccount:devtroncd:devtron" cannot get resource "configmaps"',
    )

    with pytest.raises(KubernetesError) as caught:
        kube.ucid(generate_ucid)

    message = str(caught.value)
    assert message.startswith(f"kubernetes: cannot read ConfigMap {NAMESPACE}/{CONFIGMAP}: 403 ")
    assert "cannot get resource" in message
    assert "grant the ServiceAccount get/create/patch on configmaps" in message
    assert "\n" not in message
    assert TOKEN not in message
    assert caught.value.status == 403


def test_a_token_echoed_back_by_the_server_is_masked(
    server: FakeKubernetesApi, kube: Kubernetes
) -> None:
    server.fail_next(400, reason="BadRequest", message=f"bad header: Authorization: Bearer {TOKEN}")

    with pytest.raises(KubernetesError) as caught:
        kube.install_event()

    assert TOKEN not in str(caught.value)
    assert "Bearer ***" in str(caught.value)


def test_a_rejected_token_is_a_401_error_saying_so(make_kube: KubeFactory) -> None:
    kube = make_kube(token="expired-token")

    with pytest.raises(KubernetesError, match=r"401 .*ServiceAccount token was rejected") as caught:
        kube.ucid(generate_ucid)

    assert "expired-token" not in str(caught.value)
    assert caught.value.status == 401


def test_an_unreachable_api_server_is_an_error_within_the_timeout(make_kube: KubeFactory) -> None:
    unreachable = KubeConfig.from_one(
        cluster=Cluster(server=f"http://127.0.0.1:{closed_port()}"), user=User(token=TOKEN)
    )
    kube = make_kube(config=unreachable, timeout=1.0)

    started = time.monotonic()
    with pytest.raises(
        KubernetesError, match=r"cannot read ConfigMap .*cannot connect to"
    ) as caught:
        kube.ucid(generate_ucid)

    assert time.monotonic() - started < 1.0
    assert caught.value.status is None


def test_a_stalled_api_server_is_an_error_after_the_timeout(
    server: FakeKubernetesApi, make_kube: KubeFactory
) -> None:
    kube = make_kube(timeout=0.3)
    server.delay_next(5, method="GET")

    started = time.monotonic()
    with pytest.raises(KubernetesError, match=r"no answer from .* within 0\.3s"):
        kube.server_version()

    assert 0.25 < time.monotonic() - started < 2.0


def test_the_timeout_must_be_positive(server: FakeKubernetesApi) -> None:
    with pytest.raises(ValueError, match="positive"):
        Kubernetes(api_config(server, TOKEN), namespace=NAMESPACE, timeout=0)


# the server version -------------------------------------------------------------------


def test_server_version_is_the_api_servers_git_version() -> None:
    with FakeKubernetesApi(TOKEN, git_version="v1.30.2-eks-1552ad0") as server:
        kube = Kubernetes(api_config(server, TOKEN), namespace=NAMESPACE, timeout=TIMEOUT)
        try:
            assert kube.server_version() == "v1.30.2-eks-1552ad0"
        finally:
            kube.close()
        assert [r.path for r in server.requests] == ["/version"]


def test_a_failing_version_endpoint_is_an_error_naming_it(
    server: FakeKubernetesApi, kube: Kubernetes
) -> None:
    server.fail_version(503)

    with pytest.raises(KubernetesError, match=r"cannot read the server version .*: 503"):
        kube.server_version()

    server.fail_version(None)
    assert kube.server_version() == "v1.29.4+k3s1"


# installEvent -------------------------------------------------------------------------


def test_set_install_event_patches_only_that_key(
    server: FakeKubernetesApi, kube: Kubernetes
) -> None:
    server.put_configmap(
        NAMESPACE, CONFIGMAP, {"UCID": "k3v9q2m8x1c7w4zt", "installEvent": "1", "uiEventKey": "x"}
    )

    kube.set_install_event("2")

    [patch] = server.writes
    assert patch.method == "PATCH"
    assert patch.path == CONFIGMAP_PATH
    assert patch.header("content-type") == "application/merge-patch+json"
    assert patch.body == {"data": {"installEvent": "2"}}
    assert server.configmap_data(NAMESPACE, CONFIGMAP) == {
        "UCID": "k3v9q2m8x1c7w4zt",
        "installEvent": "2",
        "uiEventKey": "x",
    }
    assert kube.install_event() == "2"


def test_set_install_event_creates_nothing_when_the_configmap_is_missing(
    server: FakeKubernetesApi, kube: Kubernetes
) -> None:
    with pytest.raises(KubernetesError, match=r"cannot patch ConfigMap .*: 404") as caught:
        kube.set_install_event("2")

    assert caught.value.status == 404
    assert server.configmaps == {}


def test_install_event_is_none_without_configmap_or_key(
    server: FakeKubernetesApi, kube: Kubernetes
) -> None:
    assert kube.install_event() is None

    server.put_configmap(NAMESPACE, CONFIGMAP, {"UCID": "k3v9q2m8x1c7w4zt"})
    assert kube.install_event() is None


# credentials --------------------------------------------------------------------------


def test_the_bearer_token_is_sent_on_every_request(
    server: FakeKubernetesApi, kube: Kubernetes
) -> None:
    kube.server_version()
    kube.ucid(generate_ucid)
    kube.set_install_event("2")
    kube.install_event()

    methods = {(r.method, r.path) for r in server.requests}
    assert methods == {
        ("GET", "/version"),
        ("GET", CONFIGMAP_PATH),
        ("POST", CONFIGMAPS_PATH),
        ("PATCH", CONFIGMAP_PATH),
    }
    assert {r.header("authorization") for r in server.requests} == {f"Bearer {TOKEN}"}
    assert all(r.status != 401 for r in server.requests)


# in or out of a cluster ---------------------------------------------------------------


def test_running_in_cluster_needs_the_service_host_and_a_mounted_token(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text(TOKEN)
    in_pod = {"KUBERNETES_SERVICE_HOST": "10.43.0.1", "KUBERNETES_SERVICE_PORT": "443"}

    assert running_in_cluster(in_pod, token) is True
    assert running_in_cluster({}, token) is False
    assert running_in_cluster({"KUBERNETES_SERVICE_HOST": ""}, token) is False
    assert running_in_cluster(in_pod, tmp_path / "missing") is False
    assert running_in_cluster(in_pod, tmp_path) is False  # a directory is not a token


def test_in_cluster_outside_a_pod_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)

    with pytest.raises(KubernetesError, match=r"^kubernetes: cannot load the in-cluster config"):
        Kubernetes.in_cluster(namespace=NAMESPACE)


def test_in_cluster_uses_the_mounted_token_and_ca(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeKubernetesApi(TOKEN, tls=True) as server:
        pretend_in_pod(monkeypatch, server, tmp_path / "token", TOKEN)

        kube = Kubernetes.in_cluster(namespace=NAMESPACE, timeout=TIMEOUT)
        try:
            ucid = kube.ucid(generate_ucid)
            assert kube.server_version() == "v1.29.4+k3s1"
        finally:
            kube.close()

        assert server.configmap_data(NAMESPACE, CONFIGMAP) == {"UCID": ucid, "installEvent": "1"}
        assert {r.header("authorization") for r in server.requests} == {f"Bearer {TOKEN}"}


def test_in_cluster_refuses_an_api_server_the_mounted_ca_did_not_sign(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeKubernetesApi(TOKEN, tls=True) as server:
        pretend_in_pod(monkeypatch, server, tmp_path / "token", TOKEN)
        # Public CAs only: none of them signed the fake API server's certificate.
        (tmp_path / "ca.crt").write_bytes(Path(certifi.where()).read_bytes())

        kube = Kubernetes.in_cluster(namespace=NAMESPACE, timeout=TIMEOUT)
        try:
            with pytest.raises(KubernetesError, match=r"cannot read ConfigMap .*TLS failure") as e:
                kube.ucid(generate_ucid)
        finally:
            kube.close()

    assert e.value.status is None
    assert server.requests == []


def test_in_cluster_sends_the_token_as_the_kubelet_rotates_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeKubernetesApi(TOKEN, tls=True) as server:
        pretend_in_pod(monkeypatch, server, tmp_path / "token", TOKEN)
        kube = Kubernetes.in_cluster(namespace=NAMESPACE, timeout=TIMEOUT)
        try:
            kube.ucid(generate_ucid)
            (tmp_path / "token").write_text("rotated-service-account-token")
            server.token = "rotated-service-account-token"
            assert kube.install_event() == "1"
        finally:
            kube.close()

    # Refused once with the old token, the same request is sent again with the file's new one.
    assert [(r.method, r.header("authorization"), r.status) for r in server.requests] == [
        ("GET", f"Bearer {TOKEN}", 404),
        ("POST", f"Bearer {TOKEN}", 201),
        ("GET", f"Bearer {TOKEN}", 401),
        ("GET", "Bearer rotated-service-account-token", 200),
    ]
