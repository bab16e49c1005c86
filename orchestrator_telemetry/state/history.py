"""What was recorded and what became of it: read from the outbox, and marked sent after an upload.

Only the daemon's own tables are read: history and export never touch the orchestrator's database.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import Engine, select, update

from ..events import Event
from .outbox import event_from_row
from .tables import outbox


@dataclass(frozen=True)
class Entry:
    """One recorded event and its delivery so far."""

    event: Event
    status: str
    attempts: int
    recorded_at: datetime
    sent_at: datetime | None
    last_error: str | None


def recorded_since(engine: Engine, since: datetime, *, newest_first: bool) -> list[Entry]:
    """Every event whose timestamp is at or after `since`, by timestamp."""
    columns = (outbox.c.timestamp, outbox.c.uuid)
    order = [column.desc() for column in columns] if newest_first else list(columns)
    query = select(outbox).where(outbox.c.timestamp >= since).order_by(*order)
    with engine.connect() as connection:
        rows = connection.execute(query).mappings().all()
    return [
        Entry(
            event=event_from_row(row),
            status=row["status"],
            attempts=row["attempts"],
            recorded_at=row["created_at"],
            sent_at=row["sent_at"],
            last_error=row["last_error"],
        )
        for row in rows
    ]


def mark_sent(engine: Engine, uuids: Iterable[UUID], now: datetime) -> int:
    """Mark these events sent (delivered by an upload), unless already sent; return how many."""
    keys = list(uuids)
    if not keys:
        return 0
    statement = (
        update(outbox)
        .where(outbox.c.uuid.in_(keys), outbox.c.status != "sent")
        .values(status="sent", sent_at=now, last_error=None)
    )
    with engine.begin() as connection:
        return int(connection.execute(statement).rowcount)
