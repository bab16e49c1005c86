"""The orchestrator's tables, with only the columns some metric reads (reference §8).

The daemon depends on nothing else of Devtron's schema; `catalogue` derives each metric's reads
from the columns below that its definition names.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Column, DateTime, Integer, MetaData, String, Table, Text
from sqlalchemy.dialects.postgresql import JSON

metadata = MetaData(schema="public")


def _table(name: str, *columns: Column[Any]) -> Table:
    return Table(name, metadata, *columns)


def _bool(name: str) -> Column[bool]:
    return Column(name, Boolean)


def _int(name: str, *, key: bool = False) -> Column[int]:
    return Column(name, Integer, primary_key=key)


def _str(name: str) -> Column[str]:
    return Column(name, String)


def _when(name: str) -> Column[Any]:
    return Column(name, DateTime(timezone=True))


users = _table("users", _int("id", key=True), _bool("active"), _str("user_type"))
cluster = _table("cluster", _int("id", key=True), _bool("active"), _bool("is_virtual_cluster"))
attributes = _table("attributes", _int("id", key=True), _str("key"), _str("value"), _bool("active"))
user_attributes = _table(
    "user_attributes", Column("email_id", String, primary_key=True), Column("user_data", JSON)
)
sso_login_config = _table("sso_login_config", _int("id", key=True))
module = _table("module", _int("id", key=True), _str("name"), _str("status"))
user_audit = _table("user_audit", _int("id", key=True), _int("user_id"), _when("updated_on"))
installed_apps = _table(
    "installed_apps", _int("id", key=True), _bool("active"), _int("status"), Column("notes", Text)
)
installed_app_versions = _table(
    "installed_app_versions",
    _int("id", key=True),
    _int("installed_app_id"),
    _int("app_store_application_version_id"),
    _bool("active"),
)
app_store_application_version = _table("app_store_application_version", _int("id", key=True))
environment = _table(
    "environment",
    _int("id", key=True),
    _bool("active"),
    _bool("default"),  # true marks a production environment
)
team = _table("team", _int("id", key=True), _bool("active"))
app = _table(
    "app",
    _int("id", key=True),
    _bool("active"),
    _int("app_type"),  # 0 Devtron app, 1 chart-store app, 2 job
    _int("team_id"),
    Column("description", Text),
)
pipeline = _table(
    "pipeline",
    _int("id", key=True),
    _int("app_id"),
    _int("environment_id"),
    _bool("deleted"),
    _when("created_on"),
    _str("deployment_app_type"),
)
ci_pipeline = _table(
    "ci_pipeline",
    _int("id", key=True),
    _int("app_id"),
    _bool("active"),
    _bool("deleted"),
    _when("created_on"),
    _str("ci_pipeline_type"),
)
ci_workflow = _table(
    "ci_workflow",
    _int("id", key=True),
    _int("ci_pipeline_id"),
    _str("status"),
    _when("started_on"),
    _str("ci_build_type"),
)
cd_workflow = _table("cd_workflow", _int("id", key=True), _int("pipeline_id"))
cd_workflow_runner = _table(
    "cd_workflow_runner",
    _int("id", key=True),
    _int("cd_workflow_id"),
    _str("workflow_type"),
    _str("status"),
    _when("started_on"),
)
git_provider = _table("git_provider", _int("id", key=True), _bool("deleted"))
gitops_config = _table("gitops_config", _int("id", key=True))
docker_artifact_store = _table(
    "docker_artifact_store", Column("id", String, primary_key=True), _bool("active")
)
git_material = _table(
    "git_material",
    _int("id", key=True),
    _int("app_id"),
    _bool("active"),
    Column("filter_pattern", JSON),
)
ci_template = _table(
    "ci_template", _int("id", key=True), _int("app_id"), _bool("active"), _int("ci_build_config_id")
)
ci_build_config = _table(
    "ci_build_config", _int("id", key=True), _str("type"), Column("build_metadata", Text)
)
charts = _table(
    "charts", _int("id", key=True), _int("app_id"), _bool("active"), _int("chart_ref_id")
)
chart_ref = _table("chart_ref", _int("id", key=True), _str("name"), _bool("active"))
plugin_parent_metadata = _table(
    "plugin_parent_metadata",
    _int("id", key=True),
    _str("type"),
    _bool("deleted"),
    _bool("is_exposed"),
)
plugin_tag = _table("plugin_tag", _int("id", key=True), _bool("deleted"))
global_policy = _table("global_policy", _int("id", key=True), _str("policy_of"), _bool("deleted"))
resource_filter = _table("resource_filter", _int("id", key=True), _bool("deleted"))
resource_qualifier_mapping = _table(
    "resource_qualifier_mapping", _int("id", key=True), _int("resource_id"), _bool("active")
)
resource_qualifier_mapping_criteria = _table(
    "resource_qualifier_mapping_criteria", _int("id", key=True)
)
app_label = _table("app_label", _int("id", key=True), _int("app_id"), _bool("propagate"))
generic_note = _table(
    "generic_note",
    _int("id", key=True),
    _int("identifier"),
    _int("identifier_type"),  # 0 cluster, 1 app
    Column("description", Text),
)
app_workflow = _table("app_workflow", _int("id", key=True), _int("app_id"), _bool("active"))
app_workflow_mapping = _table(
    "app_workflow_mapping",
    _int("id", key=True),
    _int("app_workflow_id"),
    _int("component_id"),
    _str("type"),
    _bool("active"),
)
chart_env_config_override = _table(
    "chart_env_config_override",
    _int("id", key=True),
    _int("target_environment"),
    _bool("active"),
    _str("merge_strategy"),
)
config_map_app_level = _table(
    "config_map_app_level", _int("id", key=True), _int("app_id"), Column("config_map_data", Text)
)
config_map_env_level = _table(
    "config_map_env_level",
    _int("id", key=True),
    _int("app_id"),
    _int("environment_id"),
    _bool("deleted"),
    Column("config_map_data", Text),
)
