"""report privacy: the site in each person's report segment, and the evaluation's publication ledger

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('report_pulse_segments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('site', sa.String(80), nullable=False, server_default=''))
    op.create_table(
        'evaluation_publications',
        sa.Column('team_id', sa.String(length=32), nullable=False),
        sa.Column('wave', sa.String(length=16), nullable=False),
        sa.Column('closed_on', sa.Date(), nullable=False),
        sa.Column('figures', sa.Text(), nullable=False),
        sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('team_id', 'wave'),
    )


def downgrade() -> None:
    op.drop_table('evaluation_publications')
    with op.batch_alter_table('report_pulse_segments', schema=None) as batch_op:
        batch_op.drop_column('site')
