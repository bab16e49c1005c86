"""The composition root: configuration in, a ready `Telemetry` with everything it owns out."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

import requests
import structlog
from sqlalchemy import Engine

from .collect.payload import Devtron
from .collect.versions import ServerVersion
from .config import Config, Settings
from .database import orchestrator_engine, state_engine
from .deliver.access import KeyDiscovery, OptOut, attempt_timeout, session
from .deliver.sinks import ConsoleSink, EventSink, LazySink, PosthogSink
from .errors import ConfigError, TransientError
from .events import EventName
from .kube import running_in_cluster
from .schedule import Clock, Schedule
from .service import Plan, Telemetry
from .state.outbox import DeliveryReport, Outbox, RetryPolicy

if TYPE_CHECKING:  # the Kubernetes client is a large import, made only inside a cluster
    from .kube.client import Kubernetes

log = structlog.get_logger(__name__)


@dataclass
class App:
    """The composed daemon: its use cases and what it must close."""

    telemetry: Telemetry
    engines: tuple[Engine, Engine]
    kubernetes: Kubernetes | None = None
    flush_on_close: bool = True

    def close(self) -> None:
        """Flush the sink, then dispose the engines: whoever creates an engine disposes it."""
        if self.flush_on_close:
            self.telemetry.sink.close()
        for engine in self.engines:
            engine.dispose()


def opt_out_reason(config: Config) -> str | None:
    """Why telemetry is switched off locally, or None when it is on."""
    if config.settings.telemetry.enabled:
        return None
    return f"telemetry.enabled is false (set by {config.source_of('telemetry.enabled')})"


@contextmanager
def application(
    config: Config,
    clock: Clock,
    sink: EventSink | None = None,
    on_secret: Callable[[str], None] = lambda secret: None,
    server_version: Callable[[], str] | None = None,
) -> Iterator[App]:
    """Compose engines, outbox, sink and identity from `config`; close them all on exit.

    `on_secret` learns secrets found at run time (a discovered key), so logs can mask them.
    `sink` and `server_version` replace the configured ones, for a caller that drives the daemon
    itself (the deterministic simulation).
    """
    settings = config.settings
    url = settings.database.url
    if url is None:  # load() reports this as a configuration error first
        raise ConfigError(["database.url: not set"])
    with ExitStack() as stack:
        http = stack.enter_context(session(settings.delivery.lookup_deadline))
        kube = kubernetes(settings)
        if kube is not None:
            stack.callback(kube.close)
        orchestrator = orchestrator_engine(url.get_secret_value(), settings.database)
        state = state_engine(
            settings.state_url.get_secret_value(), settings.database, settings.state
        )
        outbox = Outbox(state, clock, retry_policy(settings))
        telemetry = Telemetry(
            plan(settings),
            orchestrator=orchestrator,
            state=state,
            outbox=outbox,
            sink=sink or _sink(config, http, on_secret),
            clock=clock,
            server_version=server_version or _server_version(settings, kube, clock),
            configmap_ucid=kube.ucid if kube is not None else None,
            configmap_peek=kube.stored_ucid if kube is not None else lambda: None,
            opted_out=_opt_out(settings, http, clock),
            after_delivery=_after_delivery(kube, outbox),
        )
        app = App(telemetry, (orchestrator, state), kube)
        stack.callback(app.close)
        yield app


def plan(settings: Settings) -> Plan:
    """What to report and when, from the settings."""
    return Plan(
        configured_ucid=settings.identity.ucid,
        devtron_version=settings.devtron.version,
        summary=Schedule(settings.schedule.summary),
        heartbeat=Schedule(settings.schedule.heartbeat),
        summary_max_age=timedelta(days=settings.delivery.summary_max_age_days),
        schema=settings.state.schema_name,
        migrate_on_start=settings.state.migrate_on_start,
        grace=timedelta(seconds=settings.schedule.misfire_grace_time),
        collect_deadline=timedelta(hours=settings.delivery.collect_deadline_hours),
        payload_format=settings.payload.format,
        devtron=Devtron(
            mode=settings.devtron.mode,
            release_version=settings.devtron.release_version,
            git_version=settings.devtron.git_version,
            cluster_provider=settings.devtron.cluster_provider,
        ),
        air_gapped=settings.telemetry.air_gapped,
    )


def retry_policy(settings: Settings) -> RetryPolicy:
    """Backoff and maximum ages, from the settings."""
    delivery = settings.delivery
    summary_age = timedelta(days=delivery.summary_max_age_days)
    max_age = {name.value: summary_age for name in EventName}  # installer events as Summary
    max_age[EventName.HEARTBEAT.value] = timedelta(hours=delivery.heartbeat_max_age_hours)
    return RetryPolicy(
        initial=timedelta(seconds=delivery.retry_initial),
        maximum=timedelta(seconds=delivery.retry_max),
        max_age=max_age,
    )


def _sink(config: Config, http: requests.Session, on_secret: Callable[[str], None]) -> EventSink:
    settings = config.settings
    if settings.telemetry.air_gapped:
        # Never built into anything that connects: air-gapped means no outbound connection.
        return LazySink("none (air-gapped)", _air_gapped)
    if settings.delivery.sink == "console":
        return ConsoleSink(sys.stdout)
    return posthog_sink(config, http, on_secret)


def posthog_sink(
    config: Config, http: requests.Session, on_secret: Callable[[str], None]
) -> EventSink:
    """PostHog, with the configured key or, lazily, the one Devtron's key endpoint hands out."""
    settings = config.settings
    key = settings.posthog.api_key
    if key is not None:
        return PosthogSink(
            key.get_secret_value(),
            host=settings.posthog.host,
            timeout=settings.posthog.timeout,
            key_source=config.source_of("posthog.api_key"),
        )
    if settings.posthog.key_url is None:
        # Only a silenced daemon gets here (load() requires a key otherwise); it never sends.
        return LazySink("posthog", _no_key)
    discovery = KeyDiscovery(
        settings.posthog.key_url,
        default_host=settings.posthog.host,
        timeout=attempt_timeout(settings.delivery.lookup_deadline, 5.0),
        http=http,
    )

    def discovered() -> EventSink:
        target = discovery.target()
        on_secret(target.api_key)
        return PosthogSink(
            target.api_key,
            host=target.host,
            timeout=settings.posthog.timeout,
            key_source=target.source,
        )

    return LazySink("posthog", discovered)


def _air_gapped() -> EventSink:
    raise TransientError("air-gapped: events are recorded, never sent")


def _no_key() -> EventSink:
    raise TransientError("posthog.api_key is not set")


def kubernetes(settings: Settings) -> Kubernetes | None:
    """The Kubernetes API client, or None where it is not to be used."""
    wanted = settings.kubernetes.enabled
    if wanted is False or (wanted is None and not running_in_cluster()):
        return None
    from .kube.client import Kubernetes  # noqa: PLC0415 - see TYPE_CHECKING above

    return Kubernetes.in_cluster(
        namespace=settings.kubernetes.namespace,
        configmap=settings.kubernetes.configmap,
        timeout=settings.kubernetes.timeout,
    )


def _server_version(settings: Settings, kube: Kubernetes | None, clock: Clock) -> Callable[[], str]:
    return ServerVersion(
        settings.devtron.server_version,
        kube.server_version if kube is not None else None,
        clock,
        refresh=timedelta(hours=settings.kubernetes.version_refresh_hours),
    ).get


def _opt_out(settings: Settings, http: requests.Session, clock: Clock) -> Callable[[str], bool]:
    telemetry = settings.telemetry
    if not telemetry.remote_opt_out or telemetry.air_gapped:
        return lambda ucid: False
    return OptOut(
        telemetry.opt_out_url,
        cache=timedelta(hours=telemetry.opt_out_cache_hours),
        timeout=attempt_timeout(settings.delivery.lookup_deadline, 5.0),
        http=http,
        clock=clock,
    ).opted_out


def _after_delivery(kube: Kubernetes | None, outbox: Outbox) -> Callable[[DeliveryReport], None]:
    """In a cluster, keep Devtron's ConfigMap in step with what was delivered."""
    if kube is None:
        return _nothing
    from .kube.install_event import InstallEventSync  # noqa: PLC0415 - imports the Kubernetes client

    return InstallEventSync(kube, outbox)


def _nothing(report: DeliveryReport) -> None:
    """No follow-up after delivery outside a cluster."""
