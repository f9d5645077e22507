"""Tables. Every time is timezone-aware UTC (SQLModel maps ``datetime`` to its UTCDateTime type)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

MEMBER_STATUSES = ("invited", "active", "paused", "left")


class Workspace(SQLModel, table=True):
    __tablename__ = "workspaces"

    team_id: str = Field(primary_key=True, max_length=32)
    name: str = Field(default="", max_length=200)
    bot_user_id: str = Field(default="", max_length=32)
    created_at: datetime


class Member(SQLModel, table=True):
    __tablename__ = "members"
    __table_args__ = (UniqueConstraint("team_id", "slack_user_id", name="uq_members_team_user"),)

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(foreign_key="workspaces.team_id", index=True, max_length=32)
    slack_user_id: str = Field(max_length=32)
    display_name: str = Field(default="", max_length=200)
    email: str = Field(default="", max_length=320)
    career_stage: str = Field(default="", max_length=16)
    specialty: str = Field(default="", max_length=80)
    department: str = Field(default="", max_length=80)
    site: str = Field(default="", max_length=80)
    timezone: str = Field(default="", max_length=64)
    availability: str = Field(default="", max_length=2000)
    near_peer_role: str = Field(default="none", max_length=8)
    mentor_capacity: int = 1
    supervisor_ids: str = Field(default="", max_length=2000)
    lead_willing: bool = False
    status: str = Field(default="invited", max_length=8, index=True)
    paused_until: date | None = None
    invited_at: datetime | None = None
    invitation_sent_at: datetime | None = None
    consented_at: datetime | None = None
    left_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


class Role(SQLModel, table=True):
    __tablename__ = "roles"
    __table_args__ = (UniqueConstraint("team_id", "slack_user_id", "role", name="uq_roles_team_user_role"),)

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(foreign_key="workspaces.team_id", index=True, max_length=32)
    slack_user_id: str = Field(max_length=32)
    role: str = Field(max_length=16)  # admin
    granted_by: str = Field(default="", max_length=32)
    granted_at: datetime


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(index=True)
    team_id: str = Field(default="", max_length=32)
    actor_id: str = Field(default="", max_length=32, index=True)  # a Slack user ID, or "cli" / "system"
    action: str = Field(max_length=64)
    subject_id: str = Field(default="", max_length=32, index=True)
    detail: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))


class ScheduledAction(SQLModel, table=True):
    """One future thing to do; the database is the schedule, the clock only delivers."""

    __tablename__ = "scheduled_actions"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200, unique=True)  # idempotency key
    team_id: str = Field(default="", max_length=32)
    kind: str = Field(max_length=48)
    due_at: datetime = Field(index=True)
    payload: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
    subject_user_id: str = Field(default="", max_length=32, index=True)
    status: str = Field(default="pending", max_length=12, index=True)  # pending claimed done failed dropped
    attempts: int = 0
    retry_at: datetime | None = None  # after a failed attempt: not before this time
    claimed_by: str = Field(default="", max_length=80)
    lease_until: datetime | None = None
    last_error: str = Field(default="", max_length=500)
    created_at: datetime
    done_at: datetime | None = None


class ProcessedEvent(SQLModel, table=True):
    """Events API deliveries already handled (Slack retries on slow or failed acks)."""

    __tablename__ = "processed_events"

    event_id: str = Field(primary_key=True, max_length=64)
    team_id: str = Field(default="", max_length=32)
    received_at: datetime = Field(index=True)
