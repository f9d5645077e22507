"""The session flow hands the rotation the group's aggregate pulse, only from the threshold up."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlmodel import Session

from bot.flows.sessions import ensure_topic, load_context
from storage.models import Survey, SurveyResponse
from tests.test_sessions_flow import group_with_series, row

T0 = datetime(2026, 1, 5, 12, tzinfo=timezone.utc)


def _who5_dropped(engine, team: str, people: list[str]) -> None:  # noqa: ANN001
    with Session(engine) as session:
        for user in people:
            for wave, when, value in (("baseline", T0, 80.0), ("pulse:x:1:2", T0 + timedelta(days=20), 30.0)):
                survey = Survey(team_id=team, slack_user_id=user, kind=wave.split(":")[0], wave=wave, instruments="who5",
                                status="completed", sent_at=when, completed_at=when)
                session.add(survey)
                session.flush()
                session.add(SurveyResponse(survey_id=survey.id, team_id=team, slack_user_id=user, instrument="who5",
                                           score=value, answered_at=when))
        session.commit()


@pytest.mark.parametrize(("answered", "follows_pulse"), [(4, False), (5, True)])
def test_the_next_topic_follows_the_group_only_when_enough_answered(slack, standin, services, engine, answered, follows_pulse):
    group = group_with_series(slack, standin, services, engine)
    team = group.team_id
    members = [f"UQ{i:03d}" for i in range(1, 7)]
    _who5_dropped(engine, team, members[:answered])
    with Session(engine) as session:
        context = load_context(session, row=row(engine, group.id, 3))
    topic, reason = ensure_topic(services, context)
    if follows_pulse:
        assert topic.primary_domain == "self-care" or "self-care" in topic.domains
        assert reason == "Chosen with your group's recent check-ins in mind: self-care."
    else:
        assert reason.startswith("Next in the rotation")
