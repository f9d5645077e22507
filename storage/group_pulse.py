"""A group's pulse answers, per member and instrument, for the adaptive topic rotation.

Only the group's current members and only the pulse instruments (``bot.domain.group_pulse``)
are read; the domain turns them into per-domain aggregates and drops every domain with fewer
respondents than the threshold before the rotation sees anything.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from bot.domain.group_pulse import PULSE_DOMAINS
from storage.models import GroupMember, SurveyResponse


def group_pulse_answers(
    session: Session, *, team_id: str, group_id: int
) -> dict[tuple[str, str], list[tuple[datetime, float]]]:
    """(member, instrument) -> [(answered_at, reported value)] for the group's active members."""
    members = select(GroupMember.slack_user_id).where(GroupMember.group_id == group_id, GroupMember.status == "active")
    rows = session.exec(
        select(SurveyResponse.slack_user_id, SurveyResponse.instrument, SurveyResponse.answered_at, SurveyResponse.score).where(
            SurveyResponse.team_id == team_id,
            SurveyResponse.slack_user_id.in_(members),  # type: ignore[attr-defined]
            SurveyResponse.instrument.in_(sorted(PULSE_DOMAINS)),  # type: ignore[attr-defined]
        )
    ).all()
    answers: dict[tuple[str, str], list[tuple[datetime, float]]] = {}
    for user_id, instrument, answered_at, value in rows:
        answers.setdefault((user_id, instrument), []).append((answered_at, float(value)))
    return answers
