"""Topics that follow the group: the adaptive rotation receives a group's aggregate pulse by domain,
only where at least the threshold answered, and never tells the lead a score or its direction."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlmodel import Session

from bot.domain.curriculum import load_catalogue
from bot.domain.group_pulse import PersonChange, domain_signals, first_and_latest
from bot.domain.instruments import default_catalogue
from bot.domain.rotation import DomainSignal, choose_next_topic
from storage.group_pulse import group_pulse_answers
from storage.models import Group, GroupMember, Survey, SurveyResponse
from storage.workspaces import ensure_workspace

INSTRUMENTS = default_catalogue()
T0 = datetime(2026, 1, 5, 12, tzinfo=timezone.utc)


def test_signals_equal_a_hand_computation_and_are_oriented_so_negative_is_worse():
    # Burnout (1-5, lower is better; range 4): five people, changes +1, +1, 0, +2, 0 -> worse by 4/5 points.
    burnout = [PersonChange(f"U{i}", "burnout", 2, 2 + d) for i, d in enumerate([1, 1, 0, 2, 0])]
    # WHO-5 (0-100, higher is better; range 100): five people, +8, -4, 0, +12, +4 -> better by 4 points.
    who5 = [PersonChange(f"U{i}", "who5", 50, 50 + d) for i, d in enumerate([8, -4, 0, 12, 4])]
    signals = domain_signals(burnout + who5, catalogue=INSTRUMENTS, min_group=5)
    assert signals == {
        "workload": DomainSignal(change=-(4 / 5) / 4, respondents=5),
        "self-care": DomainSignal(change=(20 / 5) / 100, respondents=5),
    }


def test_a_domain_with_fewer_respondents_than_the_threshold_sends_nothing():
    four = [PersonChange(f"U{i}", "burnout", 1, 5) for i in range(4)]
    five = [PersonChange(f"U{i}", "who5", 80, 20) for i in range(5)]
    assert domain_signals(four + five, catalogue=INSTRUMENTS, min_group=5) == {"self-care": DomainSignal(-0.6, 5)}
    assert domain_signals(four + five, catalogue=INSTRUMENTS, min_group=6) == {}
    assert set(domain_signals(four + five, catalogue=INSTRUMENTS, min_group=4)) == {"workload", "self-care"}


def test_first_and_latest_take_each_persons_earliest_and_most_recent_answer():
    answers = {
        ("U1", "who5"): [(T0 + timedelta(days=20), 60.0), (T0, 40.0), (T0 + timedelta(days=10), 90.0)],
        ("U2", "who5"): [(T0, 40.0)],  # one answer: no change to report
    }
    assert first_and_latest(answers) == [PersonChange("U1", "who5", 40.0, 60.0)]


def test_the_lead_is_told_neither_a_score_nor_its_direction():
    topics = load_catalogue()
    history = ["introductions-what-brought-us-here", "three-good-things", "community-at-work"]
    choice = choose_next_topic(topics, audience="all", history=history,
                               domain_signals={"self-care": DomainSignal(-0.3, 6)})
    assert choice.reason == "pulse"
    for word in ("dipped", "worse", "lower", "fell", "drop", "score", "improv", "0.3"):
        assert word not in choice.explanation.lower()


def _seed_group(session: Session, *, members: int) -> int:
    ensure_workspace(session, team_id="T1")
    group = Group(team_id="T1", name="G", status="active", created_at=T0, updated_at=T0)
    session.add(group)
    session.flush()
    for i in range(members):
        user = f"U{i}"
        session.add(GroupMember(group_id=group.id, team_id="T1", slack_user_id=user, joined_at=T0))
        for wave, when, value in (("baseline", T0, 60.0), (f"pulse:{group.id}:1:2", T0 + timedelta(days=28), 40.0)):
            survey = Survey(team_id="T1", slack_user_id=user, kind=wave.split(":")[0], wave=wave, instruments="who5",
                            status="completed", sent_at=when, completed_at=when)
            session.add(survey)
            session.flush()
            session.add(SurveyResponse(survey_id=survey.id, team_id="T1", slack_user_id=user, instrument="who5",
                                       score=value, answered_at=when))
    outsider = Survey(team_id="T1", slack_user_id="UOUT", kind="baseline", wave="baseline", instruments="who5",
                      status="completed", sent_at=T0, completed_at=T0)
    session.add(outsider)
    session.flush()
    session.add(SurveyResponse(survey_id=outsider.id, team_id="T1", slack_user_id="UOUT", instrument="who5", score=0.0,
                               answered_at=T0))
    session.commit()
    return group.id


@pytest.mark.parametrize(("members", "expected"), [(4, {}), (5, {"self-care": DomainSignal(-0.2, 5)})])
def test_the_rotation_receives_the_groups_signal_only_from_the_threshold_up(engine, members, expected):
    with Session(engine) as session:
        group_id = _seed_group(session, members=members)
        answers = group_pulse_answers(session, team_id="T1", group_id=group_id)
    assert {user for user, _ in answers} == {f"U{i}" for i in range(members)}  # members only
    assert domain_signals(first_and_latest(answers), catalogue=INSTRUMENTS, min_group=5) == expected
