"""Turns the measurements into BENCHMARKS.md (also printed): machine, data, results, targets."""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version

from sqlalchemy import Engine

from .footprint import (
    PROBES,
    TARGETS,
    DaemonFootprint,
    ImportCost,
    PathFootprint,
    SoakFootprint,
)
from .generate import ANCHOR, Generated
from .measure import Measured

COMMAND = "make bench"
_SETTINGS = (
    "shared_buffers",
    "work_mem",
    "hash_mem_multiplier",
    "max_parallel_workers_per_gather",
    "jit",
)


@dataclass(frozen=True)
class Machine:
    """Where the benchmark ran."""

    cpu: str
    cores: int
    memory_gb: float
    system: str
    postgres: str
    settings: dict[str, str]
    python: str
    libraries: str
    load: str  # load averages before and after the measurements: other work skews timings


@dataclass(frozen=True)
class Index:
    """An operator index as the benchmark created it."""

    statement: str
    seconds: float  # to build, on the benchmark machine
    megabytes: float


@dataclass(frozen=True)
class Results:
    """Everything one benchmark run found."""

    generated: Generated
    generated_now: bool
    runs: int
    main: dict[str, Measured]
    indexed: dict[str, Measured]
    indexes: list[Index]
    plan: list[str]
    startup_bytes: int  # what the server sends to open any connection
    daemon: DaemonFootprint | None
    soak: SoakFootprint | None
    machine: Machine
    paths: list[PathFootprint]
    imports: list[ImportCost]
    finished: datetime


def describe_machine(admin: Engine, load: str) -> Machine:
    """The hardware, the server's version and settings, and the client's versions."""
    with admin.connect() as conn:
        postgres = str(conn.exec_driver_sql("SELECT version()").scalar_one())
        settings = {
            name: str(conn.exec_driver_sql(f"SHOW {name}").scalar_one()) for name in _SETTINGS
        }
    return Machine(
        cpu=_cpu_model(),
        cores=os.cpu_count() or 0,
        memory_gb=round(_memory_kb() / 2**20, 1),
        system=f"{platform.system()} {platform.release()}",
        postgres=postgres.split(" on ", maxsplit=1)[0],
        settings=settings,
        python=platform.python_version(),
        libraries=", ".join(
            f"{name} {version(name)}" for name in ("SQLAlchemy", "psycopg2-binary")
        ),
        load=load,
    )


def load_average() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _cpu_model() -> str:
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_kb() -> int:
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                return int(line.split()[1])
    return 0


def render(results: Results) -> str:
    """BENCHMARKS.md."""
    parts = [
        _introduction(results),
        _machine(results.machine),
        _data(results),
        _side_by_side(results),
        _extended(results),
        _alternatives(results),
        _indexes(results),
        _plan(results),
        _footprint(results),
        _targets(results),
    ]
    return "\n".join(parts)


def _introduction(results: Results) -> str:
    generated = results.generated
    return f"""# Benchmarks

The Summary's counts on a large orchestrator database: the daemon's own collection beside the Go
orchestrator's strategy and the least any exact answer must read, then the daemon's footprint.
This file is written by the benchmark; regenerate it rather than edit it:

```sh
{COMMAND}        # = .venv/bin/python -m bench; --help lists --seed, --scale, --runs and more
```

The first run generates the database inside PostgreSQL (about a minute at this size) and keeps
the server's data directory under `bench/.cache/`, keyed by seed, size and generating script;
later runs start from it.

Last run: {results.finished:%Y-%m-%d %H:%M} UTC, seed {generated.seed}, {results.runs} measured
runs per strategy after one warm-up run each. Strategies take turns run by run, so a noisy
moment hits them alike; figures are medians, with the range of the database time.

How each figure is taken:

- **wall**: at the client, from connecting to holding the counts (the daemon connects for each
  Summary: it keeps no idle connection).
- **database**: planning plus execution time of the run's statements on the server, from
  `pg_stat_statements` (parallel workers run inside their leader's time); the network and the
  client are not in it. Ratios are of this time unless they say otherwise, each the median of
  the ratios within a round (strategies measured back to back share a moment's load).
- **statements**: what the code executed (SQLAlchemy's cursor events). **requests**: Query
  messages on the wire, through a counting TCP proxy: the statements plus the `BEGIN READ ONLY`
  and `ROLLBACK` psycopg2 wraps a transaction in.
- **received**: bytes from the server through the proxy, connection start-up included
  ({results.startup_bytes} bytes of authentication and parameter status on every connection).
- **buffers**: shared-buffer pages the statements touched (found in the cache, or read into it
  from the operating system), parallel workers included; 8 kB each.
"""


def _machine(machine: Machine) -> str:
    settings = ", ".join(f"{name} {value}" for name, value in machine.settings.items())
    return f"""## Machine

| | |
|---|---|
| CPU | {machine.cpu}, {machine.cores} cores |
| memory | {machine.memory_gb} GB |
| system | {machine.system} |
| PostgreSQL | {machine.postgres}, on the same machine, over TCP |
| server settings | {settings} (PostgreSQL's defaults; fsync off) |
| Python | {machine.python}; {machine.libraries} |
| load average (1, 5, 15 min) | {machine.load} |
"""


def _data(results: Results) -> str:
    generated = results.generated
    how = "generated by this run" if results.generated_now else "taken from the cache"
    rows = "\n".join(
        f"| `{table}` | {count:,} | {generated.megabytes[table]:,} |"
        for table, count in generated.rows.items()
    )
    counts = "\n".join(f"| {name} | {value:,} |" for name, value in generated.expected.items())
    return f"""## Data

Devtron's tables as the sandbox defines them (reference §7: no index beyond the primary keys and
`users.email_unique`), filled by `bench/generate.sql` ({how}; generating took
{generated.seconds:.0f} s):

- five years of CI and CD pipelines, growing linearly up to the Summary slot
  {ANCHOR:%Y-%m-%d %H:%M} UTC, so a few thousand fall in its last 24 hours; ids follow creation
  time, as serial ids do;
- popular apps and environments own most pipelines; 75 % of apps are Devtron apps, 15 % Helm
  apps and 10 % jobs; 85 % of apps are active; a quarter of environments are production;
- 12 % of users are API tokens (each with a JWT) and 8 % are people no longer active;
- a cluster row carries its kubeconfig's token and CA data (about 1.5 kB).

| table | rows | MB |
|---|---:|---:|
{rows}

The Summary of that slot, each count computed alone by the plainest query of its definition
(reference §2); every strategy returned exactly these counts in every run:

| count | value |
|---|---:|
{counts}
"""


def _row(measured: Measured, ours: Measured) -> str:
    wall, database = measured.median("wall_ms"), measured.median("database_ms")
    versus = measured.ratio_to(ours)
    buffers = measured.median("buffers")
    times = [run.database_ms for run in measured.runs]
    spread = f"{min(times):,.0f} to {max(times):,.0f}"
    return (
        f"| {measured.strategy.title} | {wall:,.0f} | {database:,.0f} ({spread}) | {versus:.2f} |"
        f" {measured.median('statements'):.0f} | {measured.median('requests'):.0f} |"
        f" {_bytes(measured.median('received'))} |"
        f" {buffers:,.0f} ({buffers * 8 / 1024:,.0f} MB) |"
    )


_HEADER = (
    "| strategy | wall ms | database ms (range) | x ours | statements | requests | received"
    " | buffers |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|"
)


def _bytes(count: float) -> str:
    if count < 10 * 1024:
        return f"{count:,.0f} B"
    return f"{count / 2**20:,.1f} MB"


def _side_by_side(results: Results) -> str:
    main = results.main
    ours, go, floor = main["ours"], main["go"], main["floor"]
    rows = "\n".join(_row(main[name], ours) for name in ("ours", "go", "floor"))
    return f"""## The Summary, side by side

{_HEADER}
{rows}

- The Go strategy takes **{_ratio(go, ours)}x** our database time
  ({_ratio(go, ours, "wall_ms")}x our wall time: it also receives every active user and cluster
  row, {_bytes(go.median("received"))} against our {_bytes(ours.median("received"))}).
- Ours takes **{_ratio(ours, floor)}x** the floor's database time. The floor only counts rows;
  the non-production count must also look up every CD pipeline's environment and collect the
  distinct apps, and the windowed counts compare every row's `created_on`.
- Ours is one statement; the wire carries it between `BEGIN READ ONLY` and `ROLLBACK` (the
  read-only transaction). The Go strategy sends six, outside any transaction.
"""


def _ratio(slower: Measured, faster: Measured, field: str = "database_ms") -> str:
    """The ratio of two strategies measured in the same rounds."""
    return f"{slower.ratio_to(faster, field):.2f}"


def _speedup(before: Measured, after: Measured) -> str:
    """The ratio of one strategy's medians in two separate measurements."""
    return f"{before.median('database_ms') / after.median('database_ms'):.2f}"


def _extended(results: Results) -> str:
    main = results.main
    ours, go, alike = main["ours-full"], main["go-full"], main["shared"]
    rows = "\n".join(_row(main[name], ours) for name in ("ours-full", "go-full", "shared"))
    runs = results.generated.rows
    same = alike.median("database_ms")
    apart = (go.median("database_ms") - same) / (ours.median("database_ms") - same)
    fifth = go.median("database_ms") / 5
    reach = (
        "less than these three alone take: however cheap the others, this target cannot be met\n"
        "  while they cost what the same SQL costs Go"
        if same > fifth
        else "more than these three take"
    )
    return f"""## The extended Summary (FULL mode), side by side

All 84 metrics of the FULL Summary that are read from the database (`payload.format: extended`),
on the same database with {runs["ci_workflow"]:,} `ci_workflow` and {runs["cd_workflow_runner"]:,}
`cd_workflow_runner` rows. Go's strategy is reproduced from the reference (§10) in
`bench/go_full.py`: one statement per metric, rows the ORM loads fetched whole, every Succeeded
CI run and every Healthy deployment fetched for two booleans.

{_HEADER}
{rows}

- The Go strategy takes **{_ratio(go, ours)}x** our database time and receives
  **{go.ratio_to(ours, "received"):,.0f}x** our bytes ({_bytes(go.median("received"))} against
  {_bytes(ours.median("received"))}).
- Three metrics (`highestEnvironmentCountInApp`, `highestAppCountInEnvironment`,
  `highestEnvironmentCountInWorkflow`) are the same SQL in both, and the most expensive: a
  `count(DISTINCT ...)` per app, environment or workflow over every live pipeline (and every
  workflow mapping), with no index to help. Measured alone they take {same:,.0f} ms; without them
  the Go strategy takes **{apart:.1f}x** our database time. A fifth of Go's time is
  {fifth:,.0f} ms,
  {reach}.
  Hashing the distinct pairs first was measured slower (it spills at the default `work_mem`), and
  raising `work_mem` for the session is not something a sidecar should do to Devtron's database.
- Ours is one statement: metrics over the same rows share one pass (a scan of the day's
  `ci_workflow` rows feeds its nine windowed counts; `build` and `deployment` are `EXISTS`,
  which stop at the first matching row).
"""


def _alternatives(results: Results) -> str:
    main = results.main
    ours, no_jit = main["ours"], main["no-jit"]
    names = ("ours", "before", "previous", "one-scan", "subqueries", "no-jit")
    rows = "\n".join(_row(main[name], ours) for name in names)
    apps = results.generated.rows["app"]
    jit = ours.median("database_ms") - no_jit.median("database_ms")
    return f"""## Why ours is shaped this way

Other ways to the same six counts, measured in the same rounds:

{_HEADER}
{rows}

- **before the catalogue**: the statement the documented Summary sent before the metrics became
  a catalogue: the two windowed counts as one `UNION ALL`. Ours now reads each windowed table in
  a scan of its own, so that a table an older orchestrator lacks costs only its own count.
- **previous**: what `metrics.py` sent before that: the six counts as scalar subqueries, the
  non-production count as Devtron's `count(DISTINCT pipeline.app_id)` over the three-way join.
  DISTINCT sorts every matching pipeline, spilling to disk at the default `work_mem`.
- **one scan**: `pipeline` read once, grouped by app, each group counting its rows in the window.
  Fewer scans, but the hash table of {apps:,} apps outgrows `work_mem` (4 MB) and spills, and
  each parallel worker builds all of it.
- **ours**: the non-production count is a semi-join from `app`
  (`app.active AND app.id IN (SELECT app_id FROM pipeline JOIN environment ... WHERE NOT
  default)`): PostgreSQL builds one shared hash of the matching pipelines in parallel, in batches
  that fit its memory, with no per-app state. `pipeline` is read twice (once more for its
  windowed count), and that plain scan costs less than the per-app aggregation a single scan
  needs: how the distinct apps are found decides more than the number of scans. No setting is
  changed (a `SET` would be a second statement).
- **windowed counts apart**: ours, each metric as a scalar subquery of its own (as `collect`
  runs them one by one when a group fails).
- **JIT off**: the statement's estimated cost passes `jit_above_cost`, so PostgreSQL compiles it
  (and each parallel worker its part) before running it; the plain counts stay under the
  threshold and are never compiled. Here that costs ours {jit:,.0f} ms. `-c jit=off` among the
  orchestrator engine's connection options (beside its statement timeout) would save it with no
  extra statement; the daemon does not do that today.
"""


def _indexes(results: Results) -> str:
    if not results.indexed:
        return ""
    lines = []
    for name in ("ours", "go", "floor"):
        before, after = results.main[name], results.indexed[name]
        lines.append(
            f"| {before.strategy.title} | {before.median('database_ms'):,.0f} |"
            f" {after.median('database_ms'):,.0f} | {_speedup(before, after)}x |"
            f" {after.median('buffers'):,.0f} |"
        )
    created = "\n".join(
        f"{index.statement};  -- {index.megabytes:.0f} MB, built in {index.seconds:.1f} s"
        for index in results.indexes
    )
    ours, go = results.indexed["ours"], results.indexed["go"]
    return f"""## With the indexes an operator may add

Created in the benchmark database only, measured, then dropped (the daemon never creates one):

```sql
{created}
```

| strategy | database ms, no index | with the indexes | faster by | buffers with |
|---|---:|---:|---:|---:|
{chr(10).join(lines)}

Both windowed counts become index-only scans of the last day's entries; what is left of ours is
the non-production count, which must still read every CD pipeline and its environment. With the
indexes the Go strategy takes {_ratio(go, ours)}x our database time (its non-production count
and its user rows remain). The README's "Performance" section tells operators how to add them.
"""


def _plan(results: Results) -> str:
    plan = "\n".join(results.plan)
    return f"""## Our statement's plan

`EXPLAIN (ANALYZE, BUFFERS)` of the documented Summary's statement for the slot, on the engine
the daemon uses, without the operator indexes:

```
{plan}
```
"""


def _footprint(results: Results) -> str:
    daemon, soak = results.daemon, results.soak
    if daemon is None or soak is None:
        return "## The daemon's footprint\n\nNot measured in this run (`--no-footprint`).\n"
    days = ", ".join(f"{kb / 1024:.1f}" for kb in soak.rss_after_day_kb)
    return f"""## The daemon's footprint

`orchestrator-telemetry run` against the large database, as the image runs it (bytecode
compiled ahead, `PYTHONOPTIMIZE=2`, `MALLOC_ARENA_MAX=2`), events printed instead of sent
(`OT_DELIVERY_SINK=console`), its HTTP endpoints on: read after its start-up job (migrate the
daemon's schema, record and print a Summary and a Heartbeat, {daemon.startup_ms:,} ms), then idle
for {daemon.idle_seconds:.0f} s. Then `bench.soak`, a process of its own composing the daemon the
same way, runs {soak.days} simulated days on a fast clock: each day the Summary tick at 00:00 and
Heartbeat ticks at 00:00, 06:00, 12:00 and 18:00 ({soak.ticks} ticks with the start), each
recording and delivering what is due, each Summary reading the large database.

| | measured |
|---|---:|
| resident memory after start | {daemon.rss_start_kb / 1024:.1f} MB |
| resident memory after {daemon.idle_seconds:.0f} s idle | {daemon.rss_idle_kb / 1024:.1f} MB |
| CPU time while idle, all threads | {daemon.idle_cpu_seconds:.3f} s in \
{daemon.idle_seconds:.0f} s: {daemon.cpu_seconds_per_idle_hour:.2f} s per idle hour |
| database connections held between runs (polled every 5 s) | {daemon.held_connections_max} |
| exit code on SIGTERM | {daemon.exit_code} |
| simulated: resident memory after start | {soak.rss_start_kb / 1024:.1f} MB |
| simulated: resident memory after each day | {days} MB |
| simulated: connections held after any tick | {soak.held_connections_max} |

{_paths(results.paths)}
{_imports(results.imports)}"""


def _paths(paths: list[PathFootprint]) -> str:
    if not paths:
        return ""
    rows = "\n".join(
        f"| {path.path} | {path.rss_ready_kb / 1024:.1f} MiB | {path.rss_later_kb / 1024:.1f} MiB"
        f" | {f'{path.target_mib} MiB' if path.target_mib else '-'}"
        f" | {path.cpu_to_ready_seconds:.2f} s |"
        for path in paths
    )
    return f"""### Both paths, as the image runs

`orchestrator-telemetry run` as the image runs it: optimised (`PYTHONOPTIMIZE=2`), every
module's bytecode compiled ahead at that level (`compileall -o 2 --invalidation-mode
unchecked-hash`) and none written (`PYTHONDONTWRITEBYTECODE=1`), `MALLOC_ARENA_MAX=2`, events
printed instead of sent. Outside a cluster the Kubernetes client is
never imported; in a cluster (`bench.in_pod`) it reads ConfigMap `devtron-ucid` and `/version`
from the test suite's local Kubernetes API server over TLS. The daemon's schema is at head
already (`orchestrator-telemetry migrate` ran first), as at every start but the first; the first
start migrates it, and Alembic stays imported after. Resident memory (`VmRSS`) once `/readyz`
answers 200, and again after {PROBES} probe and metrics requests, a `/preview` and 10 s.

| path | once ready | 10 s later | target | CPU to ready |
|---|---:|---:|---:|---:|
{rows}
"""


def _imports(costs: list[ImportCost]) -> str:
    if not costs:
        return ""
    rows = "\n".join(
        f"| {cost.part} | {cost.added_kb / 1024:.1f} MiB | {cost.total_kb / 1024:.1f} MiB |"
        for cost in costs
    )
    libraries = next(cost for cost in costs if cost.part == "prometheus-client")
    settings = next(cost for cost in costs if cost.part.startswith("the daemon's settings"))
    own = next(cost for cost in costs if cost.part == "the daemon's other modules")
    in_cluster = costs[-1]
    outside_target, cluster_target = TARGETS["outside a cluster"], TARGETS["in a cluster"]
    return f"""### Where the memory goes

Each part the daemon is built on, imported in the order a start first needs it by a fresh
interpreter run as the image runs it (bytecode compiled ahead, `PYTHONOPTIMIZE=2`,
`MALLOC_ARENA_MAX=2`); a row is what it adds to the rows above it (`VmRSS`).

| part | adds | resident after |
|---|---:|---:|
{rows}

The interpreter and the libraries take {libraries.total_kb / 1024:.1f} MiB before any of the
daemon's own code is imported; its own modules bring that to {own.total_kb / 1024:.1f} MiB, of
which its settings' models take {settings.added_kb / 1024:.1f} MiB. Imports alone thus leave
{_headroom(outside_target, own.total_kb)} of the {outside_target} MiB target outside a cluster
and {_headroom(cluster_target, in_cluster.total_kb)} of the {cluster_target} MiB target in one.
A running daemon adds its threads, two engines' compiled statements, the posthog client and the
HTTP server: the difference to the table above.
Every path imports the libraries the product names (SQLAlchemy, pydantic, posthog with requests)
before its first Summary is sent, so none of them can be imported later to save memory.
"""


def _headroom(target_mib: int, used_kb: int) -> str:
    """How much of a target remains, or by how much it is already exceeded, in words."""
    left = target_mib - used_kb / 1024
    return f"{left:.1f} MiB" if left >= 0 else f"nothing (already {-left:.1f} MiB over)"


@dataclass(frozen=True)
class Target:
    """One of the issue's targets, and whether this run met it."""

    name: str
    measured: str
    met: bool


def targets(results: Results) -> list[Target]:
    """The issue's targets, read from this run's figures."""
    main = results.main
    ours, go, floor = main["ours"], main["go"], main["floor"]
    found = [
        Target(
            "Summary: one round trip",
            f"{ours.median('statements'):.0f} statement"
            f" ({ours.median('requests'):.0f} requests with BEGIN and ROLLBACK)",
            ours.median("statements") == 1,
        ),
        Target(
            "Summary: at least 1.5x faster than the Go strategy (database time)",
            f"{_ratio(go, ours)}x",
            go.ratio_to(ours) >= 1.5,
        ),
        Target(
            "Summary: within 4x of the floor (database time)",
            f"{_ratio(ours, floor)}x ({_ratio(main['no-jit'], floor)}x with JIT off)",
            ours.ratio_to(floor) <= 4,
        ),
        Target(
            "Summary: under 1 KB received",
            _bytes(ours.median("received")),
            ours.median("received") < 1024,
        ),
        Target(
            "Summary: under 1 s median (wall)",
            f"{ours.median('wall_ms'):,.0f} ms",
            ours.median("wall_ms") < 1000,
        ),
    ]
    full, go_full, before = main["ours-full"], main["go-full"], main["before"]
    found += [
        Target(
            "Extended FULL Summary: one round trip",
            f"{full.median('statements'):.0f} statement",
            full.median("statements") == 1,
        ),
        Target(
            "Extended FULL Summary: at most 1/5 of the Go strategy's database time",
            f"1/{go_full.ratio_to(full):.1f}",
            go_full.ratio_to(full) >= 5,
        ),
        Target(
            "Extended FULL Summary: at most 1/1000 of the Go strategy's bytes received",
            f"1/{go_full.ratio_to(full, 'received'):,.0f}",
            go_full.ratio_to(full, "received") >= 1000,
        ),
        Target(
            "Documented Summary: no slower than before the catalogue (database time)",
            f"{_ratio(ours, before)}x the statement before",
            ours.ratio_to(before) <= 1.05,
        ),
    ]
    daemon, soak = results.daemon, results.soak
    if daemon is not None and soak is not None:
        resident = max(daemon.rss_start_kb, daemon.rss_idle_kb, *soak.rss_after_day_kb)
        held = max(daemon.held_connections_max, soak.held_connections_max)
        found += [
            Target(
                "Idle daemon: under 80 MB resident",
                f"{resident / 1024:.1f} MB at most",
                resident < 80 * 1024,
            ),
            Target(
                "Idle daemon: under 1 s CPU per idle hour",
                f"{daemon.cpu_seconds_per_idle_hour:.2f} s",
                daemon.cpu_seconds_per_idle_hour < 1,
            ),
            Target("Idle daemon: 0 connections held between runs", str(held), held == 0),
        ]
    found += [
        Target(
            f"Image-like daemon {path.path}: at most {path.target_mib} MiB resident",
            f"{path.rss_mib:.1f} MiB",
            path.rss_mib <= path.target_mib,
        )
        for path in results.paths
        if path.target_mib is not None
    ]
    return found


def _targets(results: Results) -> str:
    rows = "\n".join(
        f"| {target.name} | {target.measured} | {'met' if target.met else '**missed**'} |"
        for target in targets(results)
    )
    return f"""## Targets

| target | this run | |
|---|---|---|
{rows}
"""


def write(results: Results, path: str | None) -> None:
    """Print the report, and write it to `path` if given."""
    text = render(results)
    sys.stdout.write("\n" + text)
    if path is not None:
        with open(path, "w") as report:
            report.write(text)


def now() -> datetime:
    """The time the report is stamped with."""
    return datetime.now(UTC)
