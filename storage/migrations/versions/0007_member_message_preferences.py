"""member message preferences: quiet hours and the optional hour-before reminder

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

(0005 and 0006 are reserved for work in progress elsewhere; whichever lands last rebases its
``down_revision`` onto the other.)
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.add_column(sa.Column('quiet_start', sa.String(5), nullable=False, server_default='21:00'))
        batch_op.add_column(sa.Column('quiet_end', sa.String(5), nullable=False, server_default='07:00'))
        batch_op.add_column(sa.Column('remind_hour_before', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_column('remind_hour_before')
        batch_op.drop_column('quiet_end')
        batch_op.drop_column('quiet_start')
