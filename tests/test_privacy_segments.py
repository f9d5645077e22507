"""Segments at answer time: an answer is counted under the department, career stage, site and cohort its
person had when answering; a profile edit or roster re-import affects only later answers."""

from __future__ import annotations

from datetime import date, datetime, timezone

from sqlmodel import Session, select

from bot.domain.people import CareerStage, Person
from bot.domain.scoring import Score
from storage.db import session_scope
from storage.members import invite_from_roster
from storage.models import Member, SurveyResponse
from storage.reports import exact_trend_report
from storage.surveys import complete_survey, start_survey
from tests.conftest import TEAM_ID
from tests.test_admin_report_flow import seed_people

MIN_GROUP = 5


def answer(engine, user_id: str, when: datetime, who5: int) -> None:  # noqa: ANN001
    with session_scope(engine) as session:
        survey = start_survey(session, team_id=TEAM_ID, user_id=user_id, kind="pulse", wave=f"w{when:%Y%m}", instruments=["who5"],
                              now=when)
        complete_survey(session, survey_id=survey.id, team_id=TEAM_ID, user_id=user_id, now=when,
                        scores=[Score("who5", who5, None, frozenset(), (who5 // 20,) * 5)])


def move(engine, user_id: str, department: str) -> None:  # noqa: ANN001
    """What `compass-bot roster import` does to a row whose department changed: overwrite it in place."""
    with session_scope(engine) as session:
        member = session.exec(select(Member).where(Member.team_id == TEAM_ID, Member.slack_user_id == user_id)).one()
        member.department = department
        session.add(member)


def counts_by(engine, dimension: str, month: date) -> dict[str, int]:  # noqa: ANN001
    """WHO-5 respondents per shown value of one breakdown in one month."""
    with Session(engine) as session:
        report = exact_trend_report(session, team_id=TEAM_ID, min_group=MIN_GROUP)
    return {cell.key[0]: cell.respondents for cell in report.cells
            if cell.metric == "who5_mean" and cell.month == month and cell.table == (dimension,) and not cell.suppressed}


def department_counts(engine, month: date) -> dict[str, int]:  # noqa: ANN001
    return counts_by(engine, "department", month)


def test_a_roster_move_leaves_earlier_answers_in_the_old_department(engine):
    people = {f"U{d[:3].upper()}{i}": (d, "PGY-2") for d in ("Medicine", "Surgery") for i in range(6)}
    seed_people(engine, people)
    for user in people:
        answer(engine, user, datetime(2026, 1, 10, 12, tzinfo=timezone.utc), 60)
    with Session(engine) as session:
        stamped = session.exec(select(SurveyResponse).where(SurveyResponse.slack_user_id == "UMED0")).one()
    assert stamped.segment == "2025-fall\tMedicine\tTrainee\tNot recorded"
    assert department_counts(engine, date(2026, 1, 1)) == {"Medicine": 6, "Surgery": 6}

    move(engine, "UMED0", "Surgery")
    for user in people:
        answer(engine, user, datetime(2026, 2, 10, 12, tzinfo=timezone.utc), 64)
    # January stays as answered; February counts the move.
    assert department_counts(engine, date(2026, 1, 1)) == {"Medicine": 6, "Surgery": 6}
    assert department_counts(engine, date(2026, 2, 1)) == {"Medicine": 5, "Surgery": 7}


def set_site(engine, user_id: str, site: str) -> None:  # noqa: ANN001
    """`compass-bot roster import` of the person's row with a new site (the rest unchanged)."""
    with session_scope(engine) as session:
        member = session.exec(select(Member).where(Member.team_id == TEAM_ID, Member.slack_user_id == user_id)).one()
        invite_from_roster(session, team_id=TEAM_ID, email=member.email or f"{user_id}@example.org",
                           person=Person(user_id, CareerStage.parse(member.career_stage), department=member.department, site=site))


def site_counts(engine, month: date) -> dict[str, int]:  # noqa: ANN001
    return counts_by(engine, "site", month)


def test_a_roster_move_to_another_site_leaves_earlier_answers_at_the_old_one(engine):
    people = {f"U{d[:3].upper()}{i}": (d, "PGY-2") for d in ("Medicine", "Surgery") for i in range(6)}
    seed_people(engine, people)
    for index, user in enumerate(people):
        set_site(engine, user, "North Hospital" if index % 2 else "South Hospital")
    for user in people:
        answer(engine, user, datetime(2026, 1, 10, 12, tzinfo=timezone.utc), 60)
    with Session(engine) as session:
        stamped = session.exec(select(SurveyResponse).where(SurveyResponse.slack_user_id == "UMED0")).one()
    assert stamped.segment == "2025-fall\tMedicine\tTrainee\tSouth Hospital"
    assert site_counts(engine, date(2026, 1, 1)) == {"North Hospital": 6, "South Hospital": 6}

    set_site(engine, "UMED0", "North Hospital")
    for user in people:
        answer(engine, user, datetime(2026, 2, 10, 12, tzinfo=timezone.utc), 64)
    # January stays as answered; February counts the move.
    assert site_counts(engine, date(2026, 1, 1)) == {"North Hospital": 6, "South Hospital": 6}
    assert site_counts(engine, date(2026, 2, 1)) == {"North Hospital": 7, "South Hospital": 5}


def test_a_single_site_program_gets_no_site_rows_and_old_answers_read_as_site_not_recorded(engine):
    people = {f"U{d[:3].upper()}{i}": (d, "PGY-2") for d in ("Medicine", "Surgery") for i in range(6)}
    seed_people(engine, people)
    for user in people:
        answer(engine, user, datetime(2026, 1, 10, 12, tzinfo=timezone.utc), 60)
    with session_scope(engine) as session:  # as stamped before sites were: cohort, department, stage
        for response in session.exec(select(SurveyResponse)).all():
            response.segment = "\t".join(response.segment.split("\t")[:3])
            session.add(response)
    with Session(engine) as session:
        report = exact_trend_report(session, team_id=TEAM_ID, min_group=MIN_GROUP)
    assert ("site",) not in report.tables and report.cell("who5_mean", date(2026, 1, 1)).respondents == 12
    assert department_counts(engine, date(2026, 1, 1)) == {"Medicine": 6, "Surgery": 6}

    for user in people:  # a site recorded at last: old answers count as "Not recorded", a second value
        set_site(engine, user, "North Hospital")
    for user in people:
        answer(engine, user, datetime(2026, 2, 10, 12, tzinfo=timezone.utc), 64)
    assert site_counts(engine, date(2026, 1, 1)) == {"Not recorded": 12}
    assert site_counts(engine, date(2026, 2, 1)) == {"North Hospital": 12}
