"""The metric dictionary: a Markdown page generated from the catalogue, one row per key."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql.base import PGDialect

from .catalogue import _ANY_WINDOW, CATALOGUE, LAYOUTS, Layout, Metric
from .statements import scanned

_DIALECT = PGDialect()  # type: ignore[no-untyped-call]  # SQLAlchemy leaves it untyped
_LAYOUT_NAMES: dict[Layout, str] = {
    "documented": "documented Summary (under `summary`)",
    "full": "extended Summary, FULL",
    "ea": "extended Summary, EA-only",
    "heartbeat": "extended Heartbeat",
}
# The literals the reference window renders as, and what they stand for.
_WINDOW_TEXT = {
    f"'{_ANY_WINDOW.end.isoformat(sep=' ')}'": ":slot",
    f"'{_ANY_WINDOW.start.isoformat(sep=' ')}'": ":slot - interval '24 hours'",
    f"'{_ANY_WINDOW.month_start.isoformat(sep=' ')}'": ":slot - interval '720 hours'",
}

HEADER = """# Metric dictionary

Generated from `orchestrator_telemetry/collect/catalogue.py` by `make artefacts`; a test checks it
matches the code. Do not edit by hand.

`events`: **D** documented Summary (the six counts under `summary`), **F** extended Summary in FULL
mode, **E** extended Summary in EA-only mode, **H** extended Heartbeat. `omit`: Go's omitempty (a
zero value is left out; -1 is not zero). `window`: `24h` = `(slot - 24 h, slot]`, `30d` =
`(slot - 720 h, slot]`, `slot` = at or before the slot. `fail`: the value sent when the metric
cannot be computed (a missing table or column, a permission, invalid stored JSON); `omitted` means
the key is left out. `:slot` is the Summary's slot. Definitions are as sent to PostgreSQL, where a
scan's rows feed several metrics in one pass (they share the FROM and WHERE).
"""


def render() -> str:
    """The whole page."""
    lines = [HEADER]
    lines.append("| key | type | events | omit | window | fail | meaning | reads | Go today |")
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for metric in CATALOGUE:
        lines.append(_row(metric))
    lines.append("")
    lines.append("## Definitions")
    lines.append("")
    for metric in CATALOGUE:
        if metric.from_database:
            lines.append(f"### `{metric.key}`")
            lines.append("")
            lines.append("```sql")
            lines.append(definition(metric))
            lines.append("```")
            lines.append("")
    lines.append("## Events")
    lines.append("")
    for name in LAYOUTS:
        keys = ", ".join(f"`{m.key}`" for m in CATALOGUE if name in m.layouts)
        lines.append(f"- {_LAYOUT_NAMES[name]}: {keys}")
    return "\n".join(lines) + "\n"


def definition(metric: Metric) -> str:
    """The metric's SQL, as PostgreSQL receives it, with the window written symbolically."""
    if metric.scan is not None:
        statement = scanned([metric], _ANY_WINDOW)
    else:
        from sqlalchemy import select  # noqa: PLC0415 - only here

        statement = select(metric.expression(_ANY_WINDOW).label(metric.key))
    text = str(statement.compile(dialect=_DIALECT, compile_kwargs={"literal_binds": True}))
    for literal, symbol in _WINDOW_TEXT.items():
        text = text.replace(literal, symbol)
    return "\n".join(line.rstrip() for line in text.replace("public.", "").splitlines())


def _row(metric: Metric) -> str:
    events = "".join(
        letter for name, letter in zip(LAYOUTS, "DFEH", strict=True) if name in metric.layouts
    )
    reads = (
        "; ".join(
            f"`{table}`" + (f" ({', '.join(sorted(columns))})" if columns else "")
            for table, columns in metric.reads.items()
        )
        or metric.source
    )
    fail = "omitted" if metric.failure is None else f"`{_json(metric.failure)}`"
    if not metric.from_database:
        fail = "-"
    cells = [
        f"`{metric.key}`",
        metric.type,
        events,
        "yes" if metric.omit else "no",
        metric.window or "-",
        fail,
        metric.meaning.replace("|", "\\|"),
        reads,
        (metric.go or "").replace("|", "\\|"),
    ]
    return "| " + " | ".join(cells) + " |"


def _json(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
