"""Groups, their members, sessions, RSVPs and attendance. Keyword-only data access.

A group is *active* from formation until its last cycle ends: ``forming`` (channel being
set up), ``scheduling`` (waiting for its slot), ``active`` (a series is running).
``completed`` and ``archived`` groups no longer hold their members.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Iterable, Sequence

from sqlalchemy import and_, bindparam, exists, func, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from bot.domain.scheduling import SessionSlot
from storage.db import utcnow
from storage.models import Group, GroupMember, GroupSession, Member, ScheduledAction, SessionAttendance, SessionRsvp

ACTIVE_GROUP_STATUSES = ("forming", "scheduling", "active")
RSVP_ANSWERS = ("going", "not_going")
NEXT_CYCLE_CHOICES = ("stay", "switch")


# --- groups ------------------------------------------------------------------------------------


def create_group(
    session: Session,
    *,
    team_id: str,
    name: str,
    cohort: str,
    mode: str,
    audience: str,
    timezone: str,
    lead_user_id: str,
    member_ids: Sequence[str],
    now: datetime | None = None,
) -> Group:
    now = now or utcnow()
    group = Group(
        team_id=team_id,
        name=name[:80],
        cohort=cohort[:80],
        mode=mode,
        audience=audience,
        timezone=timezone,
        lead_user_id=lead_user_id,
        status="forming",
        created_at=now,
        updated_at=now,
    )
    session.add(group)
    session.flush()
    for user_id in dict.fromkeys(member_ids):
        session.add(GroupMember(group_id=group.id, team_id=team_id, slack_user_id=user_id, joined_at=now))
    session.flush()
    return group


def get_group(session: Session, *, group_id: int, for_update: bool = False) -> Group | None:
    query = select(Group).where(Group.id == group_id)
    if for_update:
        query = query.with_for_update()
    return session.exec(query).first()


def touch(session: Session, *, group: Group, now: datetime | None = None) -> None:
    group.updated_at = now or utcnow()
    session.add(group)


def group_in_channel(session: Session, *, team_id: str, channel_id: str) -> Group | None:
    if not channel_id:
        return None
    return session.exec(
        select(Group).where(
            Group.team_id == team_id, Group.channel_id == channel_id, col(Group.status).in_(ACTIVE_GROUP_STATUSES)
        )
    ).first()


# Built once: asked on every /compass help, where building the expression cost more than running it.
_LEADS_A_GROUP = select(exists().where(
    Group.team_id == bindparam("team_id"), Group.lead_user_id == bindparam("user_id"),
    col(Group.status).in_(ACTIVE_GROUP_STATUSES),
))


def leads_a_group(connection: Connection, *, team_id: str, user_id: str) -> bool:
    return bool(connection.execute(_LEADS_A_GROUP, {"team_id": team_id, "user_id": user_id}).scalar())


def groups_led_by(session: Session, *, team_id: str, user_id: str) -> list[Group]:
    return list(
        session.exec(
            select(Group)
            .where(Group.team_id == team_id, Group.lead_user_id == user_id, col(Group.status).in_(ACTIVE_GROUP_STATUSES))
            .order_by(Group.id)
        )
    )


def active_groups(session: Session, *, team_id: str) -> list[Group]:
    return list(
        session.exec(
            select(Group).where(Group.team_id == team_id, col(Group.status).in_(ACTIVE_GROUP_STATUSES)).order_by(Group.id)
        )
    )


def group_of_member(session: Session, *, team_id: str, user_id: str) -> Group | None:
    """The active group a person belongs to (at most one by construction)."""
    return session.exec(
        select(Group)
        .join(GroupMember, GroupMember.group_id == Group.id)
        .where(
            Group.team_id == team_id,
            col(Group.status).in_(ACTIVE_GROUP_STATUSES),
            GroupMember.slack_user_id == user_id,
            GroupMember.status == "active",
        )
        .order_by(Group.id)
    ).first()


def group_members(session: Session, *, group_id: int) -> list[GroupMember]:
    return list(
        session.exec(
            select(GroupMember)
            .where(GroupMember.group_id == group_id, GroupMember.status == "active")
            .order_by(GroupMember.slack_user_id)
        )
    )


def member_ids(session: Session, *, group_id: int) -> list[str]:
    return [m.slack_user_id for m in group_members(session, group_id=group_id)]


def reachable_member_ids(session: Session, *, group: Group) -> list[str]:
    """Group members who are active in Compass: paused or departed people get no messages."""
    rows = session.exec(
        select(GroupMember.slack_user_id)
        .join(Member, and_(Member.team_id == GroupMember.team_id, Member.slack_user_id == GroupMember.slack_user_id))
        .where(GroupMember.group_id == group.id, GroupMember.status == "active", Member.status == "active")
        .order_by(GroupMember.slack_user_id)
    )
    return list(rows)


def is_member(session: Session, *, group_id: int, user_id: str) -> bool:
    return (
        session.exec(
            select(GroupMember.id).where(
                GroupMember.group_id == group_id, GroupMember.slack_user_id == user_id, GroupMember.status == "active"
            )
        ).first()
        is not None
    )


def unplaced_members(session: Session, *, team_id: str) -> list[Member]:
    """Active, enrolled members who are not in an active group: the people formation places."""
    placed = (
        select(GroupMember.slack_user_id)
        .join(Group, Group.id == GroupMember.group_id)
        .where(Group.team_id == team_id, col(Group.status).in_(ACTIVE_GROUP_STATUSES), GroupMember.status == "active")
    )
    return list(
        session.exec(
            select(Member)
            .where(
                Member.team_id == team_id,
                Member.status == "active",
                col(Member.consented_at).is_not(None),
                col(Member.slack_user_id).not_in(placed),
            )
            .order_by(Member.slack_user_id)
        )
    )


def count_unplaced(session: Session, *, team_id: str) -> int:
    placed = (
        select(GroupMember.slack_user_id)
        .join(Group, Group.id == GroupMember.group_id)
        .where(Group.team_id == team_id, col(Group.status).in_(ACTIVE_GROUP_STATUSES), GroupMember.status == "active")
    )
    return session.exec(
        select(func.count())
        .select_from(Member)
        .where(
            Member.team_id == team_id,
            Member.status == "active",
            col(Member.consented_at).is_not(None),
            col(Member.slack_user_id).not_in(placed),
        )
    ).one()


def set_lead_if_none(session: Session, *, group_id: int, user_id: str, now: datetime | None = None) -> bool:
    """Make ``user_id`` the lead unless the group already has one; True when it did (atomic)."""
    result = session.execute(
        update(Group)
        .where(Group.id == group_id, Group.lead_user_id == "")
        .values(lead_user_id=user_id, updated_at=now or utcnow())
    )
    return bool(result.rowcount)


def advance_status(session: Session, *, group_id: int, from_status: str, to_status: str, now: datetime | None = None) -> bool:
    result = session.execute(
        update(Group).where(Group.id == group_id, Group.status == from_status).values(status=to_status, updated_at=now or utcnow())
    )
    return bool(result.rowcount)


def set_channel(session: Session, *, group_id: int, channel_id: str, now: datetime | None = None) -> None:
    session.execute(update(Group).where(Group.id == group_id).values(channel_id=channel_id, updated_at=now or utcnow()))


def set_next_cycle(session: Session, *, group_id: int, user_id: str, choice: str) -> bool:
    if choice not in NEXT_CYCLE_CHOICES:
        raise ValueError(f"unknown choice {choice!r}")
    result = session.execute(
        update(GroupMember)
        .where(GroupMember.group_id == group_id, GroupMember.slack_user_id == user_id, GroupMember.status == "active")
        .values(next_cycle=choice)
    )
    return bool(result.rowcount)


def release_members(session: Session, *, group_id: int, user_ids: Iterable[str], now: datetime | None = None) -> int:
    """Members leave the group (they can be placed again by the next formation)."""
    ids = list(user_ids)
    if not ids:
        return 0
    result = session.execute(
        update(GroupMember)
        .where(GroupMember.group_id == group_id, col(GroupMember.slack_user_id).in_(ids), GroupMember.status == "active")
        .values(status="left", left_at=now or utcnow())
    )
    return result.rowcount or 0


def released_at(session: Session, *, group_id: int, since: datetime) -> list[str]:
    """Members who left the group at or after ``since`` (the people a cycle decision let go)."""
    return list(
        session.exec(
            select(GroupMember.slack_user_id)
            .where(GroupMember.group_id == group_id, GroupMember.status == "left", col(GroupMember.left_at) >= since)
            .order_by(GroupMember.slack_user_id)
        )
    )


def reset_next_cycle(session: Session, *, group_id: int) -> None:
    session.execute(update(GroupMember).where(GroupMember.group_id == group_id).values(next_cycle=""))


def groups_named_like(session: Session, *, team_id: str, cohort: str) -> int:
    return session.exec(select(func.count()).select_from(Group).where(Group.team_id == team_id, Group.cohort == cohort)).one()


# --- sessions ----------------------------------------------------------------------------------


def sessions_of(session: Session, *, group_id: int, cycle: int) -> list[GroupSession]:
    return list(
        session.exec(
            select(GroupSession)
            .where(GroupSession.group_id == group_id, GroupSession.cycle == cycle)
            .order_by(GroupSession.number)
        )
    )


def get_session(session: Session, *, session_id: int) -> GroupSession | None:
    return session.get(GroupSession, session_id)


def next_session_after(session: Session, *, group_id: int, cycle: int, starts_at: datetime) -> GroupSession | None:
    """The next session of the cycle still to take place after ``starts_at``."""
    return session.exec(select(GroupSession).where(
        GroupSession.group_id == group_id, GroupSession.cycle == cycle, GroupSession.status == "scheduled",
        GroupSession.starts_at > starts_at).order_by(GroupSession.starts_at)).first()


def find_session(session: Session, *, group_id: int, cycle: int, number: int) -> GroupSession | None:
    return session.exec(
        select(GroupSession).where(
            GroupSession.group_id == group_id, GroupSession.cycle == cycle, GroupSession.number == number
        )
    ).first()


def save_sessions(session: Session, *, group_id: int, cycle: int, slots: Iterable[SessionSlot]) -> list[GroupSession]:
    """Store a series: update the rows whose number exists, add the others. Returns the cycle's rows."""
    existing = {row.number: row for row in sessions_of(session, group_id=group_id, cycle=cycle)}
    for slot in slots:
        row = existing.get(slot.number)
        if row is None:
            row = GroupSession(group_id=group_id, cycle=cycle, number=slot.number, starts_at=slot.starts_at_utc,
                               local_date=slot.local_date)
        row.starts_at = slot.starts_at_utc
        row.local_date = slot.local_date
        row.status = slot.status
        row.sequence = slot.sequence
        session.add(row)
    session.flush()
    return sessions_of(session, group_id=group_id, cycle=cycle)


def topic_history(session: Session, *, group_id: int, before: GroupSession) -> list[str]:
    """Slugs of the topics of this group's earlier sessions that took place, oldest first."""
    rows = session.exec(
        select(GroupSession.topic_slug)
        .where(
            GroupSession.group_id == group_id,
            GroupSession.status != "skipped",
            GroupSession.topic_slug != "",
            or_(GroupSession.cycle < before.cycle, and_(GroupSession.cycle == before.cycle, GroupSession.number < before.number)),
        )
        .order_by(GroupSession.cycle, GroupSession.starts_at)
    )
    return list(rows)


def set_topic(session: Session, *, session_id: int, slug: str, reason: str, chosen_by: str, only_if_unset: bool = False) -> bool:
    """Record a session's topic; with ``only_if_unset`` an existing choice wins (atomic)."""
    statement = update(GroupSession).where(GroupSession.id == session_id)
    values: dict = {"topic_slug": slug, "topic_reason": reason[:300], "topic_chosen_by": chosen_by}
    if only_if_unset:
        statement = statement.where(GroupSession.topic_slug == "")
    else:
        values["sequence"] = GroupSession.sequence + 1  # the calendar's description changes
    result = session.execute(statement.values(**values))
    return bool(result.rowcount)


def mark_held(session: Session, *, session_id: int) -> None:
    session.execute(
        update(GroupSession).where(GroupSession.id == session_id, GroupSession.status == "scheduled").values(status="held")
    )


def claim_post(session: Session, *, session_id: int, now: datetime, stale_after: timedelta) -> bool:
    """Reserve the right to post a session's guide.

    ``posted_at`` marks a post in progress and ``post_ts`` a finished one; a reservation
    older than ``stale_after`` without a ``post_ts`` belonged to a process that died and
    may be taken over.
    """
    result = session.execute(
        update(GroupSession)
        .where(
            GroupSession.id == session_id,
            GroupSession.post_ts == "",
            or_(col(GroupSession.posted_at).is_(None), col(GroupSession.posted_at) < now - stale_after),
        )
        .values(posted_at=now)
    )
    return bool(result.rowcount)


def finish_post(session: Session, *, session_id: int, ts: str) -> None:
    session.execute(update(GroupSession).where(GroupSession.id == session_id).values(post_ts=ts or "posted"))


def release_post(session: Session, *, session_id: int) -> None:
    session.execute(
        update(GroupSession).where(GroupSession.id == session_id, GroupSession.post_ts == "").values(posted_at=None)
    )


# --- answers -----------------------------------------------------------------------------------


def _upsert(session: Session, model, *, index: list[str], values: dict, changes: dict) -> None:  # noqa: ANN001
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(insert(model).values(**values).on_conflict_do_update(index_elements=index, set_=changes))


def set_rsvp(session: Session, *, session_id: int, user_id: str, answer: str, now: datetime | None = None) -> None:
    if answer not in RSVP_ANSWERS:
        raise ValueError(f"unknown RSVP answer {answer!r}")
    now = now or utcnow()
    _upsert(
        session,
        SessionRsvp,
        index=["session_id", "slack_user_id"],
        values={"session_id": session_id, "slack_user_id": user_id, "answer": answer, "answered_at": now},
        changes={"answer": answer, "answered_at": now},
    )


def rsvp_of(session: Session, *, session_id: int, user_id: str) -> str:
    row = session.exec(
        select(SessionRsvp.answer).where(SessionRsvp.session_id == session_id, SessionRsvp.slack_user_id == user_id)
    ).first()
    return row or ""


def rsvp_answers(session: Session, *, session_id: int) -> dict[str, str]:
    rows = session.exec(select(SessionRsvp.slack_user_id, SessionRsvp.answer).where(SessionRsvp.session_id == session_id))
    return {user_id: answer for user_id, answer in rows}


def rsvp_counts(session: Session, *, session_id: int) -> Counter:
    return Counter(rsvp_answers(session, session_id=session_id).values())


def set_attendance(session: Session, *, session_id: int, user_id: str, attended: bool, now: datetime | None = None) -> None:
    now = now or utcnow()
    _upsert(
        session,
        SessionAttendance,
        index=["session_id", "slack_user_id"],
        values={"session_id": session_id, "slack_user_id": user_id, "attended": attended, "answered_at": now},
        changes={"attended": attended, "answered_at": now},
    )


def attendance_of(session: Session, *, session_id: int) -> dict[str, bool]:
    rows = session.exec(
        select(SessionAttendance.slack_user_id, SessionAttendance.attended).where(SessionAttendance.session_id == session_id)
    )
    return {user_id: attended for user_id, attended in rows}


# --- the group's part of the schedule ----------------------------------------------------------


def pending_keys(session: Session, *, prefix: str) -> list[str]:
    """Keys of not-yet-delivered scheduled actions starting with ``prefix``."""
    return list(
        session.exec(
            select(ScheduledAction.key).where(
                col(ScheduledAction.key).startswith(prefix), ScheduledAction.status == "pending"
            )
        )
    )


def existing_keys(session: Session, *, keys: Iterable[str]) -> set[str]:
    wanted = list(keys)
    if not wanted:
        return set()
    return set(session.exec(select(ScheduledAction.key).where(col(ScheduledAction.key).in_(wanted))))


def clear_lead(session: Session, *, group_id: int, user_id: str, now: datetime | None = None) -> bool:
    """The group has no lead any more if ``user_id`` led it; True when they did."""
    result = session.execute(
        update(Group)
        .where(Group.id == group_id, Group.lead_user_id == user_id)
        .values(lead_user_id="", updated_at=now or utcnow())
    )
    return bool(result.rowcount)
