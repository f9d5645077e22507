"""publication ledger: every pulse report figure ever shown, so closed months are never revised; answers carry their segment

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('survey_responses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('segment', sa.String(512), nullable=True))
    op.create_table('report_publications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.String(32), nullable=False),
    sa.Column('metric', sa.String(64), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('breakdown', sa.String(128), nullable=False),
    sa.Column('cell', sa.String(512), nullable=False),
    sa.Column('respondents', sa.Integer(), nullable=True),
    sa.Column('estimate', sa.Float(), nullable=True),
    sa.Column('ci_low', sa.Float(), nullable=True),
    sa.Column('ci_high', sa.Float(), nullable=True),
    sa.Column('suppressed', sa.Boolean(), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('team_id', 'metric', 'month', 'breakdown', 'cell', name='uq_report_publications_figure')
    )
    with op.batch_alter_table('report_publications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_publications_team_id'), ['team_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('report_publications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_publications_team_id'))
    op.drop_table('report_publications')
    with op.batch_alter_table('survey_responses', schema=None) as batch_op:
        batch_op.drop_column('segment')
