"""The daemon's own tables, declared once for queries and for the migration check.

Tables carry no schema here: connections map them into the configured schema with SQLAlchemy's
`schema_translate_map`, so one declaration serves any `state.schema`.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)

metadata = MetaData()

STATUSES = ("pending", "sent", "dead", "expired")

identity = Table(
    "identity",
    metadata,
    # One row: the installation's ucid, shared by every replica and restart.
    Column("id", SmallInteger, primary_key=True, autoincrement=False),
    Column("ucid", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("id = 1", name="identity_single_row"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("uuid", Uuid, primary_key=True),
    Column("event", Text, nullable=False),
    Column("distinct_id", Text, nullable=False),
    Column("period", DateTime(timezone=True), nullable=False),
    Column("timestamp", DateTime(timezone=True), nullable=False),
    # json, not jsonb: the stored text keeps the documented key order, byte for byte.
    Column("properties", JSON, nullable=False),
    Column("status", Text, nullable=False, server_default=text("'pending'")),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("sent_at", DateTime(timezone=True)),
    # The guarantee "one event per kind, installation and period" lives in the database, not in a
    # lock: two installations sharing a state database never take each other's periods.
    UniqueConstraint("event", "distinct_id", "period", name="outbox_one_per_installation_period"),
    CheckConstraint("status IN ('pending', 'sent', 'dead', 'expired')", name="outbox_status_known"),
    Index(
        "outbox_due",
        "next_attempt_at",
        postgresql_where=text("status = 'pending'"),
    ),
)


def in_schema(schema: str) -> dict[str | None, str]:
    """The execution option that places these tables in `schema`."""
    return {None: schema}
