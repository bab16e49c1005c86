"""Configuration: one YAML file, environment variables, secret files, every problem at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator_telemetry.config import Settings, env_name, keys, load
from orchestrator_telemetry.effective import describe
from orchestrator_telemetry.errors import ConfigError

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


# a secret given two ways -----------------------------------------------------------------------


def test_a_secret_given_in_a_variable_and_its_file_variable_is_an_error_naming_both(
    tmp_path: Path,
) -> None:
    url_file = tmp_path / "url"
    url_file.write_text("postgresql://u:p@db/orchestrator")
    env = {"OT_DATABASE_URL": "postgresql://u:p@other/db", "OT_DATABASE_URL_FILE": str(url_file)}

    with pytest.raises(ConfigError) as raised:
        load(None, env)

    [problem] = raised.value.problems
    assert "OT_DATABASE_URL and OT_DATABASE_URL_FILE are both set" in problem
    assert "p@other" not in problem


def test_a_secret_given_as_value_and_file_in_yaml_is_an_error_naming_both(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("phc_fromafile0000")
    config = write(
        tmp_path,
        "database:\n  url: postgresql://u@h/db\n"
        f"posthog:\n  api_key: phc_inline00000000\n  api_key_file: {key_file}\n",
    )

    with pytest.raises(ConfigError) as raised:
        load(config, {})

    [problem] = raised.value.problems
    assert "posthog.api_key and posthog.api_key_file are both set" in problem
    assert "phc_inline" not in problem


def test_pg_password_and_pg_password_file_together_are_an_error(tmp_path: Path) -> None:
    password_file = tmp_path / "password"
    password_file.write_text("fromfile")
    env = {"PG_PASSWORD": "inline", "PG_PASSWORD_FILE": str(password_file)}

    with pytest.raises(ConfigError, match="PG_PASSWORD and PG_PASSWORD_FILE are both set"):
        load(None, env)


# check-config's effective values ---------------------------------------------------------------


def test_check_config_shows_every_value_and_none_is_null() -> None:
    env = {"OT_DATABASE_URL": "postgresql://u:hunter2secret@h/db"}

    lines = list(describe(load(None, env), {}))

    assert len(lines) == len(keys())
    assert not [line for line in lines if ": null" in line]
    shown = {line.split(":", 1)[0]: line for line in lines}
    assert shown["state.url"].startswith('state.url: "postgresql+psycopg2://u:***@h/db"')
    assert "database.url" in shown["state.url"]
    assert shown["kubernetes.enabled"].startswith("kubernetes.enabled: false")
    assert "not running in a cluster" in shown["kubernetes.enabled"]
    assert shown["devtron.server_version"].startswith('devtron.server_version: "unknown"')
    assert "set devtron.server_version" in shown["devtron.server_version"]


def test_check_config_resolves_the_server_version_from_the_kubernetes_api() -> None:
    env = {"OT_DATABASE_URL": "postgresql://u@h/db", "OT_KUBERNETES_ENABLED": "true"}

    lines = list(describe(load(None, env), {}, server_version=lambda: "v1.29.4+k3s1"))

    [line] = [line for line in lines if line.startswith("devtron.server_version:")]
    assert line.startswith('devtron.server_version: "v1.29.4+k3s1"')
    assert "Kubernetes API" in line
    [enabled] = [line for line in lines if line.startswith("kubernetes.enabled:")]
    assert enabled.startswith("kubernetes.enabled: true  # OT_KUBERNETES_ENABLED")


def test_a_masked_key_shows_its_first_and_last_four_characters() -> None:
    env = {"OT_DATABASE_URL": "postgresql://u@h/db", "OT_POSTHOG_API_KEY": "phc_abcdefghij3kQz"}

    lines = list(describe(load(None, env), {}))

    [line] = [line for line in lines if line.startswith("posthog.api_key:")]
    assert line.startswith('posthog.api_key: "phc_...3kQz"')
    assert "abcdefghij" not in line
