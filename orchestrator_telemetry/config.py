"""One YAML file, environment variables and secret files become one frozen settings object.

Precedence, highest first: `OT_<SECTION>_<KEY>` environment variables (and `..._FILE` for secrets),
the YAML file, the orchestrator's own `PG_*` variables (database URL only), built-in defaults.
Every problem is reported at once, one line each, and no line ever contains a secret's value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote_plus, unquote, urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    ValidationError,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from .errors import ConfigError
from .schedule import Schedule

ENV_PREFIX = "OT_"
CONFIG_ENV = "OT_CONFIG"

# Keys whose value may instead be read from a file named by `<key>_file` / `OT_..._FILE`.
SECRET_KEYS = frozenset({("database", "url"), ("state", "url"), ("posthog", "api_key")})

_DRIVERS = {"postgresql", "postgres", "postgresql+psycopg2"}


def _postgres_url(value: SecretStr | None) -> SecretStr | None:
    """Accept any PostgreSQL URL and pin the psycopg2 driver the project ships with."""
    if value is None:
        return None
    try:
        url = make_url(value.get_secret_value())
    except (ArgumentError, ValueError):  # ValueError: a bad port, whose text may be the password
        # The message must not echo the URL: it may hold a password.
        raise ValueError(
            "not a valid URL; expected postgresql://user:password@host:port/database"
        ) from None
    if url.drivername not in _DRIVERS:
        raise ValueError(f"unsupported scheme {url.drivername!r}; use postgresql://")
    if url.host is not None and "@" in url.host:
        # An unescaped "@" in the password puts its tail in the host, which libpq's
        # "could not translate host name" error would print where no redaction knows it.
        raise ValueError("the host contains '@'; write an '@' in the password as %40")
    pinned = url.set(drivername="postgresql+psycopg2")
    return SecretStr(pinned.render_as_string(hide_password=False))


def _cron(expression: str) -> str:
    Schedule(expression)
    return expression


PostgresUrl = Annotated[SecretStr | None, AfterValidator(_postgres_url)]
Cron = Annotated[str, AfterValidator(_cron)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class DatabaseSettings(_Section):
    """The orchestrator's database, read-only."""

    url: PostgresUrl = None
    statement_timeout: PositiveFloat = 30.0
    connect_timeout: PositiveInt = 10
    application_name: str = Field("orchestrator-telemetry", min_length=1, max_length=63)


class StateSettings(_Section):
    """Where the daemon keeps its own tables."""

    url: PostgresUrl = None
    schema_name: str = Field(
        "orchestrator_telemetry", alias="schema", pattern=r"^[a-z_][a-z0-9_]{0,62}$"
    )
    migrate_on_start: bool = True


_HTTP_URL = r"^https?://[^\s/]+(/\S*)?$"


class PosthogSettings(_Section):
    """The PostHog project events are delivered to."""

    host: str = Field("https://app.posthog.com", pattern=_HTTP_URL)
    api_key: SecretStr | None = None
    timeout: PositiveFloat = 10.0
    # Devtron's key endpoint; asked for the key (and host) only when api_key is not set.
    key_url: str | None = Field(None, pattern=_HTTP_URL)


class TelemetrySettings(_Section):
    """Whether anything is collected or sent at all."""

    enabled: bool = True
    # Recorded, never sent: no outbound connection of any kind; `export` carries events out.
    air_gapped: bool = False
    remote_opt_out: bool = False
    opt_out_url: str = Field(
        "https://telemetry.devtron.ai/devtron/telemetry/opt-out", pattern=_HTTP_URL
    )
    opt_out_cache_hours: PositiveFloat = 24.0


class KubernetesSettings(_Section):
    """Where Devtron keeps the installation's identity, and the cluster's version."""

    enabled: bool | None = None  # default: when running in a cluster
    namespace: str = Field("devtroncd", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    configmap: str = Field("devtron-ucid", min_length=1)
    timeout: PositiveFloat = 5.0
    version_refresh_hours: PositiveFloat = 24.0


class HttpSettings(_Section):
    """Health, readiness, Prometheus metrics and preview over HTTP."""

    enabled: bool = True
    # Every IPv4 and IPv6 address: a sidecar's probes come from the kubelet, in any cluster family.
    host: str = Field("*", min_length=1)
    port: int = Field(9108, ge=0, le=65535)  # 0: any free port, logged at start
    connection_timeout: PositiveFloat = 10.0
    max_connections: PositiveInt = 32


class IdentitySettings(_Section):
    """The installation's identity."""

    ucid: str | None = Field(None, pattern=r"^[a-z0-9]{16}$")


class DevtronSettings(_Section):
    """Versions reported in every event; mode and the other values only in the extended format."""

    version: str = Field("v1", min_length=1)
    server_version: str | None = Field(None, min_length=1)
    mode: Literal["full", "ea-only"] = "full"
    release_version: str | None = Field(None, min_length=1)
    git_version: str | None = Field(None, min_length=1)
    cluster_provider: str | None = Field(None, min_length=1)


class PayloadSettings(_Section):
    """The shape of the Heartbeat and Summary."""

    # documented: the Telemetry Guide's six counts; extended: today's Go orchestrator's keys.
    format: Literal["documented", "extended"] = "documented"


class ScheduleSettings(_Section):
    """When events are built, as cron expressions in UTC."""

    summary: Cron = "0 0 * * *"
    heartbeat: Cron = "0 */6 * * *"
    heartbeat_at_start: bool = True
    misfire_grace_time: PositiveInt = 3600


class DeliverySettings(_Section):
    """How events leave, and how long an undelivered one is worth retrying."""

    sink: Literal["posthog", "console"] = "posthog"
    retry_initial: PositiveFloat = 60.0
    retry_max: PositiveFloat = 3600.0
    heartbeat_max_age_hours: PositiveFloat = 24.0
    summary_max_age_days: PositiveFloat = 7.0
    # A count failing for a passing cause (a lock, a timeout) is retried until its slot is this
    # old; only then is it reported as -1.
    collect_deadline_hours: PositiveFloat = 6.0
    # Every look-up of Devtron's key and opt-out endpoints, retries and Retry-After included.
    lookup_deadline: PositiveFloat = 30.0


class LogSettings(_Section):
    """Log output."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class Settings(_Section):
    """Everything the daemon is configured with."""

    telemetry: TelemetrySettings = TelemetrySettings()
    database: DatabaseSettings = DatabaseSettings()
    state: StateSettings = StateSettings()
    posthog: PosthogSettings = PosthogSettings()
    identity: IdentitySettings = IdentitySettings()
    devtron: DevtronSettings = DevtronSettings()
    payload: PayloadSettings = PayloadSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    delivery: DeliverySettings = DeliverySettings()
    kubernetes: KubernetesSettings = KubernetesSettings()
    http: HttpSettings = HttpSettings()
    log: LogSettings = LogSettings()

    @property
    def state_url(self) -> SecretStr:
        """The state database: `state.url`, else the orchestrator's database."""
        url = self.state.url or self.database.url
        if url is None:  # load() guarantees database.url
            raise ValueError("database.url is not set")
        return url

    def secrets(self) -> list[str]:
        """Every secret value, so log output can be scrubbed of them."""
        found: list[str] = []
        for secret in (self.database.url, self.state.url, self.posthog.api_key):
            if secret is None:
                continue
            found.append(secret.get_secret_value())
            if secret is not self.posthog.api_key:
                url = make_url(secret.get_secret_value())
                passwords = [url.password, *password_parameters(url).values()]
                found += [f(str(p)) for p in passwords if p for f in (str, quote_plus)]
        for address in (self.posthog.host, self.posthog.key_url, self.telemetry.opt_out_url):
            password = urlsplit(address or "").password
            if password:
                found += [password, unquote(password)]
        return [value for value in found if value]


def password_parameters(url: URL) -> dict[str, str]:
    """Query parameters of a libpq URL that carry a password (password=, sslpassword=)."""
    return {
        key: str(value)
        for key, value in url.query.items()
        if "password" in key.lower() and isinstance(value, str)
    }


@dataclass(frozen=True)
class Config:
    """Validated settings, and where each set value came from."""

    settings: Settings
    sources: Mapping[str, str]

    def source_of(self, key: str) -> str:
        """Where a dotted key's value came from: a variable, the file, or `default`."""
        return self.sources.get(key, "default")


def env_name(section: str, key: str) -> str:
    """The environment variable that sets `section.key`."""
    return f"{ENV_PREFIX}{section}_{key}".upper()


def keys() -> list[tuple[str, str]]:
    """Every (section, key) the configuration accepts, in documentation order."""
    return [
        (section, field.alias or name)
        for section, section_field in Settings.model_fields.items()
        for name, field in _section_model(section_field.annotation).model_fields.items()
    ]


def load(
    path: Path | None,
    environ: Mapping[str, str] | None = None,
    *,
    require_api_key: bool = False,
    require_database: bool = True,
) -> Config:
    """Load and validate the configuration, raising ConfigError listing every problem."""
    env = os.environ if environ is None else environ
    problems: list[str] = []
    raw = _read_yaml(path, problems) if path is not None else {}
    where = f"config file {path}"
    sources: dict[str, str] = {}
    for section, value in raw.items():
        if isinstance(value, dict):
            sources.update({f"{section}.{key}": where for key in value})

    _resolve_secret_files(raw, env, sources, problems)
    for section, key in keys():
        variable = env_name(section, key)
        if variable in env:
            raw.setdefault(section, {})
            if isinstance(raw[section], dict):
                raw[section][key] = env[variable]
                sources[f"{section}.{key}"] = variable
    _database_url_from_orchestrator_env(raw, env, sources, problems)
    _opt_out_from_environment(raw, env, sources)

    database = raw.get("database")
    if require_database and (not isinstance(database, dict) or not database.get("url")):
        problems.append(
            "database.url: not set; set it in the config file, in OT_DATABASE_URL or"
            " OT_DATABASE_URL_FILE, or provide the orchestrator's PG_ADDR/PG_USER/PG_PASSWORD"
        )
    settings = None
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        problems.extend(_describe(error, sources) for error in exc.errors(include_input=False))
    if require_api_key and settings is not None and _needs_api_key(settings):
        problems.append(
            "posthog.api_key: not set; set it in the config file, OT_POSTHOG_API_KEY or"
            " OT_POSTHOG_API_KEY_FILE, or posthog.key_url to ask Devtron's key endpoint"
            " (or set delivery.sink: console to print events instead)"
        )
    if problems or settings is None:
        raise ConfigError(problems)
    return Config(settings=settings, sources=sources)


def _section_model(annotation: Any) -> type[BaseModel]:
    if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        raise TypeError(f"settings sections must be models, not {annotation!r}")
    return annotation


def _read_yaml(path: Path, problems: list[str]) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        problems.append(f"config file {path}: not found; pass an existing file to --config")
        return {}
    except OSError as exc:
        problems.append(f"config file {path}: cannot be read ({exc.strerror})")
        return {}
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problems.append(f"config file {path}: not valid YAML{at}; fix the syntax there")
        return {}
    if data is None:
        return {}
    if not isinstance(data, dict):
        problems.append(f"config file {path}: must be a mapping of sections, e.g. 'database:'")
        return {}
    return data


def _resolve_secret_files(
    raw: dict[str, Any], env: Mapping[str, str], sources: dict[str, str], problems: list[str]
) -> None:
    """Replace `<key>_file` (YAML) and `OT_<SECTION>_<KEY>_FILE` with the files' contents."""
    for section, key in sorted(SECRET_KEYS):
        block = raw.get(section)
        file_key = f"{key}_file"
        candidates: list[tuple[str, str]] = []
        if isinstance(block, dict) and file_key in block:
            if block.get(key) is not None:  # two ways in one place: neither may win silently
                problems.append(_given_twice(f"{section}.{key}", f"{section}.{file_key}"))
            candidates.append((str(block.pop(file_key)), f"{section}.{file_key}"))
            sources.pop(f"{section}.{file_key}", None)
        variable = env_name(section, key) + "_FILE"
        if variable in env:
            if env_name(section, key) in env:
                problems.append(_given_twice(env_name(section, key), variable))
            candidates.append((env[variable], variable))
        if not candidates:
            continue
        # The environment wins over the file, as for every other key: take the last candidate.
        file_name, origin = candidates[-1]
        try:
            secret = Path(file_name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            problems.append(f"{origin}: cannot read secret file {file_name} ({exc.strerror})")
            continue
        raw.setdefault(section, {})
        if isinstance(raw[section], dict):
            raw[section][key] = secret
            sources[f"{section}.{key}"] = f"{origin}={file_name}"


def _given_twice(value: str, file: str) -> str:
    return f"{value} and {file} are both set: the same secret given two ways; keep one of them"


def _database_url_from_orchestrator_env(
    raw: dict[str, Any], env: Mapping[str, str], sources: dict[str, str], problems: list[str]
) -> None:
    """Build database.url from the orchestrator's PG_* variables when nothing else set it."""
    database = raw.setdefault("database", {})
    if not isinstance(database, dict) or database.get("url"):
        return
    names = ("PG_ADDR", "PG_PORT", "PG_USER", "PG_PASSWORD", "PG_PASSWORD_FILE", "PG_DATABASE")
    if not any(env.get(name) for name in names):
        return
    password = env.get("PG_PASSWORD")
    if env.get("PG_PASSWORD") and env.get("PG_PASSWORD_FILE"):
        problems.append(_given_twice("PG_PASSWORD", "PG_PASSWORD_FILE"))
    if env.get("PG_PASSWORD_FILE"):
        try:
            password = Path(env["PG_PASSWORD_FILE"]).read_text(encoding="utf-8").strip()
        except OSError as exc:
            name = env["PG_PASSWORD_FILE"]
            problems.append(f"PG_PASSWORD_FILE: cannot read {name} ({exc.strerror})")
    port = env.get("PG_PORT") or "5432"
    if not port.isdigit():
        problems.append("PG_PORT: must be a port number, e.g. 5432")
        return
    query = {"sslmode": env["PG_SSL_MODE"]} if env.get("PG_SSL_MODE") else {}
    if env.get("PG_SSL_ROOT_CERT"):
        query["sslrootcert"] = env["PG_SSL_ROOT_CERT"]
    url = URL.create(
        "postgresql+psycopg2",
        username=env.get("PG_USER") or "postgres",
        password=password or None,
        host=env.get("PG_ADDR") or "127.0.0.1",
        port=int(port),
        database=env.get("PG_DATABASE") or "orchestrator",
        query=query,
    )
    database["url"] = url.render_as_string(hide_password=False)
    sources["database.url"] = "PG_* variables"


# The de-facto standard switch: it silences everything and wins over every other setting.
OPT_OUT_VARIABLES = {"DO_NOT_TRACK": ("1", "true", "yes")}
# Devtron's own switch for installations without egress: events are recorded, never sent.
AIR_GAP_VARIABLE = "IS_AIR_GAP_ENVIRONMENT"


def _opt_out_from_environment(
    raw: dict[str, Any], env: Mapping[str, str], sources: dict[str, str]
) -> None:
    """Silence telemetry on DO_NOT_TRACK, go air-gapped on IS_AIR_GAP_ENVIRONMENT; both win."""
    section = raw.setdefault("telemetry", {})
    if not isinstance(section, dict):
        return
    if env.get(AIR_GAP_VARIABLE, "").strip().lower() == "true":
        section["air_gapped"] = True
        sources["telemetry.air_gapped"] = f"{AIR_GAP_VARIABLE}={env[AIR_GAP_VARIABLE]}"
    for variable, values in OPT_OUT_VARIABLES.items():
        if env.get(variable, "").strip().lower() in values:
            section["enabled"] = False
            sources["telemetry.enabled"] = f"{variable}={env[variable]}"
            return


def _needs_api_key(settings: Settings) -> bool:
    """Events go to PostHog, and neither a key nor a key endpoint is configured."""
    return (
        settings.telemetry.enabled
        and not settings.telemetry.air_gapped
        and settings.delivery.sink == "posthog"
        and settings.posthog.api_key is None
        and settings.posthog.key_url is None
    )


def _describe(error: Mapping[str, Any], sources: Mapping[str, str]) -> str:
    """One line naming the key, what is wrong, and where the value came from."""
    loc = [str(part) for part in error["loc"] if not str(part).startswith("function-after")]
    key = ".".join(loc)
    origin = sources.get(key)
    hint = f" (from {origin})" if origin else ""
    if error["type"] == "extra_forbidden":
        if len(loc) == 1:
            known = ", ".join(Settings.model_fields)
        else:
            known = ", ".join(k for s, k in keys() if s == loc[0])
        return f"{key}: unknown key{hint}; expected one of: {known}"
    message = str(error["msg"]).removeprefix("Value error, ")
    if len(loc) == 2 and not (origin or "").startswith(ENV_PREFIX):
        hint = f" (from {origin or 'defaults'}; also settable as {env_name(loc[0], loc[1])})"
    return f"{key}: {message}{hint}"


def http_settings(path: Path | None, environ: Mapping[str, str]) -> HttpSettings:
    """The `http` section alone, defaults where it is unusable: for a misconfigured `run`."""
    raw = _read_yaml(path, []) if path is not None else {}
    section = raw.get("http")
    values: dict[str, Any] = dict(section) if isinstance(section, dict) else {}
    for name in HttpSettings.model_fields:
        if env_name("http", name) in environ:
            values[name] = environ[env_name("http", name)]
    try:
        return HttpSettings.model_validate(values)
    except ValidationError:
        return HttpSettings()
