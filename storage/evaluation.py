"""What the program evaluation reads: each person's answers at baseline, 6 and 12 months, and the
sessions planned and held. ``bot.domain.evaluation`` pairs the answers and suppresses small figures;
nothing here leaves the database except through it.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Mapping

from sqlalchemy import func
from sqlmodel import Session, select

from bot.domain.evaluation import WAVES, Answer
from bot.domain.program_delivery import GroupRecord
from storage.models import Group, GroupMember, GroupSession, Member, SessionAttendance, Survey, SurveyResponse


def wave_answers(session: Session, *, team_id: str) -> list[Answer]:
    """Every answer given in a baseline, 6-month or 12-month survey of the workspace."""
    rows = session.exec(
        select(SurveyResponse.slack_user_id, Survey.wave, SurveyResponse.instrument, SurveyResponse.score)
        .join(Survey, Survey.id == SurveyResponse.survey_id)
        .where(Survey.team_id == team_id, Survey.wave.in_(WAVES))  # type: ignore[attr-defined]
    ).all()
    return [Answer(user_id, wave, instrument, float(value)) for user_id, wave, instrument, value in rows]


def wave_timing(session: Session, *, team_id: str, wave: str) -> tuple[dict[str, datetime], dict[str, datetime]]:
    """(when each person answered ``wave``, when each person still in the program joined): what
    ``bot.domain.evaluation.wave_closes_at`` needs."""
    answered = session.exec(
        select(SurveyResponse.slack_user_id, func.max(SurveyResponse.answered_at))
        .join(Survey, Survey.id == SurveyResponse.survey_id)
        .where(Survey.team_id == team_id, Survey.wave == wave)
        .group_by(SurveyResponse.slack_user_id)
    ).all()
    joined = session.exec(
        select(Member.slack_user_id, Member.consented_at)
        .where(Member.team_id == team_id, Member.consented_at.is_not(None), Member.status != "left")  # type: ignore[union-attr]
    ).all()
    return ({user: _aware(at) for user, at in answered}, {user: _aware(at) for user, at in joined})


def sessions_held_and_planned(session: Session, *, team_id: str) -> tuple[int, int]:
    """Sessions held, and sessions planned (every session not cancelled: held, skipped or still to come)."""
    counts = dict(
        session.exec(
            select(GroupSession.status, func.count())
            .join(Group, Group.id == GroupSession.group_id)
            .where(Group.team_id == team_id)
            .group_by(GroupSession.status)
        ).all()
    )
    planned = sum(n for status, n in counts.items() if status != "cancelled")
    return counts.get("held", 0), planned


def funnel_counts(session: Session, *, team_id: str, now: datetime) -> dict[str, int]:
    """People at each step of the enrolment funnel (``bot.domain.program_delivery.FUNNEL_STEPS``)."""
    members = session.exec(select(Member).where(Member.team_id == team_id)).all()
    attended = dict(
        session.exec(
            select(SessionAttendance.slack_user_id, func.count())
            .join(GroupSession, GroupSession.id == SessionAttendance.session_id)
            .join(Group, Group.id == GroupSession.group_id)
            .where(Group.team_id == team_id, SessionAttendance.attended == True)  # noqa: E712 - SQL, not Python
            .group_by(SessionAttendance.slack_user_id)
        ).all()
    )
    joined = [m for m in members if m.consented_at is not None]

    def active_after(days: int) -> int:
        cutoff = now - timedelta(days=days)
        return sum(1 for m in joined if _aware(m.consented_at) <= cutoff and m.status in ("active", "paused"))

    return {
        "invited": len(members),
        "joined": len(joined),
        "attended_one": sum(1 for m in joined if attended.get(m.slack_user_id, 0) >= 1),
        "attended_six": sum(1 for m in joined if attended.get(m.slack_user_id, 0) >= 6),
        "active_6m": active_after(182),
        "active_12m": active_after(365),
    }


def group_records(session: Session, *, team_id: str, titles: Mapping[str, str]) -> list[GroupRecord]:
    """Each group's size, planned sessions, attendance per held session and topics discussed."""
    records = []
    groups = session.exec(select(Group).where(Group.team_id == team_id).order_by(Group.id)).all()
    for group in groups:
        size = len(session.exec(
            select(GroupMember.id).where(GroupMember.group_id == group.id, GroupMember.status == "active")
        ).all())
        sessions = session.exec(
            select(GroupSession).where(GroupSession.group_id == group.id).order_by(GroupSession.cycle, GroupSession.number)
        ).all()
        held = [s for s in sessions if s.status == "held"]
        present = dict(
            session.exec(
                select(SessionAttendance.session_id, func.count())
                .where(SessionAttendance.session_id.in_([s.id for s in held]),  # type: ignore[attr-defined]
                       SessionAttendance.attended == True)  # noqa: E712 - SQL, not Python
                .group_by(SessionAttendance.session_id)
            ).all()
        ) if held else {}
        records.append(GroupRecord(
            name=group.name,
            size=size,
            planned=sum(1 for s in sessions if s.status != "cancelled"),
            attendance=[present.get(s.id, 0) for s in held],
            topics=[titles.get(s.topic_slug, s.topic_slug) for s in held if s.topic_slug],
        ))
    return records


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
