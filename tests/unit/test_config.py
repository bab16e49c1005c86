"""Configuration: one YAML file, environment variables, secret files, every problem at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator_telemetry.cli import describe
from orchestrator_telemetry.config import ConfigError, Settings, env_name, keys, load

ISSUE_SHAPE = """
database:
  url: postgresql://user:pass@host:5432/orchestrator
posthog:
  host: https://app.posthog.com
  api_key: phc_abcdefghijklmnop
identity:
  ucid: abcdefgh12345678
devtron:
  version: v1
  server_version: v1.29.4
schedule:
  summary: "0 0 * * *"
  heartbeat: "0 */6 * * *"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def problems(path: Path | None, env: dict[str, str], **kwargs: bool) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(path, env, **kwargs)
    return caught.value.problems


def test_the_documented_shape_loads(tmp_path: Path) -> None:
    settings = load(write(tmp_path, ISSUE_SHAPE), {}, require_api_key=True).settings

    assert settings.identity.ucid == "abcdefgh12345678"
    assert settings.devtron.server_version == "v1.29.4"
    assert settings.schedule.heartbeat == "0 */6 * * *"
    assert settings.posthog.api_key is not None


def test_a_plain_postgresql_url_is_pinned_to_the_psycopg2_driver(tmp_path: Path) -> None:
    settings = load(write(tmp_path, ISSUE_SHAPE), {}).settings

    assert settings.database.url is not None
    url = settings.database.url.get_secret_value()
    assert url == "postgresql+psycopg2://user:pass@host:5432/orchestrator"


def test_defaults_match_devtron(tmp_path: Path) -> None:
    settings = load(None, {"OT_DATABASE_URL": "postgresql://h/db"}).settings

    assert settings.schedule.summary == "0 0 * * *"
    assert settings.schedule.heartbeat == "0 */6 * * *"
    assert settings.devtron.version == "v1"
    assert settings.database.statement_timeout == 30.0
    assert settings.state.schema_name == "orchestrator_telemetry"


def test_every_key_has_an_environment_variable_that_wins_over_the_file(tmp_path: Path) -> None:
    env = {"OT_SCHEDULE_SUMMARY": "30 1 * * *", "OT_DATABASE_STATEMENT_TIMEOUT": "5"}
    config = load(write(tmp_path, ISSUE_SHAPE), env)

    assert config.settings.schedule.summary == "30 1 * * *"
    assert config.settings.database.statement_timeout == 5.0
    assert config.source_of("schedule.summary") == "OT_SCHEDULE_SUMMARY"
    assert config.source_of("identity.ucid") == f"config file {tmp_path / 'config.yaml'}"
    assert {env_name(section, key) for section, key in keys()} >= {
        "OT_DATABASE_URL",
        "OT_POSTHOG_API_KEY",
        "OT_STATE_SCHEMA",
        "OT_IDENTITY_UCID",
    }


def test_secrets_can_come_from_files(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("phc_fromafile0000\n")
    url_file = tmp_path / "url"
    url_file.write_text("postgresql://u:p@db/orchestrator")
    env = {"OT_POSTHOG_API_KEY_FILE": str(key_file), "OT_DATABASE_URL_FILE": str(url_file)}

    config = load(None, env, require_api_key=True)

    assert config.settings.posthog.api_key is not None
    assert config.settings.posthog.api_key.get_secret_value() == "phc_fromafile0000"
    assert config.source_of("posthog.api_key") == f"OT_POSTHOG_API_KEY_FILE={key_file}"


def test_secret_files_may_be_named_in_yaml(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("phc_yamlfile00000")
    path = write(
        tmp_path, f"database:\n  url: postgresql://h/db\nposthog:\n  api_key_file: {key_file}\n"
    )

    settings = load(path, {}, require_api_key=True).settings

    assert settings.posthog.api_key is not None
    assert settings.posthog.api_key.get_secret_value() == "phc_yamlfile00000"


def test_database_url_falls_back_to_the_orchestrators_pg_variables() -> None:
    env = {
        "PG_ADDR": "postgresql-postgresql.devtroncd",
        "PG_USER": "postgres",
        "PG_PASSWORD": "p@ss/word",
        "PG_DATABASE": "orchestrator",
        "PG_SSL_MODE": "require",
    }
    config = load(None, env)

    assert config.settings.database.url is not None
    url = config.settings.database.url.get_secret_value()
    assert url == (
        "postgresql+psycopg2://postgres:p%40ss%2Fword@postgresql-postgresql.devtroncd:5432"
        "/orchestrator?sslmode=require"
    )
    assert config.source_of("database.url") == "PG_* variables"


def test_the_state_database_defaults_to_the_orchestrators() -> None:
    settings = load(None, {"OT_DATABASE_URL": "postgresql://h/db"}).settings

    assert settings.state_url.get_secret_value() == "postgresql+psycopg2://h/db"


def test_a_typo_a_bad_cron_and_a_missing_url_are_three_lines(tmp_path: Path) -> None:
    path = write(tmp_path, 'posthgo:\n  host: x\nschedule:\n  summary: "0 0 * *"\n')

    found = problems(path, {})

    assert len(found) == 3, found
    assert any(line.startswith("posthgo: unknown key") for line in found)
    assert any(
        line.startswith("schedule.summary: invalid cron expression '0 0 * *'") for line in found
    )
    assert any(line.startswith("database.url: not set") for line in found)


def test_wrong_types_and_unknown_nested_keys_name_the_key(tmp_path: Path) -> None:
    path = write(
        tmp_path, "database:\n  url: postgresql://h/db\n  timeout: 3\nposthog:\n  timeout: soon\n"
    )

    found = problems(path, {})

    assert any(
        line.startswith("database.timeout: unknown key") and "statement_timeout" in line
        for line in found
    )
    assert any(line.startswith("posthog.timeout: Input should be a valid number") for line in found)


def test_an_unescaped_at_sign_in_the_password_is_refused_without_echoing_it() -> None:
    # libpq would take the password's tail for a host name and print it in its error.
    url = "postgresql://devtron:pw@Zq8vN3kL0s@127.0.0.1:5432/orchestrator"

    [found] = problems(None, {"OT_DATABASE_URL": url})

    assert found.startswith("database.url: the host contains '@'; write an '@' in the password")
    assert "Zq8vN3kL0s" not in found
    escaped = url.replace("pw@", "pw%40")
    assert load(None, {"OT_DATABASE_URL": escaped}).settings.database.url is not None


def test_a_missing_file_is_reported_not_raised(tmp_path: Path) -> None:
    found = problems(tmp_path / "absent.yaml", {"OT_DATABASE_URL": "postgresql://h/db"})

    assert found == [
        f"config file {tmp_path / 'absent.yaml'}: not found; pass an existing file to --config"
    ]


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    found = problems(write(tmp_path, "database:\n  url: [unclosed\n"), {})

    assert any("not valid YAML at line" in line for line in found)


def test_the_api_key_is_required_only_where_events_are_sent() -> None:
    env = {"OT_DATABASE_URL": "postgresql://h/db"}

    assert load(None, env).settings.posthog.api_key is None
    assert any(
        line.startswith("posthog.api_key: not set")
        for line in problems(None, env, require_api_key=True)
    )
    load(None, {**env, "OT_DELIVERY_SINK": "console"}, require_api_key=True)


def test_devtrons_air_gap_switch_means_recorded_never_sent_and_no_key() -> None:
    env = {"OT_DATABASE_URL": "postgresql://h/db", "IS_AIR_GAP_ENVIRONMENT": "true"}

    config = load(None, env, require_api_key=True)

    assert config.settings.telemetry.air_gapped is True
    assert config.settings.telemetry.enabled is True  # recorded, unlike DO_NOT_TRACK
    assert config.source_of("telemetry.air_gapped") == "IS_AIR_GAP_ENVIRONMENT=true"
    overruled = load(None, {**env, "OT_TELEMETRY_AIR_GAPPED": "false"}).settings.telemetry
    assert overruled.air_gapped is True  # Devtron's switch wins, as DO_NOT_TRACK does
    assert load(None, {**env, "DO_NOT_TRACK": "1"}).settings.telemetry.enabled is False


def test_only_upload_may_go_without_a_database() -> None:
    env = {"OT_POSTHOG_API_KEY": "phc_abcdefghijklmnop"}

    assert load(None, env, require_database=False).settings.database.url is None
    assert any(line.startswith("database.url: not set") for line in problems(None, env))


def test_no_problem_line_repeats_a_secret(tmp_path: Path) -> None:
    env = {
        "OT_DATABASE_URL": "mysql://user:hunter2secret@h/db",
        "OT_STATE_URL": "not a url hunter2secret",
        "OT_POSTHOG_API_KEY_FILE": str(tmp_path / "missing"),
    }

    found = problems(None, env)

    assert found
    assert not any("hunter2secret" in line for line in found)


def test_check_config_masks_secrets() -> None:
    env = {
        "OT_DATABASE_URL": "postgresql://u:hunter2secret@h/db",
        "OT_POSTHOG_API_KEY": "phc_verysecretkey1",
    }

    lines = list(describe(load(None, env)))

    assert any(
        line.startswith('database.url: "postgresql+psycopg2://u:***@h/db"') for line in lines
    )
    assert not any("hunter2secret" in line or "verysecretkey1" in line for line in lines)
    assert len(lines) == len(keys())


def test_settings_are_frozen() -> None:
    settings = Settings()

    with pytest.raises(ValueError, match="frozen"):
        settings.log.level = "debug"  # type: ignore[misc]


def test_secrets_lists_urls_and_passwords_for_log_scrubbing() -> None:
    env = {
        "OT_DATABASE_URL": "postgresql://u:p%40ssword@h/db",
        "OT_POSTHOG_API_KEY": "phc_key000000000",
    }

    secrets = load(None, env).settings.secrets()

    assert "p@ssword" in secrets
    assert "phc_key000000000" in secrets
