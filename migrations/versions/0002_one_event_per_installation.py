"""One event per kind, installation and period.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Widen the unique key to (event, distinct_id, period); every existing row is kept."""
    # Rows unique per (event, period) are unique per (event, distinct_id, period) as well.
    op.create_unique_constraint(
        "outbox_one_per_installation_period", "outbox", ["event", "distinct_id", "period"]
    )
    op.drop_constraint("outbox_one_per_period", "outbox", type_="unique")


def downgrade() -> None:
    """Narrow the key back to (event, period); fails if two installations share a period."""
    op.create_unique_constraint("outbox_one_per_period", "outbox", ["event", "period"])
    op.drop_constraint("outbox_one_per_installation_period", "outbox", type_="unique")
