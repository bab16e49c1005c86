"""The sandbox's Devtron tables match the references (§7; extended §8), its sample counts §2."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, Engine, text

from orchestrator_telemetry.collect.catalogue import CATALOGUE
from orchestrator_telemetry.sandbox.devtron import SampleCounts, load_sample_data

pytestmark = pytest.mark.integration

NOW = datetime(2024, 5, 2, 0, 0, tzinfo=UTC)

# Every table some metric of the catalogue reads, and nothing else.
TABLES = {table for metric in CATALOGUE for table in metric.reads}
READ = sorted(
    (table, name) for metric in CATALOGUE for table, names in metric.reads.items() for name in names
)
# Secondary indexes: the join keys Devtron indexes (extended reference §10) and its UNIQUEs.
INDEXES = {
    "email_unique",
    "app_label_app_id_idx",
    "cd_workflow_pipeline_id_idx",
    "cd_workflow_runner_cd_workflow_id_idx",
    "user_audit_user_id_idx",
    "ci_template_app_id_key",
    "config_map_app_level_app_id_key",
    "config_map_env_level_app_id_environment_id_key",
    "module_name_key",
}
# (table, column): (data type, nullable) as Devtron's migrations leave them (extended §8).
REFERENCE_TYPES = {
    ("user_attributes", "user_data"): ("json", False),
    ("git_material", "filter_pattern"): ("json", True),
    ("ci_build_config", "build_metadata"): ("text", True),
    ("config_map_app_level", "config_map_data"): ("text", True),
    ("config_map_env_level", "config_map_data"): ("text", True),
    ("config_map_env_level", "deleted"): ("boolean", True),
    ("installed_apps", "active"): ("boolean", True),
    ("installed_apps", "status"): ("integer", False),
    ("plugin_tag", "deleted"): ("boolean", True),
    ("plugin_parent_metadata", "is_exposed"): ("boolean", False),
    ("global_policy", "deleted"): ("boolean", True),
    ("resource_filter", "deleted"): ("boolean", False),
    ("app_label", "propagate"): ("boolean", False),
    ("generic_note", "identifier_type"): ("integer", True),
    ("generic_note", "description"): ("text", False),
    ("docker_artifact_store", "id"): ("character varying", False),
    ("attributes", "value"): ("character varying", False),
    ("module", "status"): ("character varying", False),
    ("user_audit", "updated_on"): ("timestamp with time zone", True),
    ("ci_workflow", "started_on"): ("timestamp with time zone", True),
    ("cd_workflow_runner", "started_on"): ("timestamp with time zone", True),
    ("cd_workflow_runner", "workflow_type"): ("character varying", False),
    ("chart_ref", "active"): ("boolean", True),
    ("app_workflow", "active"): ("boolean", True),
    ("app_workflow_mapping", "active"): ("boolean", True),
}


def column(conn: Connection, table: str, name: str) -> tuple[str, bool, str | None]:
    """(data type, nullable, default) of a column in schema public."""
    row = conn.execute(
        text(
            "SELECT data_type, is_nullable = 'YES', column_default FROM information_schema.columns"
            " WHERE table_schema = 'public' AND table_name = :table AND column_name = :name"
        ),
        {"table": table, "name": name},
    ).one()
    return row[0], row[1], row[2]


def columns(conn: Connection, table: str) -> set[str]:
    return set(
        conn.execute(
            text(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_schema = 'public' AND table_name = :table"
            ),
            {"table": table},
        ).scalars()
    )


def summary_by_sql(conn: Connection, now: datetime) -> SampleCounts:
    """The six documented metrics, each as the plainest query of its §2 definition."""

    def count(query: str) -> int:
        return int(conn.execute(text(query), {"now": now}).scalar_one())

    return SampleCounts(
        cd_count_per_day=count(
            "SELECT count(*) FROM pipeline"
            " WHERE created_on > :now - interval '24 hours' AND created_on <= :now"
        ),
        ci_count_per_day=count(
            "SELECT count(*) FROM ci_pipeline"
            " WHERE created_on > :now - interval '24 hours' AND created_on <= :now"
        ),
        cluster_count=count("SELECT count(*) FROM cluster WHERE active = true"),
        environment_count=count("SELECT count(*) FROM environment WHERE active = true"),
        non_prod_app_count=count(
            "SELECT count(DISTINCT pipeline.app_id) FROM pipeline"
            " JOIN environment ON environment.id = pipeline.environment_id"
            " JOIN app ON app.id = pipeline.app_id"
            ' WHERE environment."default" = false AND app.active = true'
        ),
        user_count=count(
            "SELECT count(*) FROM users"
            " WHERE active = true AND (user_type IS NULL OR user_type <> 'apiToken')"
        ),
    )


# Plausible ways to get a §2 definition wrong; the sample data must catch each one.
MISTAKES = {
    "cd-excludes-deleted": (
        "cd_count_per_day",
        "SELECT count(*) FROM pipeline WHERE NOT deleted"
        " AND created_on > :now - interval '24 hours' AND created_on <= :now",
    ),
    "cd-window-without-end": (
        "cd_count_per_day",
        "SELECT count(*) FROM pipeline WHERE created_on > :now - interval '24 hours'",
    ),
    "cd-window-includes-start": (
        "cd_count_per_day",
        "SELECT count(*) FROM pipeline"
        " WHERE created_on >= :now - interval '24 hours' AND created_on <= :now",
    ),
    "ci-excludes-deleted-and-inactive": (
        "ci_count_per_day",
        "SELECT count(*) FROM ci_pipeline WHERE active AND NOT deleted"
        " AND created_on > :now - interval '24 hours' AND created_on <= :now",
    ),
    "ci-window-excludes-end": (
        "ci_count_per_day",
        "SELECT count(*) FROM ci_pipeline"
        " WHERE created_on > :now - interval '24 hours' AND created_on < :now",
    ),
    "cluster-includes-inactive": ("cluster_count", "SELECT count(*) FROM cluster"),
    "cluster-excludes-virtual": (
        "cluster_count",
        "SELECT count(*) FROM cluster WHERE active AND is_virtual_cluster IS NOT TRUE",
    ),
    "environment-includes-inactive": ("environment_count", "SELECT count(*) FROM environment"),
    "non-prod-includes-inactive-apps": (
        "non_prod_app_count",
        "SELECT count(DISTINCT p.app_id) FROM pipeline p"
        " JOIN environment e ON e.id = p.environment_id"
        ' WHERE e."default" = false',
    ),
    "non-prod-excludes-deleted-pipelines": (
        "non_prod_app_count",
        "SELECT count(DISTINCT p.app_id) FROM pipeline p"
        " JOIN environment e ON e.id = p.environment_id JOIN app a ON a.id = p.app_id"
        ' WHERE e."default" = false AND a.active AND NOT p.deleted',
    ),
    "non-prod-excludes-inactive-environments": (
        "non_prod_app_count",
        "SELECT count(DISTINCT p.app_id) FROM pipeline p"
        " JOIN environment e ON e.id = p.environment_id JOIN app a ON a.id = p.app_id"
        ' WHERE e."default" = false AND a.active AND e.active',
    ),
    "users-include-api-tokens": ("user_count", "SELECT count(*) FROM users WHERE active"),
    "users-include-inactive": ("user_count", "SELECT count(*) FROM users WHERE user_type IS NULL"),
}


class TestSchema:
    def test_all_summary_tables_are_in_schema_public(self, orchestrator_engine: Engine) -> None:
        with orchestrator_engine.connect() as conn:
            tables = set(
                conn.execute(
                    text(
                        "SELECT table_name FROM information_schema.tables"
                        " WHERE table_schema = 'public'"
                    )
                ).scalars()
            )
        assert tables == TABLES

    def test_environment_default_is_a_not_null_boolean_defaulting_to_false(
        self, orchestrator_engine: Engine
    ) -> None:
        with orchestrator_engine.connect() as conn:
            assert column(conn, "environment", "default") == ("boolean", False, "false")

    def test_pipeline_is_soft_deleted_by_deleted_and_has_no_active_column(
        self, orchestrator_engine: Engine
    ) -> None:
        with orchestrator_engine.connect() as conn:
            assert column(conn, "pipeline", "deleted") == ("boolean", False, None)
            assert "active" not in columns(conn, "pipeline")

    def test_ci_pipeline_has_both_active_and_deleted(self, orchestrator_engine: Engine) -> None:
        with orchestrator_engine.connect() as conn:
            assert column(conn, "ci_pipeline", "active")[:2] == ("boolean", False)
            assert column(conn, "ci_pipeline", "deleted")[:2] == ("boolean", False)

    def test_users_created_on_is_timestamp_without_time_zone(
        self, orchestrator_engine: Engine
    ) -> None:
        with orchestrator_engine.connect() as conn:
            assert column(conn, "users", "created_on")[0] == "timestamp without time zone"

    @pytest.mark.parametrize("table", ["cluster", "environment", "app", "ci_pipeline", "pipeline"])
    def test_audit_created_on_is_a_not_null_timestamptz(
        self, orchestrator_engine: Engine, table: str
    ) -> None:
        with orchestrator_engine.connect() as conn:
            assert column(conn, table, "created_on")[:2] == ("timestamp with time zone", False)

    @pytest.mark.parametrize(
        ("table", "name"), [("users", "user_type"), ("cluster", "is_virtual_cluster")]
    )
    def test_columns_added_later_are_nullable(
        self, orchestrator_engine: Engine, table: str, name: str
    ) -> None:
        with orchestrator_engine.connect() as conn:
            assert column(conn, table, name)[1] is True

    def test_users_active_defaults_to_true(self, orchestrator_engine: Engine) -> None:
        with orchestrator_engine.connect() as conn:
            assert column(conn, "users", "active") == ("boolean", False, "true")

    def test_app_defaults(self, orchestrator_engine: Engine) -> None:
        with orchestrator_engine.connect() as conn:
            assert column(conn, "app", "app_type") == ("integer", False, "0")
            assert column(conn, "app", "app_offering_mode")[1:] == (
                False,
                "'FULL'::character varying",
            )

    def test_only_primary_keys_devtrons_join_keys_and_uniques_are_indexed(
        self, orchestrator_engine: Engine
    ) -> None:
        with orchestrator_engine.connect() as conn:
            indexes = set(
                conn.execute(
                    text("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")
                ).scalars()
            )
        assert indexes == {f"{table}_pkey" for table in TABLES} | INDEXES

    def test_foreign_keys_follow_the_reference(self, orchestrator_engine: Engine) -> None:
        with orchestrator_engine.connect() as conn:
            references = set(
                conn.execute(
                    text(
                        "SELECT conrelid::regclass::text, a.attname, confrelid::regclass::text"
                        " FROM pg_constraint"
                        " JOIN pg_attribute a ON a.attrelid = conrelid AND a.attnum = conkey[1]"
                        " WHERE contype = 'f' AND connamespace = 'public'::regnamespace"
                    )
                )
            )
        assert references == {
            ("environment", "cluster_id", "cluster"),
            ("app", "team_id", "team"),
            ("ci_pipeline", "app_id", "app"),
            ("pipeline", "app_id", "app"),
            ("pipeline", "ci_pipeline_id", "ci_pipeline"),
            ("pipeline", "environment_id", "environment"),
            ("app_label", "app_id", "app"),
            ("app_workflow", "app_id", "app"),
            ("app_workflow_mapping", "app_workflow_id", "app_workflow"),
            ("cd_workflow", "pipeline_id", "pipeline"),
            ("cd_workflow_runner", "cd_workflow_id", "cd_workflow"),
            ("chart_env_config_override", "target_environment", "environment"),
            ("charts", "app_id", "app"),
            ("charts", "chart_ref_id", "chart_ref"),
            ("ci_template", "app_id", "app"),
            ("ci_template", "ci_build_config_id", "ci_build_config"),
            ("ci_workflow", "ci_pipeline_id", "ci_pipeline"),
            ("config_map_app_level", "app_id", "app"),
            ("config_map_env_level", "app_id", "app"),
            ("config_map_env_level", "environment_id", "environment"),
            ("git_material", "app_id", "app"),
            ("git_material", "git_provider_id", "git_provider"),
            (
                "installed_app_versions",
                "app_store_application_version_id",
                "app_store_application_version",
            ),
            ("installed_app_versions", "installed_app_id", "installed_apps"),
            ("installed_apps", "app_id", "app"),
            ("installed_apps", "environment_id", "environment"),
            ("user_audit", "user_id", "users"),
        }

    @pytest.mark.parametrize(("table", "name"), READ)
    def test_every_column_the_catalogue_reads_exists(
        self, orchestrator_engine: Engine, table: str, name: str
    ) -> None:
        with orchestrator_engine.connect() as conn:
            assert name in columns(conn, table)

    @pytest.mark.parametrize(
        ("table", "name", "expected"), [(*k, v) for k, v in REFERENCE_TYPES.items()]
    )
    def test_columns_have_the_reference_type_and_nullability(
        self, orchestrator_engine: Engine, table: str, name: str, expected: tuple[str, bool]
    ) -> None:
        with orchestrator_engine.connect() as conn:
            assert column(conn, table, name)[:2] == expected


class TestFreshInstallation:
    def test_seeds_the_system_and_admin_users(self, orchestrator_engine: Engine) -> None:
        with orchestrator_engine.connect() as conn:
            users = conn.execute(
                text("SELECT id, email_id, active, user_type FROM users ORDER BY id")
            )
            assert list(users) == [(1, "system", True, None), (2, "admin", True, None)]

    def test_seeds_the_default_cluster_team_and_non_production_environment(
        self, orchestrator_engine: Engine
    ) -> None:
        with orchestrator_engine.connect() as conn:
            assert conn.execute(text("SELECT cluster_name, active FROM cluster")).all() == [
                ("default_cluster", True)
            ]
            assert conn.execute(text("SELECT name FROM team")).scalars().all() == ["devtron-demo"]
            environments = conn.execute(
                text(
                    'SELECT environment_name, "default", environment.active, cluster_name'
                    " FROM environment JOIN cluster ON cluster.id = environment.cluster_id"
                )
            )
            assert list(environments) == [("devtron-demo", False, True, "default_cluster")]

    def test_reports_two_users_one_cluster_one_environment_and_nothing_else(
        self, orchestrator_engine: Engine
    ) -> None:
        with orchestrator_engine.connect() as conn:
            assert summary_by_sql(conn, NOW) == SampleCounts(
                cd_count_per_day=0,
                ci_count_per_day=0,
                cluster_count=1,
                environment_count=1,
                non_prod_app_count=0,
                user_count=2,
            )

    def test_new_rows_get_ids_after_the_seeded_ones(self, orchestrator_engine: Engine) -> None:
        with orchestrator_engine.begin() as conn:
            new_id = conn.execute(
                text("INSERT INTO users (email_id) VALUES ('dev@example.com') RETURNING id")
            ).scalar_one()
        assert new_id == 3


class TestSampleData:
    def test_counts_agree_with_the_documented_queries(self, orchestrator_engine: Engine) -> None:
        with orchestrator_engine.begin() as conn:
            expected = load_sample_data(conn, NOW)
        with orchestrator_engine.connect() as conn:
            assert summary_by_sql(conn, NOW) == expected

    def test_counts_are_the_hand_checked_ones(self, orchestrator_engine: Engine) -> None:
        with orchestrator_engine.begin() as conn:
            assert load_sample_data(conn, NOW) == SampleCounts(
                cd_count_per_day=2,
                ci_count_per_day=4,
                cluster_count=3,
                environment_count=4,
                non_prod_app_count=3,
                user_count=4,
            )

    @pytest.mark.parametrize(("metric", "query"), MISTAKES.values(), ids=MISTAKES.keys())
    def test_a_query_that_gets_a_definition_wrong_gets_a_different_count(
        self, orchestrator_engine: Engine, metric: str, query: str
    ) -> None:
        with orchestrator_engine.begin() as conn:
            expected = load_sample_data(conn, NOW)
            wrong = conn.execute(text(query), {"now": NOW}).scalar_one()
        assert wrong != getattr(expected, metric)

    def test_people_have_example_emails(self, orchestrator_engine: Engine) -> None:
        with orchestrator_engine.begin() as conn:
            load_sample_data(conn, NOW)
            emails = conn.execute(
                text("SELECT email_id FROM users WHERE id > 2 AND user_type IS NULL")
            ).scalars()
            assert all(email.endswith("@example.com") for email in emails)

    def test_window_follows_now(self, orchestrator_engine: Engine) -> None:
        later = NOW + timedelta(days=7)
        with orchestrator_engine.begin() as conn:
            expected = load_sample_data(conn, later)
        with orchestrator_engine.connect() as conn:
            assert summary_by_sql(conn, later) == expected
            assert summary_by_sql(conn, NOW).cd_count_per_day == 0

    def test_rejects_a_naive_now(self, orchestrator_engine: Engine) -> None:
        with orchestrator_engine.begin() as conn, pytest.raises(ValueError, match="aware"):
            load_sample_data(conn, NOW.replace(tzinfo=None))
