"""open due index: the schedule's open rows (pending or claimed) in due order, for the clock's claim

A claim picks the oldest due open rows. With only the indexes on ``status`` and on ``due_at`` it read
every pending row of the schedule (a wave's 14,000 due rows and every later one) and sorted them, once
a claim; this partial index holds only open rows, in the claim's order, so a claim reads the rows at
the front (and those other clocks hold) and stops.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

_OPEN = sa.text("status IN ('pending', 'claimed')")


def upgrade() -> None:
    op.create_index("ix_scheduled_actions_open_due", "scheduled_actions", ["due_at", "id"],
                    postgresql_where=_OPEN, sqlite_where=_OPEN)


def downgrade() -> None:
    op.drop_index("ix_scheduled_actions_open_due", table_name="scheduled_actions")
