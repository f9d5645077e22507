"""report privacy: the site in each person's report segment

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


def downgrade() -> None:
    with op.batch_alter_table('report_pulse_segments', schema=None) as batch_op:
        batch_op.drop_column('site')
