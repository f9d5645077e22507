"""workspace installations: the Enterprise Grid org a workspace belongs to, and org-wide installs

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('workspaces', schema=None) as batch_op:
        batch_op.add_column(sa.Column('enterprise_id', sa.String(32), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('is_org_install', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('workspaces', schema=None) as batch_op:
        batch_op.drop_column('is_org_install')
        batch_op.drop_column('enterprise_id')
