"""The built-in demo: a throwaway PostgreSQL with a sample Devtron installation, events printed."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from ..schedule import Schedule
from .devtron import SampleCounts, create_schema, load_sample_data
from .extended import load_extended_sample
from .postgres import LocalPostgres

SUMMARY_CRON = "0 0 * * *"


@contextmanager
def sample_installation(now: datetime) -> Iterator[tuple[str, dict[str, int]]]:
    """Yield the URL of a throwaway orchestrator database and the counts its Summary must show."""
    slot = Schedule(SUMMARY_CRON).latest_slot(now) or now
    with LocalPostgres() as server:
        url = server.create_database("orchestrator")
        engine = create_engine(url, poolclass=NullPool)
        try:
            with engine.begin() as connection:
                create_schema(connection)
                # Dated relative to the latest summary slot, so the first Summary has some of each.
                counts = load_sample_data(connection, slot)
                load_extended_sample(connection, slot)  # the extended format's tables
        finally:
            engine.dispose()
        yield url, as_summary(counts)


def as_summary(counts: SampleCounts) -> dict[str, int]:
    """The counts under the Summary's own key names."""
    return {
        "cdCountPerDay": counts.cd_count_per_day,
        "ciCountPerDay": counts.ci_count_per_day,
        "clusterCount": counts.cluster_count,
        "environmentCount": counts.environment_count,
        "nonProdAppCount": counts.non_prod_app_count,
        "userCount": counts.user_count,
    }


def demo_environment(url: str) -> Mapping[str, str]:
    """Settings for the demo: the throwaway database, events printed instead of sent."""
    return {
        "OT_DATABASE_URL": url,
        "OT_DELIVERY_SINK": "console",
        "OT_SCHEDULE_SUMMARY": SUMMARY_CRON,
        # Loopback, any free port (logged at start): a demo must not fail on a busy 9108.
        "OT_HTTP_HOST": "127.0.0.1",
        "OT_HTTP_PORT": "0",
        "OT_IDENTITY_UCID": "demo0installati0",
    }
