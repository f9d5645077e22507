"""groups, sessions, pairing, surveys

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('surveys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.String(32), nullable=False),
    sa.Column('slack_user_id', sa.String(32), nullable=False),
    sa.Column('kind', sa.String(12), nullable=False),
    sa.Column('wave', sa.String(64), nullable=False),
    sa.Column('instruments', sa.String(200), nullable=False),
    sa.Column('status', sa.String(12), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reminded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('team_id', 'slack_user_id', 'wave', name='uq_surveys_person_wave')
    )
    with op.batch_alter_table('surveys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_surveys_slack_user_id'), ['slack_user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_surveys_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_surveys_team_id'), ['team_id'], unique=False)

    op.create_table('groups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.String(32), nullable=False),
    sa.Column('name', sa.String(80), nullable=False),
    sa.Column('cohort', sa.String(80), nullable=False),
    sa.Column('mode', sa.String(16), nullable=False),
    sa.Column('audience', sa.String(12), nullable=False),
    sa.Column('channel_id', sa.String(32), nullable=False),
    sa.Column('lead_user_id', sa.String(32), nullable=False),
    sa.Column('timezone', sa.String(64), nullable=False),
    sa.Column('weekday', sa.Integer(), nullable=True),
    sa.Column('local_time', sa.String(5), nullable=False),
    sa.Column('cycle', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(12), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['workspaces.team_id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('groups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_groups_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_groups_team_id'), ['team_id'], unique=False)

    op.create_table('pairing_rounds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.String(32), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(12), nullable=False),
    sa.Column('preview', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['team_id'], ['workspaces.team_id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('team_id', 'number', name='uq_pairing_rounds_team_number')
    )
    with op.batch_alter_table('pairing_rounds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pairing_rounds_team_id'), ['team_id'], unique=False)

    op.create_table('survey_responses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.String(32), nullable=False),
    sa.Column('slack_user_id', sa.String(32), nullable=False),
    sa.Column('instrument', sa.String(32), nullable=False),
    sa.Column('answers', sa.Text(), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('flags', sa.Text(), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['survey_id'], ['surveys.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('survey_id', 'instrument', name='uq_survey_responses_instrument')
    )
    with op.batch_alter_table('survey_responses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_responses_answered_at'), ['answered_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_survey_responses_instrument'), ['instrument'], unique=False)
        batch_op.create_index(batch_op.f('ix_survey_responses_slack_user_id'), ['slack_user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_survey_responses_survey_id'), ['survey_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_survey_responses_team_id'), ['team_id'], unique=False)

    op.create_table('group_members',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.String(32), nullable=False),
    sa.Column('slack_user_id', sa.String(32), nullable=False),
    sa.Column('status', sa.String(12), nullable=False),
    sa.Column('next_cycle', sa.String(8), nullable=False),
    sa.Column('joined_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('left_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('group_id', 'slack_user_id', name='uq_group_members_group_user')
    )
    with op.batch_alter_table('group_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_group_members_group_id'), ['group_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_group_members_slack_user_id'), ['slack_user_id'], unique=False)

    op.create_table('group_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('cycle', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('local_date', sa.Date(), nullable=False),
    sa.Column('status', sa.String(12), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('topic_slug', sa.String(80), nullable=False),
    sa.Column('topic_reason', sa.String(300), nullable=False),
    sa.Column('topic_chosen_by', sa.String(32), nullable=False),
    sa.Column('posted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('post_ts', sa.String(32), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('group_id', 'cycle', 'number', name='uq_group_sessions_number')
    )
    with op.batch_alter_table('group_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_group_sessions_group_id'), ['group_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_group_sessions_starts_at'), ['starts_at'], unique=False)

    op.create_table('pairs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.String(32), nullable=False),
    sa.Column('mentee_id', sa.String(32), nullable=False),
    sa.Column('mentor_id', sa.String(32), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('reasons', sa.Text(), nullable=False),
    sa.Column('status', sa.String(12), nullable=False),
    sa.Column('dm_channel_id', sa.String(32), nullable=False),
    sa.Column('met', sa.Boolean(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['round_id'], ['pairing_rounds.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('pairs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pairs_mentee_id'), ['mentee_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pairs_mentor_id'), ['mentor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pairs_round_id'), ['round_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pairs_team_id'), ['team_id'], unique=False)

    op.create_table('pair_checkins',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pair_id', sa.Integer(), nullable=False),
    sa.Column('slack_user_id', sa.String(32), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answer', sa.String(12), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['pair_id'], ['pairs.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('pair_id', 'slack_user_id', 'number', name='uq_pair_checkins_number')
    )
    with op.batch_alter_table('pair_checkins', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pair_checkins_pair_id'), ['pair_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pair_checkins_slack_user_id'), ['slack_user_id'], unique=False)

    op.create_table('session_attendance',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('slack_user_id', sa.String(32), nullable=False),
    sa.Column('attended', sa.Boolean(), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['group_sessions.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('session_id', 'slack_user_id', name='uq_session_attendance_session_user')
    )
    with op.batch_alter_table('session_attendance', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_session_attendance_session_id'), ['session_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_session_attendance_slack_user_id'), ['slack_user_id'], unique=False)

    op.create_table('session_rsvps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('slack_user_id', sa.String(32), nullable=False),
    sa.Column('answer', sa.String(12), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['group_sessions.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('session_id', 'slack_user_id', name='uq_session_rsvps_session_user')
    )
    with op.batch_alter_table('session_rsvps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_session_rsvps_session_id'), ['session_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_session_rsvps_slack_user_id'), ['slack_user_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('session_rsvps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_session_rsvps_slack_user_id'))
        batch_op.drop_index(batch_op.f('ix_session_rsvps_session_id'))

    op.drop_table('session_rsvps')
    with op.batch_alter_table('session_attendance', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_session_attendance_slack_user_id'))
        batch_op.drop_index(batch_op.f('ix_session_attendance_session_id'))

    op.drop_table('session_attendance')
    with op.batch_alter_table('pair_checkins', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pair_checkins_slack_user_id'))
        batch_op.drop_index(batch_op.f('ix_pair_checkins_pair_id'))

    op.drop_table('pair_checkins')
    with op.batch_alter_table('pairs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pairs_team_id'))
        batch_op.drop_index(batch_op.f('ix_pairs_round_id'))
        batch_op.drop_index(batch_op.f('ix_pairs_mentor_id'))
        batch_op.drop_index(batch_op.f('ix_pairs_mentee_id'))

    op.drop_table('pairs')
    with op.batch_alter_table('group_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_group_sessions_starts_at'))
        batch_op.drop_index(batch_op.f('ix_group_sessions_group_id'))

    op.drop_table('group_sessions')
    with op.batch_alter_table('group_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_group_members_slack_user_id'))
        batch_op.drop_index(batch_op.f('ix_group_members_group_id'))

    op.drop_table('group_members')
    with op.batch_alter_table('survey_responses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_responses_team_id'))
        batch_op.drop_index(batch_op.f('ix_survey_responses_survey_id'))
        batch_op.drop_index(batch_op.f('ix_survey_responses_slack_user_id'))
        batch_op.drop_index(batch_op.f('ix_survey_responses_instrument'))
        batch_op.drop_index(batch_op.f('ix_survey_responses_answered_at'))

    op.drop_table('survey_responses')
    with op.batch_alter_table('pairing_rounds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pairing_rounds_team_id'))

    op.drop_table('pairing_rounds')
    with op.batch_alter_table('groups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_groups_team_id'))
        batch_op.drop_index(batch_op.f('ix_groups_status'))

    op.drop_table('groups')
    with op.batch_alter_table('surveys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_surveys_team_id'))
        batch_op.drop_index(batch_op.f('ix_surveys_status'))
        batch_op.drop_index(batch_op.f('ix_surveys_slack_user_id'))

    op.drop_table('surveys')
