"""The catalogue is the extended format's contract (devtron-extended-format.md §4-§6), and every
artefact derived from it is current."""

from __future__ import annotations

import pytest

from orchestrator_telemetry import events
from orchestrator_telemetry.collect import artefacts
from orchestrator_telemetry.collect.catalogue import (
    CATALOGUE,
    FAILED,
    ZERO_TIME,
    by_key,
    layout,
    queried,
    tables_read,
)

# §4, in Go's struct order, without the three keys that are never sent (#3, #16, #17).
FULL = [
    "ucid",
    "timestamp",
    "eventType",
    "prodAppCount",
    "nonProdAppCount",
    "userCount",
    "environmentCount",
    "clusterCount",
    "ciCreatedPerDay",
    "cdCreatedPerDay",
    "ciDeletedPerDay",
    "cdDeletedPerDay",
    "ciTriggeredPerDay",
    "cdTriggeredPerDay",
    "gitAccountsCount",
    "gitOpsCount",
    "registryCount",
    "hostURL",
    "ssoLogin",
    "appCount",
    "appsWithGitRepoConfigured",
    "appsWithDockerConfigured",
    "appsWithDeploymentTemplateConfigured",
    "appsWithCiPipelineConfigured",
    "appsWithCdPipelineConfigured",
    "build",
    "deployment",
    "serverVersion",
    "devtronGitVersion",
    "devtronVersion",
    "devtronMode",
    "installedIntegrations",
    "installFailedIntegrations",
    "installTimedOutIntegrations",
    "installingIntegrations",
    "devtronReleaseVersion",
    "LastLoginTime",
    "selfDockerfileCount",
    "managedDockerfileCount",
    "buildPackCount",
    "selfDockerfileSuccessCount",
    "selfDockerfileFailureCount",
    "managedDockerfileSuccessCount",
    "managedDockerfileFailureCount",
    "buildPackSuccessCount",
    "buildPackFailureCount",
    "HelmAppAccessCounter",
    "ChartStoreVisitCount",
    "SkippedOnboarding",
    "HelmAppUpdateCounter",
    "helmChartSuccessfulDeploymentCount",
    "ExternalHelmAppClusterCount",
    "clusterProvider",
    "helmAppCount",
    "devtronAppCount",
    "jobCount",
    "jobPipelineCount",
    "jobPipelineTriggeredLast24h",
    "jobPipelineSucceededLast24h",
    "userCreatedPluginCount",
    "deploymentWindowPolicyCount",
    "approvalPolicyCount",
    "pluginPolicyCount",
    "tagsPolicyCount",
    "filterConditionPolicyCount",
    "lockDeploymentConfigurationPolicyCount",
    "appliedPolicyRowCount",
    "physicalClusterCount",
    "isolatedClusterCount",
    "activeUsersLast30Days",
    "gitOpsPipelineCount",
    "helmPipelineCount",
    "projectsWithZeroAppsCount",
    "appsWithPropagationTagsCount",
    "appsWithNonPropagationTagsCount",
    "appsWithDescriptionCount",
    "appsWithCatalogDataCount",
    "appsWithReadmeDataCount",
    "highestEnvironmentCountInApp",
    "highestAppCountInEnvironment",
    "highestWorkflowCountInApp",
    "highestEnvironmentCountInWorkflow",
    "highestGitRepoCountInApp",
    "appsWithIncludeExcludeFilesCount",
    "dockerfileLanguagesList",
    "buildpackLanguagesList",
    "appsWithDeploymentChartCount",
    "appsWithRolloutChartCount",
    "appsWithStatefulsetCount",
    "appsWithJobsCronjobsCount",
    "environmentsWithPatchStrategyCount",
    "environmentsWithReplaceStrategyCount",
    "externalConfigMapCount",
    "internalConfigMapCount",
]
# §5, in the EA struct's order, without #3 and #23 (never sent).
EA = [
    "ucid",
    "timestamp",
    "eventType",
    "serverVersion",
    "userCount",
    "clusterCount",
    "hostURL",
    "ssoLogin",
    "devtronVersion",
    "devtronMode",
    "installedIntegrations",
    "installFailedIntegrations",
    "installTimedOutIntegrations",
    "LastLoginTime",
    "installingIntegrations",
    "devtronReleaseVersion",
    "HelmAppAccessCounter",
    "HelmAppUpdateCounter",
    "ChartStoreVisitCount",
    "SkippedOnboarding",
    "helmChartSuccessfulDeploymentCount",
    "clusterProvider",
    "helmAppCount",
    "physicalClusterCount",
    "isolatedClusterCount",
    "activeUsersLast30Days",
]
HEARTBEAT = [
    "ucid",
    "timestamp",
    "eventType",
    "serverVersion",
    "devtronVersion",
    "devtronMode",
    "LastLoginTime",
    "SkippedOnboarding",
]
# The keys §4 marks "no" (always sent, even when zero).
ALWAYS_SENT = {
    "ucid", "timestamp", "eventType", "ciCreatedPerDay", "cdCreatedPerDay", "ciDeletedPerDay",
    "cdDeletedPerDay", "ciTriggeredPerDay", "cdTriggeredPerDay", "LastLoginTime",
    "selfDockerfileCount", "managedDockerfileCount", "buildPackCount",
    "selfDockerfileSuccessCount", "selfDockerfileFailureCount", "managedDockerfileSuccessCount",
    "managedDockerfileFailureCount", "buildPackSuccessCount", "buildPackFailureCount",
    "SkippedOnboarding", "ExternalHelmAppClusterCount",
}  # fmt: skip


def keys(name: str) -> list[str]:
    return [metric.key for metric in layout(name)]  # type: ignore[arg-type]


def test_the_full_summary_has_the_references_94_keys_in_gos_order() -> None:
    assert keys("full") == FULL
    assert len(FULL) == 94


def test_the_ea_only_summary_has_the_references_26_keys_in_the_ea_structs_order() -> None:
    assert keys("ea") == EA


def test_the_heartbeat_has_the_references_8_keys() -> None:
    assert keys("heartbeat") == HEARTBEAT


def test_the_documented_summary_is_the_six_documented_counts_of_the_same_catalogue() -> None:
    assert keys("documented") == list(events.SUMMARY_KEYS)
    assert all(metric in CATALOGUE for metric in layout("documented"))


def test_omitempty_follows_the_references_omit_column() -> None:
    in_extended = {metric.key for metric in CATALOGUE if metric.layouts - {"documented"}}
    assert {key for key in in_extended if not by_key(key).omit} == ALWAYS_SENT


@pytest.mark.parametrize("metric", [m for m in CATALOGUE if m.from_database], ids=str)
def test_a_failed_metric_has_the_references_failure_value(metric: object) -> None:
    from orchestrator_telemetry.collect.catalogue import Metric  # noqa: PLC0415

    assert isinstance(metric, Metric)
    expected: object = {"int": FAILED, "bool": False, "list": None, "str": None}[metric.type]
    assert metric.failure == (ZERO_TIME if metric.key == "LastLoginTime" else expected)


def test_the_outgoing_allowlist_holds_every_extended_key() -> None:
    extended = {metric.key for name in ("full", "ea", "heartbeat") for metric in layout(name)}
    assert extended == events.EXTENDED_PROPERTIES | (events.ALLOWED_PROPERTIES - {"summary"})


def test_reads_are_derived_from_each_definition() -> None:
    assert dict(by_key("physicalClusterCount").reads) == {
        "cluster": frozenset({"active", "is_virtual_cluster"})
    }
    assert dict(by_key("gitOpsCount").reads) == {"gitops_config": frozenset()}
    assert by_key("devtronMode").reads == {}


def test_the_ea_only_summary_reads_eight_tables_and_the_documented_six() -> None:
    assert tables_read("ea") == [
        "attributes", "cluster", "installed_apps", "module", "sso_login_config",
        "user_attributes", "user_audit", "users",
    ]  # fmt: skip
    assert tables_read("documented") == [
        "app", "ci_pipeline", "cluster", "environment", "pipeline", "users",
    ]  # fmt: skip
    assert len(queried("full")) == 84


def test_the_generated_dictionary_and_schemas_match_the_catalogue() -> None:
    for path, content in artefacts.expected().items():
        assert path.exists(), f"{path} is missing: run `make artefacts`"
        assert path.read_text(encoding="utf-8") == content, f"{path} is stale: `make artefacts`"
