"""Tables. Every time is timezone-aware UTC (SQLModel maps ``datetime`` to its UTCDateTime type)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Column, Index, Text, UniqueConstraint, false
from sqlmodel import Field, SQLModel

MEMBER_STATUSES = ("invited", "active", "paused", "left")


class Workspace(SQLModel, table=True):
    __tablename__ = "workspaces"

    team_id: str = Field(primary_key=True, max_length=32)
    name: str = Field(default="", max_length=200)
    bot_user_id: str = Field(default="", max_length=32)
    created_at: datetime
    # The Enterprise Grid org of the workspace ("" outside Grid). For an org-wide install the row's
    # team_id is the org's ID itself: one program, and one member per person, across the org.
    enterprise_id: str = Field(default="", max_length=32, sa_column_kwargs={"server_default": ""})
    is_org_install: bool = Field(default=False, sa_column_kwargs={"server_default": false()})


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
    # Stated in the join form: ISO 3166 code of a country in bot/domain/crisis.py, "OTHER", or "" (not stated).
    country: str = Field(default="", max_length=8)
    availability: str = Field(default="", max_length=2000)
    near_peer_role: str = Field(default="none", max_length=8)
    mentor_capacity: int = 1
    supervisor_ids: str = Field(default="", max_length=2000)
    lead_willing: bool = False
    quiet_start: str = Field(default="21:00", max_length=5)  # local HH:MM; nothing is sent from here ...
    quiet_end: str = Field(default="07:00", max_length=5)  # ... to here (it waits until 30 minutes after)
    remind_hour_before: bool = False  # the hour-before reminder is each person's choice
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


# The clock's claim reads open rows in due order (storage.schedule.claim_due); done rows stay out of it.
_actions = ScheduledAction.__table__.c
_open = _actions.status.in_(("pending", "claimed"))
Index("ix_scheduled_actions_open_due", _actions.due_at, _actions.id, postgresql_where=_open, sqlite_where=_open)


class ProcessedEvent(SQLModel, table=True):
    """Events API deliveries already handled (Slack retries on slow or failed acks)."""

    __tablename__ = "processed_events"

    event_id: str = Field(primary_key=True, max_length=64)
    team_id: str = Field(default="", max_length=32)
    received_at: datetime = Field(index=True)



class RateBudgetBucket(SQLModel, table=True):
    """One token bucket of a workspace's Slack budget, shared by every process (storage/rate_budgets.py).
    The key names the workspace by a hash of its token, never the token."""

    __tablename__ = "rate_budget_buckets"

    key: str = Field(primary_key=True, max_length=200)
    tokens: float
    updated: float  # seconds since the epoch, by the database server's clock

# --- Groups and sessions ---------------------------------------------------------------


class Group(SQLModel, table=True):
    __tablename__ = "groups"

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(foreign_key="workspaces.team_id", index=True, max_length=32)
    name: str = Field(max_length=80)
    cohort: str = Field(default="", max_length=80)
    mode: str = Field(default="mixed", max_length=16)  # mixed | same-specialty
    audience: str = Field(default="all", max_length=12)  # residents | attendings | all (topic eligibility)
    channel_id: str = Field(default="", max_length=32)
    lead_user_id: str = Field(default="", max_length=32)
    timezone: str = Field(default="", max_length=64)
    weekday: int | None = None  # 0 = Monday, once the group picked its slot
    local_time: str = Field(default="", max_length=5)  # HH:MM in the group's time zone
    cycle: int = 1
    status: str = Field(default="forming", max_length=12, index=True)  # forming scheduling active completed archived
    place: str = Field(default="", max_length=300)  # where sessions meet: a room, a link, or "huddle" (in the channel)
    created_at: datetime
    updated_at: datetime


class GroupMember(SQLModel, table=True):
    __tablename__ = "group_members"
    __table_args__ = (UniqueConstraint("group_id", "slack_user_id", name="uq_group_members_group_user"),)

    id: int | None = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="groups.id", index=True)
    team_id: str = Field(max_length=32)
    slack_user_id: str = Field(max_length=32, index=True)
    status: str = Field(default="active", max_length=12)  # active | left
    next_cycle: str = Field(default="", max_length=8)  # "" | stay | switch
    joined_at: datetime
    left_at: datetime | None = None


class GroupSession(SQLModel, table=True):
    __tablename__ = "group_sessions"
    __table_args__ = (UniqueConstraint("group_id", "cycle", "number", name="uq_group_sessions_number"),)

    id: int | None = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="groups.id", index=True)
    cycle: int = 1
    number: int
    starts_at: datetime = Field(index=True)
    local_date: date
    status: str = Field(default="scheduled", max_length=12)  # scheduled skipped held cancelled
    sequence: int = 0  # iCalendar SEQUENCE
    topic_slug: str = Field(default="", max_length=80)
    topic_reason: str = Field(default="", max_length=300)
    topic_chosen_by: str = Field(default="", max_length=32)
    posted_at: datetime | None = None
    post_ts: str = Field(default="", max_length=32)


class SessionRsvp(SQLModel, table=True):
    __tablename__ = "session_rsvps"
    __table_args__ = (UniqueConstraint("session_id", "slack_user_id", name="uq_session_rsvps_session_user"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="group_sessions.id", index=True)
    slack_user_id: str = Field(max_length=32, index=True)
    answer: str = Field(max_length=12)  # going | not_going
    answered_at: datetime


class SessionMessage(SQLModel, table=True):
    """A message about a session that is already out (a reminder, the lead's note, the channel post):
    where it is, so a topic change can update it in place (``chat.update``)."""

    __tablename__ = "session_messages"
    __table_args__ = (UniqueConstraint("session_id", "kind", "channel", name="uq_session_messages_kind_channel"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="group_sessions.id", index=True)
    kind: str = Field(max_length=48)  # the schedule kind that sent it
    channel: str = Field(max_length=32)  # a DM or the group's channel
    ts: str = Field(max_length=32)
    slack_user_id: str = Field(default="", max_length=32)  # the reader of a DM ("" for the channel post)
    sent_at: datetime


class MeetingTimeVote(SQLModel, table=True):
    """A member's vote for one of the meeting times offered to their group (``weekday:HH:MM``)."""

    __tablename__ = "meeting_time_votes"
    __table_args__ = (UniqueConstraint("group_id", "slack_user_id", "slot", name="uq_meeting_time_votes_group_user_slot"),)

    id: int | None = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="groups.id", index=True)
    slack_user_id: str = Field(max_length=32)
    slot: str = Field(max_length=8)
    voted_at: datetime


class SessionAttendance(SQLModel, table=True):
    __tablename__ = "session_attendance"
    __table_args__ = (UniqueConstraint("session_id", "slack_user_id", name="uq_session_attendance_session_user"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="group_sessions.id", index=True)
    slack_user_id: str = Field(max_length=32, index=True)
    attended: bool
    answered_at: datetime


# --- Near-peer pairing ------------------------------------------------------------------


class PairingRound(SQLModel, table=True):
    __tablename__ = "pairing_rounds"
    __table_args__ = (UniqueConstraint("team_id", "number", name="uq_pairing_rounds_team_number"),)

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(foreign_key="workspaces.team_id", index=True, max_length=32)
    number: int
    status: str = Field(default="preview", max_length=12)  # preview | published | discarded
    preview: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))  # the match result as JSON
    created_by: str = Field(default="", max_length=32)
    created_at: datetime
    published_at: datetime | None = None


class Pair(SQLModel, table=True):
    __tablename__ = "pairs"

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="pairing_rounds.id", index=True)
    team_id: str = Field(max_length=32, index=True)
    mentee_id: str = Field(max_length=32, index=True)
    mentor_id: str = Field(max_length=32, index=True)
    score: float = 0.0
    reasons: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    status: str = Field(default="active", max_length=12)  # active | paused | ended
    dm_channel_id: str = Field(default="", max_length=32)
    met: bool = False
    started_at: datetime
    ended_at: datetime | None = None


class PairCheckin(SQLModel, table=True):
    __tablename__ = "pair_checkins"
    __table_args__ = (UniqueConstraint("pair_id", "slack_user_id", "number", name="uq_pair_checkins_number"),)

    id: int | None = Field(default=None, primary_key=True)
    pair_id: int = Field(foreign_key="pairs.id", index=True)
    slack_user_id: str = Field(max_length=32, index=True)
    number: int
    sent_at: datetime
    answer: str = Field(default="", max_length=12)  # "" (unanswered) | met | not_yet | end
    answered_at: datetime | None = None


# --- Pulse surveys ----------------------------------------------------------------------


class Survey(SQLModel, table=True):
    """One invitation to answer; its answers are visible only to the person who gave them."""

    __tablename__ = "surveys"
    __table_args__ = (UniqueConstraint("team_id", "slack_user_id", "wave", name="uq_surveys_person_wave"),)

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32, index=True)
    slack_user_id: str = Field(max_length=32, index=True)
    kind: str = Field(max_length=12)  # baseline | followup | pulse
    wave: str = Field(max_length=64)  # baseline, 6m, 12m, pulse:<group id>:<cycle>:<session number>
    instruments: str = Field(max_length=200)  # comma-separated instrument ids
    status: str = Field(default="sent", max_length=12, index=True)  # sent | completed | expired
    sent_at: datetime
    reminded_at: datetime | None = None
    completed_at: datetime | None = None


class SurveyResponse(SQLModel, table=True):
    __tablename__ = "survey_responses"
    __table_args__ = (UniqueConstraint("survey_id", "instrument", name="uq_survey_responses_instrument"),)

    id: int | None = Field(default=None, primary_key=True)
    survey_id: int = Field(foreign_key="surveys.id", index=True)
    team_id: str = Field(max_length=32, index=True)
    slack_user_id: str = Field(max_length=32, index=True)
    instrument: str = Field(max_length=32, index=True)
    answers: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    score: float
    flags: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
    answered_at: datetime = Field(index=True)
    # The person's reporting segment when they answered: cohort, department, career-stage band and
    # site joined by tabs (storage.pulse_aggregates.pack_segment; answers stamped before sites have
    # three parts: site not recorded). A later profile change or roster
    # re-import leaves it as it was. None for answers stored before it existed.
    segment: str | None = Field(default=None, max_length=512)


# --- Report summaries -------------------------------------------------------------------
# The admin report's pulse aggregates, kept per month (storage.pulse_cache) so a view reads
# sums instead of every answer. Sums over people only, never one person's answer.


class PulseReportState(SQLModel, table=True):
    """What a team's pulse summaries hold; its row is also the lock their updates take."""

    __tablename__ = "report_pulse_state"

    team_id: str = Field(primary_key=True, max_length=32)
    definition: str = Field(default="", max_length=64)  # digest of the instruments, flags and rules summed
    segments_digest: str = Field(default="", max_length=64)  # digest of the person -> segment map summed under
    updated_at: datetime | None = None


class PulseReportMonth(SQLModel, table=True):
    """One month's sums per instrument and fine segment, and the answers they were summed from."""

    __tablename__ = "report_pulse_months"

    team_id: str = Field(primary_key=True, max_length=32)
    month: date = Field(primary_key=True)
    answers: int  # the month's answers when summed ...
    answer_ids: int = Field(sa_column=Column(BigInteger, nullable=False))  # ... and the sum of their ids
    # JSON: [[instrument, cohort, department, career stage, site, respondents, sum, sum of squares,
    #         change respondents, change sum, change sum of squares, {flag: respondents}], ...]
    cells: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))


class PulseReportSegment(SQLModel, table=True):
    """The segment a person's answers are summed under in report_pulse_months: their profile when
    last summed, so a changed profile can be moved between segments. Erased by forget-me."""

    __tablename__ = "report_pulse_segments"

    team_id: str = Field(primary_key=True, max_length=32)
    slack_user_id: str = Field(primary_key=True, max_length=32)
    cohort: str = Field(max_length=80)
    department: str = Field(max_length=80)
    career_stage: str = Field(max_length=32)
    site: str = Field(default="", max_length=80)


class SurveyResponseMonth(SQLModel, table=True):
    """A team's answers in one UTC month, counted, and the sum of their ids: the month's fingerprint
    (storage.pulse_aggregates.month_fingerprints). Kept by triggers on survey_responses (migration
    0011), in the transaction that inserts, deletes or moves the answers, whatever the code path; the
    bot never writes it. A month whose answers are all gone keeps a row of zeros."""

    __tablename__ = "survey_response_months"

    team_id: str = Field(primary_key=True, max_length=32)
    month: date = Field(primary_key=True)
    answers: int = Field(sa_column=Column(BigInteger, nullable=False))
    answer_ids: int = Field(sa_column=Column(BigInteger, nullable=False))

# Both cover every column their queries read, so neither reads a table row: a team's answers
# by time (summing recent months), and a person's answers to an instrument
# by time (their baseline, when only recent months are summed again).
_answers = SurveyResponse.__table__.c
Index("ix_survey_responses_team_answered", _answers.team_id, _answers.answered_at, _answers.instrument, _answers.slack_user_id,
      _answers.score, _answers.id)
Index("ix_survey_responses_team_person", _answers.team_id, _answers.slack_user_id, _answers.instrument, _answers.answered_at,
      _answers.score)


class ReportPublication(SQLModel, table=True):
    """The publication ledger: every figure of the pulse report ever shown to anyone (Slack, App Home,
    CSV, chart, CLI), with the respondent count and value shown. A month once here is never revised:
    later reports show these figures. Sums over at least the threshold of people, never one person's."""

    __tablename__ = "report_publications"
    __table_args__ = (UniqueConstraint("team_id", "metric", "month", "breakdown", "cell", name="uq_report_publications_figure"),)

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32, index=True)
    metric: str = Field(max_length=64)
    month: date
    breakdown: str = Field(max_length=128)  # the table's dimensions joined by " x "; "" for the overall row
    cell: str = Field(max_length=512)  # JSON list of the values of those dimensions
    respondents: int | None = None  # as shown (rounded); None when hidden
    estimate: float | None = None  # as shown (rounded); None when hidden
    ci_low: float | None = None
    ci_high: float | None = None
    suppressed: bool = False
    published_at: datetime


class EvaluationPublication(SQLModel, table=True):
    """The publication ledger of the program evaluation: each follow-up wave's paired-cohort figures
    as first published, once the wave had closed. Shown as recorded ever after: a forget-me or a late
    answer never revises them. Figures over at least the threshold of people, never one person's."""

    __tablename__ = "evaluation_publications"

    team_id: str = Field(primary_key=True, max_length=32)
    wave: str = Field(primary_key=True, max_length=16)
    closed_on: date
    figures: str = Field(sa_column=Column(Text, nullable=False))  # JSON: bot.domain.evaluation.cohort_record
    published_at: datetime
