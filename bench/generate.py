"""Builds the large orchestrator database once per seed and size, and reads it back from cache.

The rows themselves are made by `generate.sql`, set-based inside PostgreSQL; this module creates
the database with the sandbox's Devtron tables (reference §7), runs that script in the same
transaction, leaves the tables as autovacuum would, and records what the cache holds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.pool import NullPool

from orchestrator_telemetry.collect.catalogue import tables_read
from orchestrator_telemetry.sandbox.devtron import create_schema

from .server import CACHE, CachedPostgres

DATABASE = "orchestrator"
# The Summary slot the benchmark counts: the five years of rows end at it.
ANCHOR = datetime(2025, 11, 24, tzinfo=UTC)
SCRIPT = Path(__file__).with_name("generate.sql")
# The documented Summary's tables first, then the others the extended Summary reads.
_DOCUMENTED = ("users", "cluster", "environment", "team", "app", "ci_pipeline", "pipeline")
TABLES = (*_DOCUMENTED, *(table for table in tables_read("full") if table not in _DOCUMENTED))


@dataclass(frozen=True)
class Size:
    """How many rows each table gets."""

    users: int
    clusters: int
    environments: int
    teams: int
    apps: int
    ci_pipelines: int
    cd_pipelines: int
    ci_workflows: int
    cd_runners: int
    user_audits: int

    @classmethod
    def scaled(cls, scale: float) -> Size:
        """The issues' size (2M + 2M pipelines, 5M + 5M runs, 100k apps, ...) times `scale`."""

        def rows(full: int, least: int) -> int:
            return max(least, round(full * scale))

        return cls(
            users=rows(50_000, 10),
            clusters=rows(2_000, 4),
            environments=rows(20_000, 8),
            teams=rows(400, 2),
            apps=rows(100_000, 20),
            ci_pipelines=rows(2_000_000, 100),
            cd_pipelines=rows(2_000_000, 100),
            ci_workflows=rows(5_000_000, 200),
            cd_runners=rows(5_000_000, 200),
            user_audits=rows(500_000, 50),
        )


@dataclass(frozen=True)
class Generated:
    """What a cached database holds: how it was made, its tables, the counts it must give."""

    seed: int
    size: Size
    seconds: float
    rows: dict[str, int]
    megabytes: dict[str, float]
    expected: dict[str, int]


def cache_home(seed: int, scale: float) -> Path:
    """The cache directory for one seed, size and version of the generating script."""
    script = sha256(SCRIPT.read_bytes()).hexdigest()[:10]
    return CACHE / f"pg15-seed{seed}-scale{scale:g}-{script}"


def ensure(server: CachedPostgres, seed: int, scale: float) -> Generated:
    """The generated database on the running `server`, built first if the cache has none."""
    marker = server.home / "generated.json"
    if marker.exists():
        raw = json.loads(marker.read_text())
        return Generated(**(raw | {"size": Size(**raw["size"])}))
    print(f"generating the benchmark database in {server.home} (cached afterwards)", flush=True)
    generated = _generate(server, seed, Size.scaled(scale))
    marker.write_text(json.dumps(asdict(generated), indent=2) + "\n")
    return generated


def _generate(server: CachedPostgres, seed: int, size: Size) -> Generated:
    admin = create_engine(server.url("postgres"), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {DATABASE}")
            conn.exec_driver_sql(f"CREATE DATABASE {DATABASE}")
            # In the maintenance database, so the orchestrator's stays exactly Devtron's shape.
            conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    finally:
        admin.dispose()
    engine = create_engine(server.url(DATABASE), poolclass=NullPool)
    started = time.monotonic()
    try:
        # One transaction from CREATE TABLE to the last row: with wal_level=minimal, no WAL.
        with engine.begin() as conn:
            create_schema(conn)
            settings = asdict(size) | {"seed": seed, "anchor": ANCHOR.isoformat()}
            for name, value in settings.items():
                conn.execute(text("SELECT set_config(:name, :value, true)"), _setting(name, value))
            for step, statements in _steps():
                began = time.monotonic()
                _execute_script(conn, statements)
                print(f"  {step}: {time.monotonic() - began:.1f} s", flush=True)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            began = time.monotonic()
            # Frozen, all-visible and analysed, as autovacuum leaves an old installation.
            conn.exec_driver_sql("VACUUM (FREEZE, ANALYZE)")
            conn.exec_driver_sql("VACUUM")  # pages the first pass could not yet mark all-visible
            conn.exec_driver_sql("CHECKPOINT")
            print(f"  vacuum and checkpoint: {time.monotonic() - began:.1f} s", flush=True)
            rows, megabytes = _table_sizes(conn)
            expected = expected_counts(conn)
    finally:
        engine.dispose()
    seconds = round(time.monotonic() - started, 1)
    return Generated(seed, size, seconds, rows, megabytes, expected)


def _execute_script(conn: Connection, statements: str) -> None:
    # Straight to the driver: with no parameters psycopg2 leaves the script's % signs alone.
    cursor = conn.connection.cursor()
    try:
        cursor.execute(statements)
    finally:
        cursor.close()


def _setting(name: str, value: object) -> dict[str, str]:
    return {"name": f"bench.{name}", "value": str(value)}


def _steps() -> Iterator[tuple[str, str]]:
    """The script's steps: (name, statements), split at its `-- step:` lines."""
    name = ""
    lines: list[str] = []
    for line in SCRIPT.read_text().splitlines():
        if line.startswith("-- step:"):
            if name:
                yield name, "\n".join(lines)
            name, lines = line.removeprefix("-- step:").strip(), []
        elif name:
            lines.append(line)
    if name:
        yield name, "\n".join(lines)


def _table_sizes(conn: Connection) -> tuple[dict[str, int], dict[str, float]]:
    rows: dict[str, int] = {}
    megabytes: dict[str, float] = {}
    for table in TABLES:
        counted = conn.execute(text(f"SELECT count(*) FROM public.{table}"))
        rows[table] = int(counted.scalar_one())
        size = conn.execute(text("SELECT pg_total_relation_size(:t)"), {"t": f"public.{table}"})
        megabytes[table] = round(int(size.scalar_one()) / 2**20, 1)
    return rows, megabytes


# Each count as the plainest query of its definition (reference §2): the answers to check.
_PLAIN_COUNTS = {
    "cdCountPerDay": "SELECT count(*) FROM pipeline"
    " WHERE created_on > :slot - interval '24 hours' AND created_on <= :slot",
    "ciCountPerDay": "SELECT count(*) FROM ci_pipeline"
    " WHERE created_on > :slot - interval '24 hours' AND created_on <= :slot",
    "clusterCount": "SELECT count(*) FROM cluster WHERE active = true",
    "environmentCount": "SELECT count(*) FROM environment WHERE active = true",
    "nonProdAppCount": "SELECT count(DISTINCT pipeline.app_id) FROM pipeline"
    " JOIN environment ON environment.id = pipeline.environment_id"
    " JOIN app ON app.id = pipeline.app_id"
    ' WHERE environment."default" = false AND app.active = true',
    "userCount": "SELECT count(*) FROM users"
    " WHERE active = true AND (user_type IS NULL OR user_type <> 'apiToken')",
}


def expected_counts(conn: Connection) -> dict[str, int]:
    """The six Summary counts at ANCHOR, each computed on its own by its plainest query."""
    return {
        name: int(conn.execute(text(query), {"slot": ANCHOR}).scalar_one())
        for name, query in _PLAIN_COUNTS.items()
    }
