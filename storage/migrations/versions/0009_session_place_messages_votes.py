"""where a group meets, the messages sent about each session, and votes on the meeting time

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

(0009 is reserved for work in progress elsewhere; whichever lands last rebases its
``down_revision`` onto the other.)
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('groups', schema=None) as batch_op:
        batch_op.add_column(sa.Column('place', sa.String(300), nullable=False, server_default=''))
    op.create_table(
        'session_messages',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('session_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=48), nullable=False),
        sa.Column('channel', sa.String(length=32), nullable=False),
        sa.Column('ts', sa.String(length=32), nullable=False),
        sa.Column('slack_user_id', sa.String(length=32), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['session_id'], ['group_sessions.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('session_id', 'kind', 'channel', name='uq_session_messages_kind_channel'),
    )
    op.create_index('ix_session_messages_session_id', 'session_messages', ['session_id'])
    op.create_table(
        'meeting_time_votes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('group_id', sa.Integer(), nullable=False),
        sa.Column('slack_user_id', sa.String(length=32), nullable=False),
        sa.Column('slot', sa.String(length=8), nullable=False),
        sa.Column('voted_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['group_id'], ['groups.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('group_id', 'slack_user_id', 'slot', name='uq_meeting_time_votes_group_user_slot'),
    )
    op.create_index('ix_meeting_time_votes_group_id', 'meeting_time_votes', ['group_id'])


def downgrade() -> None:
    op.drop_index('ix_meeting_time_votes_group_id', table_name='meeting_time_votes')
    op.drop_table('meeting_time_votes')
    op.drop_index('ix_session_messages_session_id', table_name='session_messages')
    op.drop_table('session_messages')
    with op.batch_alter_table('groups', schema=None) as batch_op:
        batch_op.drop_column('place')
