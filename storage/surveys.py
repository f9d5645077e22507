"""Surveys and their answers. Keyword-only data access.

A person has at most one open survey (status ``sent``) at a time; callers take
:func:`lock_person` first so two deliveries for the same person cannot both open one.
Answers are read here only for their owner (feedback, App Home) or as cohort
baselines without identities; the admin report has its own aggregate queries in
``storage.pulse_aggregates`` (summarised per month by ``storage.pulse_cache``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

from sqlalchemy import func, insert, or_
from sqlmodel import Session, col, select

from bot.domain.scoring import Score
from storage.db import utcnow
from storage.models import GroupMember, GroupSession, Member, SessionAttendance, SessionRsvp, Survey, SurveyResponse
from storage.pulse_aggregates import pack_segment, person_segment

SENT, COMPLETED, EXPIRED = "sent", "completed", "expired"


class SurveyNotOpen(Exception):
    """The survey is unknown, someone else's, already answered or closed."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason  # not_found | completed | expired


def lock_person(session: Session, *, team_id: str, user_id: str) -> Member | None:
    """The member row, locked until the transaction ends (PostgreSQL; SQLite runs one clock)."""
    return session.exec(
        select(Member).where(Member.team_id == team_id, Member.slack_user_id == user_id).with_for_update()
    ).first()


def lock_people(session: Session, *, team_id: str, user_ids: Sequence[str]) -> dict[str, Member]:
    """Several members' rows, locked in user order (two transactions never wait on each other crosswise)."""
    if not user_ids:
        return {}
    rows = session.exec(
        select(Member).where(Member.team_id == team_id, col(Member.slack_user_id).in_(list(user_ids)))
        .order_by(Member.slack_user_id).with_for_update()
    )
    return {member.slack_user_id: member for member in rows}


def get_survey(session: Session, *, survey_id: int) -> Survey | None:
    return session.get(Survey, survey_id)


def for_wave_and_open(session: Session, *, team_id: str, user_ids: Sequence[str], wave: str,
                      ) -> dict[str, tuple[Survey | None, Survey | None]]:
    """By user ID: (their survey of ``wave``, their open survey), what the one-open-survey rule asks, in one query."""
    if not user_ids:
        return {}
    rows = list(session.exec(
        select(Survey)
        .where(Survey.team_id == team_id, col(Survey.slack_user_id).in_(list(user_ids)),
               or_(Survey.wave == wave, Survey.status == SENT))
        .order_by(col(Survey.sent_at).desc())
    ))
    return {user_id: (next((r for r in rows if r.slack_user_id == user_id and r.wave == wave), None),
                      next((r for r in rows if r.slack_user_id == user_id and r.status == SENT), None))
            for user_id in user_ids}


def open_survey(session: Session, *, team_id: str, user_id: str) -> Survey | None:
    return session.exec(
        select(Survey)
        .where(Survey.team_id == team_id, Survey.slack_user_id == user_id, Survey.status == SENT)
        .order_by(col(Survey.sent_at).desc())
    ).first()


def start_survey(
    session: Session, *, team_id: str, user_id: str, kind: str, wave: str, instruments: Sequence[str],
    now: datetime | None = None,
) -> Survey:
    return start_surveys(session, team_id=team_id, user_ids=[user_id], kind=kind, wave=wave, instruments=instruments, now=now)[0]


def start_surveys(
    session: Session, *, team_id: str, user_ids: Sequence[str], kind: str, wave: str, instruments: Sequence[str],
    now: datetime | None = None,
) -> list[Survey]:
    """A survey for each person, in their order, written in one statement."""
    if not user_ids:
        return []
    rows = [dict(team_id=team_id, slack_user_id=user_id, kind=kind, wave=wave, instruments=",".join(instruments),
                 status=SENT, sent_at=now or utcnow()) for user_id in user_ids]
    return list(session.scalars(insert(Survey).returning(Survey, sort_by_parameter_order=True), rows))


def expire_survey(session: Session, *, survey: Survey) -> bool:
    """Close an unanswered survey; False when it was no longer open."""
    if survey.status != SENT:
        return False
    survey.status = EXPIRED
    session.add(survey)
    session.flush()
    return True


def mark_reminded(session: Session, *, survey_id: int, now: datetime | None = None) -> None:
    survey = session.get(Survey, survey_id)
    if survey is not None:
        survey.reminded_at = now or utcnow()
        session.add(survey)


def instruments_of(survey: Survey) -> list[str]:
    return [item for item in survey.instruments.split(",") if item]


def complete_survey(
    session: Session, *, survey_id: int, team_id: str, user_id: str, scores: Sequence[Score], now: datetime | None = None
) -> Survey:
    """Store the answers and close the survey, once: a second submission finds it completed."""
    survey = session.exec(select(Survey).where(Survey.id == survey_id).with_for_update()).first()
    if survey is None or survey.team_id != team_id or survey.slack_user_id != user_id:
        raise SurveyNotOpen("not_found")
    if survey.status != SENT:
        raise SurveyNotOpen(survey.status)
    now = now or utcnow()
    segment = pack_segment(person_segment(session, team_id=team_id, user_id=user_id))  # as the person is now
    for result in scores:
        session.add(
            SurveyResponse(
                survey_id=survey.id, team_id=team_id, slack_user_id=user_id, instrument=result.instrument_id,
                answers=json.dumps(list(result.answers)), score=float(result.value),
                flags=json.dumps(sorted(result.flags)), answered_at=now, segment=segment,
            )
        )
    survey.status = COMPLETED
    survey.completed_at = now
    session.add(survey)
    session.flush()
    return survey


def responses_of(session: Session, *, survey_id: int) -> list[SurveyResponse]:
    return list(session.exec(select(SurveyResponse).where(SurveyResponse.survey_id == survey_id).order_by(SurveyResponse.id)))


def first_responses(session: Session, *, team_id: str, user_id: str, excluding_survey_id: int | None = None) -> dict[str, SurveyResponse]:
    """The person's first answer to each instrument: their baseline."""
    query = select(SurveyResponse).where(SurveyResponse.team_id == team_id, SurveyResponse.slack_user_id == user_id)
    if excluding_survey_id is not None:
        query = query.where(SurveyResponse.survey_id != excluding_survey_id)
    first: dict[str, SurveyResponse] = {}
    for response in session.exec(query.order_by(SurveyResponse.answered_at, SurveyResponse.id)):
        first.setdefault(response.instrument, response)
    return first


def cohort_baselines(session: Session, *, team_id: str, instrument: str) -> list[float]:
    """Each person's first value of an instrument (no identities): the cohort's baseline spread."""
    first_time = (
        select(SurveyResponse.slack_user_id, func.min(SurveyResponse.answered_at).label("first_at"))
        .where(SurveyResponse.team_id == team_id, SurveyResponse.instrument == instrument)
        .group_by(SurveyResponse.slack_user_id)
        .subquery()
    )
    rows = session.exec(
        select(SurveyResponse.slack_user_id, func.min(SurveyResponse.score))
        .join(first_time, (first_time.c.slack_user_id == SurveyResponse.slack_user_id)
              & (first_time.c.first_at == SurveyResponse.answered_at))
        .where(SurveyResponse.team_id == team_id, SurveyResponse.instrument == instrument)
        .group_by(SurveyResponse.slack_user_id)
    )
    return [float(value) for _, value in rows]


@dataclass(frozen=True)
class HistoryPoint:
    answered_at: datetime
    value: float


def personal_history(session: Session, *, team_id: str, user_id: str, per_instrument: int = 8) -> dict[str, list[HistoryPoint]]:
    """The person's own scores, oldest first, the most recent ``per_instrument`` of each instrument."""
    history: dict[str, list[HistoryPoint]] = {}
    rows = session.exec(
        select(SurveyResponse.instrument, SurveyResponse.answered_at, SurveyResponse.score)
        .where(SurveyResponse.team_id == team_id, SurveyResponse.slack_user_id == user_id)
        .order_by(SurveyResponse.answered_at, SurveyResponse.id)
    )
    for instrument, answered_at, value in rows:
        history.setdefault(instrument, []).append(HistoryPoint(answered_at, value))
    return {instrument: points[-per_instrument:] for instrument, points in history.items()}


def pulse_recipients(session: Session, *, group_id: int, cycle: int, session_number: int) -> list[str] | None:
    """Active members of the group who are active in Compass, minus anyone who said they missed
    the session or said beforehand they could not come (unless they then said they were there);
    None when the session was skipped or cancelled."""
    group_session = session.exec(
        select(GroupSession).where(GroupSession.group_id == group_id, GroupSession.cycle == cycle,
                                   GroupSession.number == session_number)
    ).first()
    if group_session is not None and group_session.status in ("skipped", "cancelled"):
        return None
    missed: set[str] = set()
    if group_session is not None:
        said = dict(session.exec(select(SessionAttendance.slack_user_id, SessionAttendance.attended)
                                 .where(SessionAttendance.session_id == group_session.id)).all())
        declined = set(session.exec(select(SessionRsvp.slack_user_id).where(
            SessionRsvp.session_id == group_session.id, SessionRsvp.answer == "not_going")))
        missed = {u for u, attended in said.items() if not attended} | {u for u in declined if not said.get(u)}
    rows = session.exec(
        select(GroupMember.slack_user_id)
        .join(Member, (Member.team_id == GroupMember.team_id) & (Member.slack_user_id == GroupMember.slack_user_id))
        .where(GroupMember.group_id == group_id, GroupMember.status == "active", Member.status == "active")
        .order_by(GroupMember.id)
    )
    return [user_id for user_id in rows if user_id not in missed]
