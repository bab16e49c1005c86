"""Rows for the extended Summary's tables, on top of the demo installation of `devtron.py`.

`load_extended_sample` adds them, dated relative to the Summary slot, and returns what the
extended Summary reads from them; each value is worked out by hand in the comments below, from the
reference's definitions (devtron-extended-format.md §4), not by running the daemon's queries.
"""

# ruff: noqa: S608 - the statements are built from this module's constants only, never from input
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, text

_APP = "(SELECT id FROM public.app WHERE app_name = '{}')"
_ENV = "(SELECT id FROM public.environment WHERE environment_name = '{}')"
_CI = "(SELECT id FROM public.ci_pipeline WHERE name = '{}')"
_CD = "(SELECT id FROM public.pipeline WHERE pipeline_name = '{}')"
_USER = "(SELECT id FROM public.users WHERE email_id = '{}')"

# All statements use constants of this module only; the timestamps are bound parameters.
_ROWS = (
    # hostURL: exactly one active url. HelmAppAccessCounter: one row. ChartStoreVisitCount: two
    # active rows, so omitted. HelmAppUpdateCounter: inactive, so omitted.
    "INSERT INTO public.attributes (key, value, active) VALUES"
    " ('url', 'https://devtron.example.com', true), ('HelmAppAccessCounter', '7', true),"
    " ('ChartStoreVisitCount', '3', true), ('ChartStoreVisitCount', '4', true),"
    " ('HelmAppUpdateCounter', '2', false)",
    # SkippedOnboarding: the JSON string "true" for admin.
    "INSERT INTO public.user_attributes (email_id, user_data)"
    " VALUES ('admin', '{\"SkippedOnboarding\": \"true\"}')",
    # ssoLogin: an inactive configuration still counts.
    "INSERT INTO public.sso_login_config (name, active) VALUES ('google', false)",
    # Integrations: notInstalled is in no list.
    "INSERT INTO public.module (name, status) VALUES ('cicd', 'installed'),"
    " ('argo-cd', 'installed'), ('security.trivy', 'installFailed'),"
    " ('notifier', 'installing'), ('monitoring.grafana', 'notInstalled')",
    # Logins: admin 2 h and dev1 10 days before the slot count for activeUsersLast30Days (2);
    # dev1 40 days before does not; the token's use after the slot counts nowhere.
    "INSERT INTO public.user_audit (user_id, updated_on) VALUES"
    f" ({_USER.format('admin')}, :now - interval '2 hours'),"
    f" ({_USER.format('dev1@example.com')}, :now - interval '10 days'),"
    f" ({_USER.format('dev1@example.com')}, :now - interval '40 days'),"
    f" ({_USER.format('API-TOKEN:ci-bot')}, :now + interval '1 hour')",
    # Installed apps: two succeeded (one inactive), two active; one with notes.
    "INSERT INTO public.installed_apps (id, active, status, notes) VALUES"
    " (1, true, 6, 'Grafana for the ops team'), (2, true, 1, ''), (3, false, 6, NULL)",
    "SELECT setval(pg_get_serial_sequence('public.installed_apps', 'id'), 3)",
    "INSERT INTO public.app_store_application_version (id, version, name)"
    " VALUES (1, '6.57.0', 'grafana')",
    # Catalog data: installed app 1 through an active version; 2's version is inactive.
    "INSERT INTO public.installed_app_versions"
    " (installed_app_id, app_store_application_version_id, active)"
    " VALUES (1, 1, true), (2, 1, false)",
    # A job, with its job pipeline created long ago and run 5 h before the slot.
    "INSERT INTO public.app (app_name, active, team_id, app_type, created_on, created_by,"
    " updated_on, updated_by) VALUES ('nightly-report', true,"
    " (SELECT id FROM public.team WHERE name = 'platform'), 2, :now - interval '60 days', 2,"
    " :now - interval '60 days', 2)",
    "INSERT INTO public.ci_pipeline (app_id, name, active, deleted, ci_pipeline_type, created_on,"
    f" created_by, updated_on, updated_by) VALUES ({_APP.format('nightly-report')},"
    " 'nightly-report-job', true, false, 'CI_JOB', :now - interval '30 days', 2,"
    " :now - interval '30 days', 2)",
    # Descriptions: two apps; with installed app 1's notes, three ids in the UNION.
    "UPDATE public.app SET description = 'Payments API' WHERE app_name = 'payments-api'",
    "UPDATE public.app SET description = 'Stock levels' WHERE app_name = 'inventory'",
    "UPDATE public.app SET description = '   ' WHERE app_name = 'docs-site'",
    # CI runs: in the window checkout-ci (succeeded, no build type; failed, self-dockerfile),
    # inventory-ci (succeeded, managed) and the job (succeeded); outside it one older run and
    # one after the slot.
    "INSERT INTO public.ci_workflow (ci_pipeline_id, status, started_on, ci_build_type) VALUES"
    f" ({_CI.format('checkout-ci')}, 'Succeeded', :now - interval '1 hour', NULL),"
    f" ({_CI.format('checkout-ci')}, 'Failed', :now - interval '3 hours', 'self-dockerfile-build'),"
    f" ({_CI.format('checkout-ci')}, 'Succeeded', :now - interval '30 hours', ''),"
    f" ({_CI.format('inventory-ci')}, 'Succeeded', :now - interval '2 hours',"
    " 'managed-dockerfile-build'),"
    f" ({_CI.format('nightly-report-job')}, 'Succeeded', :now - interval '5 hours', NULL),"
    f" ({_CI.format('docs-site-ci')}, 'Failed', :now + interval '1 hour', NULL)",
    # CD runs: one DEPLOY in the window (Healthy); a PRE run and an older DEPLOY do not count.
    "INSERT INTO public.cd_workflow (id, pipeline_id) VALUES"
    f" (1, {_CD.format('checkout-staging')}), (2, {_CD.format('checkout-prod')}),"
    f" (3, {_CD.format('payments-api-prod')})",
    "SELECT setval(pg_get_serial_sequence('public.cd_workflow', 'id'), 3)",
    "INSERT INTO public.cd_workflow_runner (cd_workflow_id, workflow_type, status, started_on)"
    " VALUES (1, 'DEPLOY', 'Healthy', :now - interval '2 hours'),"
    " (2, 'PRE', 'Succeeded', :now - interval '1 hour'),"
    " (3, 'DEPLOY', 'Failed', :now - interval '30 hours')",
    # Git: two live providers (the seeded one and GitLab), one deleted.
    "INSERT INTO public.git_provider (name, url, active, deleted) VALUES"
    " ('GitLab', 'gitlab.example.com', true, false), ('Old', 'git.example.com', false, true)",
    "INSERT INTO public.gitops_config (provider, active) VALUES ('GITHUB', false)",
    "INSERT INTO public.docker_artifact_store (id, registry_url, active) VALUES"
    " ('docker-hub', 'docker.io', true), ('old-ecr', 'ecr.example.com', false)",
    # Git materials: checkout has two (one with a filter), payments-api and inventory one each
    # (no filter: the default [] and a JSON null); legacy-batch's app is inactive.
    "INSERT INTO public.git_material (app_id, url, active, filter_pattern) VALUES"
    f" ({_APP.format('checkout')}, 'https://git.example.com/checkout', true, '[\"src/**\"]'),"
    f" ({_APP.format('checkout')}, 'https://git.example.com/checkout-config', true, '[]'),"
    f" ({_APP.format('payments-api')}, 'https://git.example.com/payments', true, DEFAULT),"
    f" ({_APP.format('inventory')}, 'https://git.example.com/inventory', true, 'null'),"
    f" ({_APP.format('legacy-batch')}, 'https://git.example.com/legacy', true, '[\"x\"]')",
    # Build configurations: one self-Dockerfile, two managed (Go; no language), one buildpack.
    "INSERT INTO public.ci_build_config (id, type, build_metadata) VALUES"
    " (1, 'self-dockerfile-build', NULL),"
    " (2, 'managed-dockerfile-build', '{\"language\": \"go\"}'),"
    " (3, 'buildpack-build', '{\"language\": \"Java\"}'),"
    " (4, 'managed-dockerfile-build', '{}')",
    "SELECT setval(pg_get_serial_sequence('public.ci_build_config', 'id'), 4)",
    "INSERT INTO public.ci_template (app_id, active, ci_build_config_id) VALUES"
    f" ({_APP.format('checkout')}, true, 2), ({_APP.format('payments-api')}, true, 1),"
    f" ({_APP.format('inventory')}, true, 4), ({_APP.format('web-frontend')}, true, 3)",
    # Charts: checkout on Deployment 4.18, payments-api on Rollout, inventory on Job & CronJob,
    # web-frontend on Deployment 4.17 (an inactive chart version: no chart count).
    "INSERT INTO public.charts (app_id, chart_ref_id, active) VALUES"
    f" ({_APP.format('checkout')}, 1, true), ({_APP.format('payments-api')}, 3, true),"
    f" ({_APP.format('inventory')}, 5, true), ({_APP.format('web-frontend')}, 2, true)",
    # Plugins: one exposed shared plugin; a hidden one does not count.
    "INSERT INTO public.plugin_parent_metadata (name, identifier, type, deleted, is_exposed)"
    " VALUES ('Slack notify', 'slack-notify', 'SHARED', false, true),"
    " ('Hidden', 'hidden', 'SHARED', false, false)",
    "INSERT INTO public.plugin_tag (name, deleted) VALUES ('Retired', true)",
    # Policies: deployment window 1, approval 1 (one deleted), plugin 0 (deleted is NULL),
    # lock 1; with the 3 seeded ones, 6 live policies.
    "INSERT INTO public.global_policy (name, policy_of, version, deleted) VALUES"
    " ('weekends', 'DEPLOYMENT_WINDOW', 'v1', false), ('two-eyes', 'APPROVAL', 'v1', false),"
    " ('old-approval', 'APPROVAL', 'v1', true), ('plugins', 'PLUGIN', 'v1', NULL),"
    " ('freeze', 'LOCK_CONFIGURATION', 'v1', false)",
    "INSERT INTO public.resource_filter (name, deleted) VALUES ('only-main', false), ('old', true)",
    # checkout-prod deploys with Argo CD; the sample's other pipelines with Helm.
    "UPDATE public.pipeline SET deployment_app_type = 'argo_cd'"
    " WHERE pipeline_name = 'checkout-prod'",
    # A project without apps.
    "INSERT INTO public.team (name, active, created_on, created_by, updated_on, updated_by)"
    " VALUES ('data', true, :now, 2, :now, 2)",
    # Labels: checkout has both kinds, payments-api a non-propagated one; legacy-batch is inactive.
    "INSERT INTO public.app_label (app_id, key, value, propagate) VALUES"
    f" ({_APP.format('checkout')}, 'team', 'payments', true),"
    f" ({_APP.format('checkout')}, 'tier', 'web', false),"
    f" ({_APP.format('payments-api')}, 'tier', 'api', false),"
    f" ({_APP.format('legacy-batch')}, 'team', 'platform', true)",
    # Notes: checkout has a readme; payments-api's is blank; a cluster note is not an app's.
    "INSERT INTO public.generic_note (identifier, identifier_type, description) VALUES"
    f" ({_APP.format('checkout')}, 1, 'Runbook'), ({_APP.format('payments-api')}, 1, '  '),"
    " (1, 0, 'The default cluster')",
    # Workflows: checkout has two active (and one inactive), payments-api one. checkout's
    # first deploys to staging and production.
    "INSERT INTO public.app_workflow (id, name, app_id, active) VALUES"
    f" (1, 'build-deploy', {_APP.format('checkout')}, true),"
    f" (2, 'hotfix', {_APP.format('checkout')}, true),"
    f" (3, 'old', {_APP.format('checkout')}, false),"
    f" (4, 'main', {_APP.format('payments-api')}, true)",
    "SELECT setval(pg_get_serial_sequence('public.app_workflow', 'id'), 4)",
    "INSERT INTO public.app_workflow_mapping (type, component_id, app_workflow_id, active) VALUES"
    f" ('CI_PIPELINE', {_CI.format('checkout-ci')}, 1, true),"
    f" ('CD_PIPELINE', {_CD.format('checkout-staging')}, 1, true),"
    f" ('CD_PIPELINE', {_CD.format('checkout-prod')}, 1, true),"
    f" ('CD_PIPELINE', {_CD.format('payments-api-prod')}, 4, true)",
    # Overrides: production patch, staging replace (and an inactive patch); qa-legacy's
    # environment is inactive.
    "INSERT INTO public.chart_env_config_override (target_environment, active, merge_strategy)"
    f" VALUES ({_ENV.format('production')}, true, 'patch'),"
    f" ({_ENV.format('staging')}, true, 'replace'), ({_ENV.format('staging')}, false, 'patch'),"
    f" ({_ENV.format('qa-legacy')}, true, 'patch')",
    # ConfigMaps: checkout holds an external and an internal map; payments-api's last one was
    # deleted ({"maps":null}); legacy-batch's app is inactive. At environment level checkout's
    # production one is external ("true" as a string); the others are in an inactive
    # environment or deleted.
    "INSERT INTO public.config_map_app_level (app_id, config_map_data) VALUES"
    f' ({_APP.format("checkout")}, \'{{"maps": [{{"name": "a", "external": true}},'
    ' {"name": "b", "external": false}]}\'),'
    f" ({_APP.format('payments-api')}, '{{\"maps\": null}}'),"
    f' ({_APP.format("legacy-batch")}, \'{{"maps": [{{"external": true}}]}}\')',
    "INSERT INTO public.config_map_env_level (app_id, environment_id, config_map_data, deleted)"
    f" VALUES ({_APP.format('checkout')}, {_ENV.format('production')},"
    ' \'{"maps": [{"external": "true"}]}\', false),'
    f" ({_APP.format('inventory')}, {_ENV.format('qa-legacy')},"
    ' \'{"maps": [{"external": true}]}\', false),'
    f" ({_APP.format('payments-api')}, {_ENV.format('edge')},"
    ' \'{"maps": [{"external": true}]}\', true)',
)

# What the extended Summary reads from the sample (the documented installation plus the rows
# above), worked out by hand. Apps: checkout, payments-api, web-frontend, inventory, docs-site
# (active Devtron apps), legacy-batch (inactive), nightly-report (a job).
EXPECTED: dict[str, Any] = {
    "prodAppCount": 2,  # checkout, payments-api (production, edge)
    "nonProdAppCount": 3,  # checkout, web-frontend (deleted pipeline), inventory (inactive env)
    "userCount": 4,  # system, admin, dev1, dev2
    "environmentCount": 4,
    "clusterCount": 3,  # default_cluster, prod-eks, edge-virtual
    "ciCreatedPerDay": 4,  # checkout-ci, checkout-hotfix-ci (at the slot), web-frontend-ci, docs
    "cdCreatedPerDay": 2,  # checkout-staging, web-frontend-demo (not at slot - 24 h, nor after)
    "ciDeletedPerDay": 1,  # web-frontend-ci
    "cdDeletedPerDay": 1,  # web-frontend-demo
    "ciTriggeredPerDay": 3,  # checkout-ci, inventory-ci, nightly-report-job
    "cdTriggeredPerDay": 1,  # checkout-staging's DEPLOY
    "gitAccountsCount": 2,
    "gitOpsCount": 1,
    "registryCount": 1,
    "hostURL": True,
    "ssoLogin": True,
    "appCount": 5,
    "appsWithGitRepoConfigured": 3,  # checkout, payments-api, inventory
    "appsWithDockerConfigured": 4,  # checkout, payments-api, inventory, web-frontend
    "appsWithDeploymentTemplateConfigured": 4,
    "appsWithCiPipelineConfigured": 5,
    "appsWithCdPipelineConfigured": 4,  # not docs-site
    "build": True,
    "deployment": True,
    "installedIntegrations": ["argo-cd", "cicd"],
    "installFailedIntegrations": ["security.trivy"],
    "installingIntegrations": ["notifier"],
    "LastLoginTime": "slot - 2h",  # replaced by the loader with the exact text
    "selfDockerfileCount": 1,
    "managedDockerfileCount": 2,
    "buildPackCount": 1,
    "selfDockerfileSuccessCount": 2,  # checkout-ci's and the job's: a NULL build type
    "selfDockerfileFailureCount": 1,
    "managedDockerfileSuccessCount": 1,
    "managedDockerfileFailureCount": 0,
    "buildPackSuccessCount": 0,
    "buildPackFailureCount": 0,
    "HelmAppAccessCounter": "7",
    "SkippedOnboarding": True,
    "helmChartSuccessfulDeploymentCount": 2,
    "helmAppCount": 2,
    "devtronAppCount": 5,
    "jobCount": 1,
    "jobPipelineCount": 1,
    "jobPipelineTriggeredLast24h": 1,
    "jobPipelineSucceededLast24h": 1,
    "userCreatedPluginCount": 1,
    "deploymentWindowPolicyCount": 1,
    "approvalPolicyCount": 1,
    "lockDeploymentConfigurationPolicyCount": 1,
    "tagsPolicyCount": 15,
    "filterConditionPolicyCount": 1,
    "appliedPolicyRowCount": 6,
    "physicalClusterCount": 2,
    "isolatedClusterCount": 1,
    "activeUsersLast30Days": 2,
    "gitOpsPipelineCount": 1,
    "helmPipelineCount": 6,  # 8 pipelines, one deleted, one Argo CD
    "projectsWithZeroAppsCount": 1,  # data
    "appsWithPropagationTagsCount": 1,
    "appsWithNonPropagationTagsCount": 2,
    "appsWithDescriptionCount": 3,  # apps 2 and 4, installed app 1
    "appsWithCatalogDataCount": 1,
    "appsWithReadmeDataCount": 1,
    "highestEnvironmentCountInApp": 2,
    "highestAppCountInEnvironment": 2,  # production: checkout, payments-api
    "highestWorkflowCountInApp": 2,
    "highestEnvironmentCountInWorkflow": 2,
    "highestGitRepoCountInApp": 2,
    "appsWithIncludeExcludeFilesCount": 1,
    "dockerfileLanguagesList": ["go", "unknown"],
    "buildpackLanguagesList": ["Java"],
    "appsWithDeploymentChartCount": 1,
    "appsWithRolloutChartCount": 1,
    "appsWithJobsCronjobsCount": 1,
    "environmentsWithPatchStrategyCount": 1,
    "environmentsWithReplaceStrategyCount": 1,
    "externalConfigMapCount": 2,
    "internalConfigMapCount": 1,
}


def load_extended_sample(conn: Connection, now: datetime) -> dict[str, Any]:
    """Add the extended tables' rows (after `load_sample_data`); return their non-zero values."""
    for statement in _ROWS:
        conn.execute(text(statement), {"now": now})
    from ..events import rfc3339  # noqa: PLC0415 - keeps this module's imports to the database

    return EXPECTED | {"LastLoginTime": rfc3339(now - timedelta(hours=2))}
