"""The time windows a Summary counts, all ending at its slot."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_

DAY = timedelta(hours=24)
MONTH = timedelta(hours=720)


@dataclass(frozen=True)
class Window:
    """The 24 hours a Summary counts, (start, end], ending at the summary slot."""

    start: datetime
    end: datetime

    @classmethod
    def ending_at(cls, slot: datetime) -> Window:
        """The window the Summary of `slot` counts."""
        if slot.utcoffset() is None:
            raise ValueError("a slot must be timezone-aware")
        return cls(start=slot - DAY, end=slot)

    @property
    def month_start(self) -> datetime:
        """The start of the 30-day window (720 hours) that ends with this one."""
        return self.end - MONTH

    def day(self, column: ColumnElement[object]) -> ColumnElement[bool]:
        """`column` in (slot - 24 h, slot]."""
        return and_(column > self.start, column <= self.end)

    def month(self, column: ColumnElement[object]) -> ColumnElement[bool]:
        """`column` in (slot - 720 h, slot]."""
        return and_(column > self.month_start, column <= self.end)
