"""Month fingerprints (answers per UTC month and the sum of their ids) kept by the database.

Triggers on survey_responses keep survey_response_months (migration 0011); these tests check it
against a recount of the answers after every way answers come and go, and that reading the
fingerprints no longer reads the answers.
"""

from __future__ import annotations

import itertools
import json
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from alembic import command
from sqlalchemy import delete, event, select, text, update
from sqlmodel import Session

from storage.db import session_scope
from storage.migrate import alembic_config, upgrade
from storage.models import Survey, SurveyResponse, SurveyResponseMonth
from storage.personal_data import erase_person
from storage.pulse_aggregates import month_fingerprints, month_of
from tests.conftest import TEAM_ID

UTC = timezone.utc
NEW_YORK = ZoneInfo("America/New_York")
OTHER_TEAM = "T0OTHER"
WAVES = itertools.count()


def add_answers(engine, answers: list[tuple[str, str, datetime]]) -> list[int]:  # noqa: ANN001
    """(team, user, when), each a WHO-5 answer in a completed survey of its own; returns their ids."""
    added = []
    with session_scope(engine) as session:
        for team_id, user_id, when in answers:
            survey = Survey(team_id=team_id, slack_user_id=user_id, kind="pulse", wave=f"test:{next(WAVES)}",
                            instruments="who5", status="completed", sent_at=when, completed_at=when)
            session.add(survey)
            session.flush()
            answer = SurveyResponse(survey_id=survey.id, team_id=team_id, slack_user_id=user_id, instrument="who5",
                                    answers=json.dumps([3, 3, 3, 3, 3]), score=60.0, flags="[]", answered_at=when)
            session.add(answer)
            session.flush()
            added.append(answer.id)
    return added


def recount(engine, team_id: str) -> dict[date, tuple[int, int]]:  # noqa: ANN001
    """The fingerprints from every answer, months worked out in Python."""
    counted: dict[date, tuple[int, int]] = {}
    with Session(engine) as session:
        for answered_at, answer_id in session.execute(
            select(SurveyResponse.answered_at, SurveyResponse.id).where(SurveyResponse.team_id == team_id)
        ):
            answers, ids = counted.get(month_of(answered_at), (0, 0))
            counted[month_of(answered_at)] = (answers + 1, ids + answer_id)
    return counted


def fingerprints(engine, team_id: str = TEAM_ID) -> dict[date, tuple[int, int]]:  # noqa: ANN001
    with Session(engine) as session:
        return month_fingerprints(session, team_id=team_id)


def assert_kept(engine) -> None:  # noqa: ANN001
    for team_id in (TEAM_ID, OTHER_TEAM):
        assert fingerprints(engine, team_id) == recount(engine, team_id)


def local(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NEW_YORK)


def months_program(engine) -> None:  # noqa: ANN001
    """Answers over five months, in New York and UTC times, either side of UTC month ends, two teams."""
    add_answers(engine, [
        (TEAM_ID, "U0ANA", local(2026, 1, 31, 18, 59)),  # 23:59 UTC: January
        (TEAM_ID, "U0ANA", local(2026, 1, 31, 23, 30)),  # 04:30 UTC on 1 February
        (TEAM_ID, "U0BEN", datetime(2026, 2, 28, 23, 59, 59, 999999, tzinfo=UTC)),
        (TEAM_ID, "U0BEN", datetime(2026, 3, 1, tzinfo=UTC)),
        (TEAM_ID, "U0CAL", local(2026, 3, 31, 20, 30)),  # EDT: 00:30 UTC on 1 April
        (TEAM_ID, "U0CAL", local(2026, 5, 2, 9)),
        (OTHER_TEAM, "U0ANA", local(2026, 1, 31, 23, 30)),
        (OTHER_TEAM, "U0DAN", datetime(2026, 4, 15, 12, tzinfo=UTC)),
    ])


def test_the_fingerprints_equal_a_recount_in_every_utc_month(engine):
    months_program(engine)
    kept = fingerprints(engine)
    assert {month: answers for month, (answers, _) in kept.items()} == {
        date(2026, 1, 1): 1, date(2026, 2, 1): 2, date(2026, 3, 1): 1, date(2026, 4, 1): 1, date(2026, 5, 1): 1,
    }
    assert_kept(engine)


def test_the_fingerprints_follow_deletes_forget_me_and_moved_answers(engine):
    months_program(engine)
    extra = add_answers(engine, [(TEAM_ID, "U0BEN", datetime(2026, 2, 10, tzinfo=UTC)) for _ in range(3)])
    with session_scope(engine) as session:
        erase_person(session, team_id=TEAM_ID, user_id="U0CAL")  # March's last answer and May's only one
    assert_kept(engine)
    assert date(2026, 5, 1) not in fingerprints(engine)  # a month left without answers is left out

    with session_scope(engine) as session:
        session.execute(delete(SurveyResponse).where(SurveyResponse.id == extra[0]))
        session.execute(update(SurveyResponse).where(SurveyResponse.id == extra[1])
                        .values(answered_at=datetime(2026, 6, 1, tzinfo=UTC)))
        session.execute(update(SurveyResponse).where(SurveyResponse.id == extra[2]).values(team_id=OTHER_TEAM))
    assert_kept(engine)
    assert fingerprints(engine)[date(2026, 6, 1)] == (1, extra[1])


def test_emptying_the_answers_empties_the_fingerprints(engine):
    months_program(engine)
    with session_scope(engine) as session:
        if engine.dialect.name == "postgresql":
            session.execute(text("TRUNCATE survey_responses"))
        else:
            session.execute(delete(SurveyResponse))
    assert fingerprints(engine) == {} == fingerprints(engine, OTHER_TEAM)
    add_answers(engine, [(TEAM_ID, "U0ANA", datetime(2026, 2, 3, tzinfo=UTC))])
    assert_kept(engine)


def test_a_failed_transaction_leaves_the_fingerprints_as_they_were(engine):
    months_program(engine)
    before = fingerprints(engine)
    try:
        with session_scope(engine) as session:
            session.execute(delete(SurveyResponse).where(SurveyResponse.team_id == TEAM_ID))
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    assert fingerprints(engine) == before


def test_answers_stored_at_the_same_time_are_all_counted(engine):
    """On PostgreSQL, concurrent transactions adding to the same month lose no update."""
    moments = [datetime(2026, 2, 3, tzinfo=UTC) + timedelta(minutes=m) for m in range(40)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda when: add_answers(engine, [(TEAM_ID, "U0ANA", when), (TEAM_ID, "U0BEN", when)]), moments))
    assert fingerprints(engine)[date(2026, 2, 1)][0] == 80
    assert_kept(engine)


def test_reading_the_fingerprints_reads_no_answer(engine):
    months_program(engine)
    statements: list[str] = []

    def capture(_conn, _cursor, statement, *_args) -> None:  # noqa: ANN001
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", capture)
    try:
        kept = fingerprints(engine)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert kept and statements
    assert not [statement for statement in statements if re.search(r"\bsurvey_responses\b", statement)]


def test_the_migration_counts_the_answers_already_stored(engine):
    months_program(engine)
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0010")
    add_answers(engine, [(TEAM_ID, "U0ANA", datetime(2026, 7, 4, tzinfo=UTC))])  # no triggers at 0010
    upgrade(engine)
    assert_kept(engine)
    with Session(engine) as session:
        assert session.execute(select(SurveyResponseMonth.month).where(SurveyResponseMonth.team_id == TEAM_ID)).all()
