"""The events Devtron documents, built by pure functions from counts, identity and a period."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

# Fixed namespace so every replica and every restart derives the same uuid for the same event.
_UUID_NAMESPACE = uuid.UUID("6f1c7e52-4f0b-4d4e-9a57-0c8d3f5b2a61")


class EventName(StrEnum):
    """Event names, with the eventType of Devtron's documented payload."""

    HEARTBEAT = "Heartbeat"
    SUMMARY = "Summary"
    INSTALLATION_START = "InstallationStart"
    INSTALLATION_IN_PROGRESS = "InstallationInProgress"
    INSTALLATION_INTERRUPT = "InstallationInterrupt"
    INSTALLATION_SUCCESS = "InstallationSuccess"
    INSTALLATION_FAILURE = "InstallationFailure"
    UPGRADE_START = "UpgradeStart"
    UPGRADE_IN_PROGRESS = "UpgradeInProgress"
    UPGRADE_INTERRUPT = "UpgradeInterrupt"
    UPGRADE_SUCCESS = "UpgradeSuccess"
    UPGRADE_FAILURE = "UpgradeFailure"

    @property
    def event_type(self) -> int | str:
        """The documented number; events added after that numbering carry their name instead."""
        return _EVENT_TYPES.get(self, self.value)


# The original numbering. Later installer events never got a number: Devtron itself switched
# to sending the name, so that is what they carry here rather than an invented number.
_EVENT_TYPES = {
    EventName.HEARTBEAT: 0,
    EventName.INSTALLATION_START: 1,
    EventName.INSTALLATION_SUCCESS: 2,
    EventName.INSTALLATION_FAILURE: 3,
    EventName.UPGRADE_SUCCESS: 4,
    EventName.UPGRADE_FAILURE: 5,
    EventName.SUMMARY: 6,
}

INSTALLER_EVENTS = tuple(
    name for name in EventName if name not in (EventName.HEARTBEAT, EventName.SUMMARY)
)

# The documented Summary keys, in the documented order; nothing else is ever sent under `summary`.
SUMMARY_KEYS = (
    "cdCountPerDay",
    "ciCountPerDay",
    "clusterCount",
    "environmentCount",
    "nonProdAppCount",
    "userCount",
)

# The only non-`$` properties an event may carry: the payload is an allowlist, not a passthrough.
ALLOWED_PROPERTIES = frozenset(
    {"ucid", "timestamp", "eventType", "devtronVersion", "serverVersion", "summary"}
)

# The flat properties of the extended format (devtron-extended-format.md §4-§6). The collector's
# catalogue is their source; a test holds this list to it. Which of them an event may carry,
# exactly, is its JSON Schema's business (`schemas.py`); this is the last fence on the way out.
EXTENDED_PROPERTIES = frozenset(
    {
        "ChartStoreVisitCount",
        "ExternalHelmAppClusterCount",
        "HelmAppAccessCounter",
        "HelmAppUpdateCounter",
        "LastLoginTime",
        "SkippedOnboarding",
        "activeUsersLast30Days",
        "appCount",
        "appliedPolicyRowCount",
        "approvalPolicyCount",
        "appsWithCatalogDataCount",
        "appsWithCdPipelineConfigured",
        "appsWithCiPipelineConfigured",
        "appsWithDeploymentChartCount",
        "appsWithDeploymentTemplateConfigured",
        "appsWithDescriptionCount",
        "appsWithDockerConfigured",
        "appsWithGitRepoConfigured",
        "appsWithIncludeExcludeFilesCount",
        "appsWithJobsCronjobsCount",
        "appsWithNonPropagationTagsCount",
        "appsWithPropagationTagsCount",
        "appsWithReadmeDataCount",
        "appsWithRolloutChartCount",
        "appsWithStatefulsetCount",
        "build",
        "buildPackCount",
        "buildPackFailureCount",
        "buildPackSuccessCount",
        "buildpackLanguagesList",
        "cdCreatedPerDay",
        "cdDeletedPerDay",
        "cdTriggeredPerDay",
        "ciCreatedPerDay",
        "ciDeletedPerDay",
        "ciTriggeredPerDay",
        "clusterCount",
        "clusterProvider",
        "deployment",
        "deploymentWindowPolicyCount",
        "devtronAppCount",
        "devtronGitVersion",
        "devtronMode",
        "devtronReleaseVersion",
        "dockerfileLanguagesList",
        "environmentCount",
        "environmentsWithPatchStrategyCount",
        "environmentsWithReplaceStrategyCount",
        "externalConfigMapCount",
        "filterConditionPolicyCount",
        "gitAccountsCount",
        "gitOpsCount",
        "gitOpsPipelineCount",
        "helmAppCount",
        "helmChartSuccessfulDeploymentCount",
        "helmPipelineCount",
        "highestAppCountInEnvironment",
        "highestEnvironmentCountInApp",
        "highestEnvironmentCountInWorkflow",
        "highestGitRepoCountInApp",
        "highestWorkflowCountInApp",
        "hostURL",
        "installFailedIntegrations",
        "installTimedOutIntegrations",
        "installedIntegrations",
        "installingIntegrations",
        "internalConfigMapCount",
        "isolatedClusterCount",
        "jobCount",
        "jobPipelineCount",
        "jobPipelineSucceededLast24h",
        "jobPipelineTriggeredLast24h",
        "lockDeploymentConfigurationPolicyCount",
        "managedDockerfileCount",
        "managedDockerfileFailureCount",
        "managedDockerfileSuccessCount",
        "nonProdAppCount",
        "physicalClusterCount",
        "pluginPolicyCount",
        "prodAppCount",
        "projectsWithZeroAppsCount",
        "registryCount",
        "selfDockerfileCount",
        "selfDockerfileFailureCount",
        "selfDockerfileSuccessCount",
        "ssoLogin",
        "tagsPolicyCount",
        "userCount",
        "userCreatedPluginCount",
    }
)


@dataclass(frozen=True)
class Versions:
    """The version strings every event carries."""

    devtron: str
    server: str


@dataclass(frozen=True)
class Event:
    """One PostHog capture: name, identity, deterministic uuid, time and properties."""

    name: str
    distinct_id: str
    uuid: uuid.UUID
    period: datetime
    timestamp: datetime
    properties: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def to_capture(self) -> dict[str, Any]:
        """The event as PostHog's batch API receives it, before the client adds `$` properties."""
        return {
            "event": self.name,
            "distinct_id": self.distinct_id,
            "uuid": str(self.uuid),
            "timestamp": rfc3339(self.timestamp),
            # The allowlist is applied here, on the way out, whatever the properties came from.
            "properties": {
                key: _plain(value)
                for key, value in self.properties.items()
                if key in ALLOWED_PROPERTIES or key in EXTENDED_PROPERTIES
            },
        }


def rfc3339(moment: datetime) -> str:
    """Format as Go's RFC3339Nano does: UTC, `Z`, fractional seconds without trailing zeros."""
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    utc = moment.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += "." + f"{utc.microsecond:06d}".rstrip("0")
    return text + "Z"


def event_uuid(name: str, ucid: str, period: datetime) -> uuid.UUID:
    """A uuid derived from (event, ucid, period), so a re-send is recognisably the same event."""
    return uuid.uuid5(_UUID_NAMESPACE, f"{name}|{ucid}|{rfc3339(period)}")


def heartbeat(ucid: str, versions: Versions, period: datetime) -> Event:
    """The Heartbeat of the heartbeat period that begins at slot `period`."""
    return _event(EventName.HEARTBEAT, ucid, versions, period, extra={})


def installer(name: EventName, ucid: str, versions: Versions, moment: datetime) -> Event:
    """An installer lifecycle event, stamped with the moment it was emitted."""
    if name not in INSTALLER_EVENTS:
        raise ValueError(f"{name} is not an installer event")
    return _event(name, ucid, versions, moment, extra={})


def summary(ucid: str, versions: Versions, period: datetime, counts: Mapping[str, int]) -> Event:
    """The Summary of the 24 hours ending at slot `period`: the six counts under `summary`."""
    missing = [key for key in SUMMARY_KEYS if key not in counts]
    unknown = sorted(set(counts) - set(SUMMARY_KEYS))
    if missing or unknown:
        raise ValueError(f"summary counts: missing {missing}, unknown {unknown}")
    nested = {key: int(counts[key]) for key in SUMMARY_KEYS}
    return _event(EventName.SUMMARY, ucid, versions, period, extra={"summary": nested})


def _event(
    name: EventName, ucid: str, versions: Versions, period: datetime, extra: dict[str, Any]
) -> Event:
    properties: dict[str, Any] = {
        "ucid": ucid,
        "timestamp": rfc3339(period),
        "eventType": name.event_type,
        "devtronVersion": versions.devtron,
        "serverVersion": versions.server,
        **extra,
    }
    return at_period(name, ucid, period, properties)


def at_period(name: EventName, ucid: str, period: datetime, properties: Mapping[str, Any]) -> Event:
    """The event `name` of `ucid` for `period`: its uuid derived, stamped with the period."""
    return Event(
        name=name.value,
        distinct_id=ucid,
        uuid=event_uuid(name.value, ucid, period),
        period=period,
        timestamp=period,
        properties=MappingProxyType(dict(properties)),
    )


def _plain(value: Any) -> Any:
    """Deep-copy mapping proxies into plain dicts, so the result is JSON-serialisable."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    return value
