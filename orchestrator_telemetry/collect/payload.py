"""The extended events, laid out from the catalogue: flat, Go's omitempty, -1 on failure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from ..events import Event, EventName, Versions, at_period, rfc3339
from .catalogue import Layout, layout, summary_layout

Mode = Literal["full", "ea-only"]
MODE_NAMES: Mapping[str, str] = {"full": "FULL", "ea-only": "EA_ONLY"}


@dataclass(frozen=True)
class Devtron:
    """What the extended format reports about Devtron itself, from configuration."""

    mode: Mode = "full"
    release_version: str | None = None
    git_version: str | None = None
    cluster_provider: str | None = None

    @property
    def summary_layout(self) -> Layout:
        """The catalogue layout of this mode's Summary."""
        return summary_layout("extended", self.mode)


def summary(
    ucid: str, versions: Versions, slot: datetime, values: Mapping[str, Any], devtron: Devtron
) -> Event:
    """The extended Summary of `slot` from the collected `values`."""
    context = _context(EventName.SUMMARY, ucid, versions, slot, devtron)
    return _event(EventName.SUMMARY, ucid, slot, devtron.summary_layout, {**values, **context})


def heartbeat(ucid: str, versions: Versions, slot: datetime, devtron: Devtron) -> Event:
    """The extended Heartbeat of `slot`: the envelope and two fixed values, no database."""
    context = _context(EventName.HEARTBEAT, ucid, versions, slot, devtron)
    fixed = {metric.key: metric.heartbeat for metric in layout("heartbeat") if metric.from_database}
    return _event(EventName.HEARTBEAT, ucid, slot, "heartbeat", {**fixed, **context})


def _context(
    name: EventName, ucid: str, versions: Versions, slot: datetime, devtron: Devtron
) -> dict[str, Any]:
    return {
        "ucid": ucid,
        "timestamp": rfc3339(slot),
        "eventType": name.value,  # the name, not the documented number
        "serverVersion": versions.server,
        "devtronVersion": versions.devtron,
        "devtronMode": MODE_NAMES[devtron.mode],
        "devtronGitVersion": devtron.git_version,
        "devtronReleaseVersion": devtron.release_version,
        "clusterProvider": devtron.cluster_provider or "unknown",
        "ExternalHelmAppClusterCount": {},
    }


def _event(
    name: EventName, ucid: str, slot: datetime, which: Layout, values: Mapping[str, Any]
) -> Event:
    properties: dict[str, Any] = {}
    for metric in layout(which):
        value = values.get(metric.key)
        if value is None or (metric.omit and _is_zero(value)):
            continue  # never computed (an omitted failure), or Go's omitempty
        properties[metric.key] = value
    return at_period(name, ucid, slot, properties)


def _is_zero(value: Any) -> bool:
    """Go's zero value: 0, false, "", an empty list or map (never -1)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value == 0
    return value in ("", [], {})
