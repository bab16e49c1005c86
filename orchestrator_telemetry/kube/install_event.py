"""Devtron's ConfigMap kept in step with the outbox: installEvent "2" once installed is reported."""

from __future__ import annotations

import structlog

from ..errors import KubernetesError
from ..events import EventName
from ..state.outbox import DeliveryReport, Outbox
from .client import INSTALL_EVENT_DONE, Kubernetes

log = structlog.get_logger(__name__)


class InstallEventSync:
    """Keeps Devtron's ConfigMap in step: installEvent "2" once InstallationSuccess is delivered.

    A failed update is owed, not lost: it is tried again after every later delivery pass, and a
    new process first checks whether a delivered InstallationSuccess is still unrecorded there.
    """

    def __init__(self, kube: Kubernetes, outbox: Outbox) -> None:
        self._kube = kube
        self._outbox = outbox
        self._owed: bool | None = None  # None: not yet known in this process

    def __call__(self, report: DeliveryReport) -> None:
        """Update the ConfigMap if an InstallationSuccess was delivered and it does not say so."""
        try:
            if any(event.name == EventName.INSTALLATION_SUCCESS for event in report.sent):
                self._owed = True
            elif self._owed is None:
                latest = self._outbox.latest(EventName.INSTALLATION_SUCCESS)
                delivered = latest is not None and latest["status"] == "sent"
                self._owed = delivered and self._kube.install_event() != INSTALL_EVENT_DONE
            if self._owed:
                self._kube.set_install_event(INSTALL_EVENT_DONE)
                self._owed = False
        except KubernetesError as exc:
            log.warning("cannot record the installation event in the ConfigMap yet", error=str(exc))
