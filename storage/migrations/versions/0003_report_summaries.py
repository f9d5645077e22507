"""report summaries: pulse aggregates kept per month, and indexes for them

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('report_pulse_state',
    sa.Column('team_id', sa.String(32), nullable=False),
    sa.Column('definition', sa.String(64), nullable=False),
    sa.Column('segments_digest', sa.String(64), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('team_id')
    )
    op.create_table('report_pulse_months',
    sa.Column('team_id', sa.String(32), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('answers', sa.Integer(), nullable=False),
    sa.Column('answer_ids', sa.BigInteger(), nullable=False),
    sa.Column('cells', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('team_id', 'month')
    )
    op.create_table('report_pulse_segments',
    sa.Column('team_id', sa.String(32), nullable=False),
    sa.Column('slack_user_id', sa.String(32), nullable=False),
    sa.Column('cohort', sa.String(80), nullable=False),
    sa.Column('department', sa.String(80), nullable=False),
    sa.Column('career_stage', sa.String(32), nullable=False),
    sa.PrimaryKeyConstraint('team_id', 'slack_user_id')
    )
    with op.batch_alter_table('survey_responses', schema=None) as batch_op:
        batch_op.create_index('ix_survey_responses_team_answered',
                              ['team_id', 'answered_at', 'instrument', 'slack_user_id', 'score', 'id'], unique=False)
        batch_op.create_index('ix_survey_responses_team_person',
                              ['team_id', 'slack_user_id', 'instrument', 'answered_at', 'score'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('survey_responses', schema=None) as batch_op:
        batch_op.drop_index('ix_survey_responses_team_person')
        batch_op.drop_index('ix_survey_responses_team_answered')

    op.drop_table('report_pulse_segments')
    op.drop_table('report_pulse_months')
    op.drop_table('report_pulse_state')
