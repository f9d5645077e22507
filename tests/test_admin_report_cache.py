"""The pulse summaries behind the admin report equal the sums over every answer, whatever happens.

Each test changes the program the way it changes in use (answers arrive, late ones too, a
profile changes, someone joins a group, someone is erased) and checks three things against
``pulse_aggregates`` summing every answer from scratch: the aggregates a view returns, the
rows kept in ``report_pulse_months``, and the published report. Statement counts show the
view did only the work it had to (nothing, one month, or a few people).
"""

from __future__ import annotations

import itertools
import json
import random
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import event, select
from sqlmodel import Session, SQLModel

from bot.domain.instruments import load_catalogue
from storage.db import session_scope
from storage.models import Group, GroupMember, Member, PulseReportMonth, PulseReportSegment, Survey, SurveyResponse
from storage.personal_data import erase_person, export_person
from storage.pulse_aggregates import Definition, aggregate, pulse_aggregates
from storage.pulse_cache import cached_pulse_aggregates
from storage.reports import exact_trend_report, trend_report_from_aggregates
from bot.domain.trends import DEFAULT_METRICS, WHO5_CHANGE
from tests.conftest import TEAM_ID
from tests.test_admin_report_flow import MIN_GROUP, items_for, seed_people

UTC = timezone.utc
JANUARY = datetime(2026, 1, 1, tzinfo=UTC)
WAVES = itertools.count()


def add_answers(engine, answers: list[tuple[str, datetime, str, int]]) -> None:  # noqa: ANN001
    """(user, when, instrument, value), each in a completed survey of its own."""
    with session_scope(engine) as session:
        for user_id, when, instrument, value in answers:
            survey = Survey(team_id=TEAM_ID, slack_user_id=user_id, kind="pulse", wave=f"test:{next(WAVES)}",
                            instruments=instrument, status="completed", sent_at=when, completed_at=when)
            session.add(survey)
            session.flush()
            session.add(SurveyResponse(survey_id=survey.id, team_id=TEAM_ID, slack_user_id=user_id, instrument=instrument,
                                       answers=json.dumps(items_for(instrument, value)), score=float(value), flags="[]",
                                       answered_at=when))


TIE, LATE = "U0TIE", "U0LATE"  # answers chosen below, not drawn


def program(engine) -> list[str]:  # noqa: ANN001
    """40 people in three departments and four career stages answering from January to April
    2026, and two whose answers are chosen: TIE's first day holds two answers either side of
    the best one of the next day, an hour from UTC midnight at January's end; LATE answers
    in April only."""
    rng = random.Random(11)
    departments, stages = ["Medicine", "Surgery", "Pediatrics"], ["PGY-1", "PGY-4", "ATTENDING-3", "ATTENDING-20"]
    people = {f"U{i:04d}": (departments[i % 3], stages[i % 4]) for i in range(40)}
    seed_people(engine, people | {TIE: ("Medicine", "PGY-1"), LATE: ("Medicine", "PGY-1")})
    answers = []
    for user_id in people:
        for _ in range(rng.randint(2, 6)):
            when = JANUARY + timedelta(days=rng.randint(0, 110), hours=rng.randint(0, 23))
            answers.append((user_id, when, "who5", 4 * rng.randint(0, 25)))
            answers.append((user_id, when, "burnout", rng.randint(1, 5)))
            if rng.random() < 0.3:
                answers.append((user_id, when, "phq2", rng.randint(0, 6)))
    first_day = datetime(2026, 1, 31, tzinfo=UTC)
    answers += [(TIE, first_day + timedelta(hours=1), "who5", 60), (TIE, first_day + timedelta(hours=23, minutes=59), "who5", 40),
                (TIE, first_day + timedelta(days=1, minutes=1), "who5", 20), (TIE, datetime(2026, 3, 3, tzinfo=UTC), "who5", 52)]
    answers += [(LATE, datetime(2026, 4, 2, 9, tzinfo=UTC), "who5", 80), (LATE, datetime(2026, 4, 20, 9, tzinfo=UTC), "who5", 84)]
    add_answers(engine, answers)
    return list(people)


# The change from baseline is no longer published monthly, but the summaries still sum it for a
# caller that asks (a weakened build in the privacy tests): the baseline test below covers it.
WITH_CHANGE = (*DEFAULT_METRICS, WHO5_CHANGE)


def normalised(aggregates) -> dict:  # noqa: ANN001
    return {key: ((c.values.n, c.values.total, c.values.squares), (c.change.n, c.change.total, c.change.squares),
                  {flag: count for flag, count in c.flagged.items() if count})
            for key, c in aggregates.items()}


def from_scratch(engine, catalogue=None, metrics=DEFAULT_METRICS) -> dict:  # noqa: ANN001
    with Session(engine) as session:
        return normalised(pulse_aggregates(session, team_id=TEAM_ID, catalogue=catalogue, metrics=metrics))


def view(engine, metrics=DEFAULT_METRICS) -> dict:  # noqa: ANN001
    with Session(engine) as session:
        return normalised(cached_pulse_aggregates(session, team_id=TEAM_ID, definition=Definition.of(metrics=metrics)))


def kept(engine) -> dict:  # noqa: ANN001
    """The summaries as stored, read straight from the table."""
    with Session(engine) as session:
        months = session.execute(select(PulseReportMonth).where(PulseReportMonth.team_id == TEAM_ID)).scalars().all()
    return {(instrument, row.month, (cohort, department, stage, site)): ((n, total, squares), (change_n, change_total, change_squares),
                                                                         flags)
            for row in months
            for instrument, cohort, department, stage, site, n, total, squares, change_n, change_total, change_squares, flags
            in json.loads(row.cells)}


def assert_up_to_date(engine, metrics=DEFAULT_METRICS) -> None:  # noqa: ANN001
    expected = from_scratch(engine, metrics=metrics)
    assert view(engine, metrics) == expected
    assert kept(engine) == expected
    with Session(engine) as session:
        reference = trend_report_from_aggregates(pulse_aggregates(session, team_id=TEAM_ID, metrics=metrics), min_group=MIN_GROUP,
                                                 metrics=metrics)
        assert exact_trend_report(session, team_id=TEAM_ID, min_group=MIN_GROUP, metrics=metrics) == reference


@contextmanager
def aggregations(engine):  # noqa: ANN001
    """The statements that sum answers (their SQL names the with_baseline subquery)."""
    seen: list[str] = []

    def record(connection, cursor, statement, parameters, context, executemany):  # noqa: ANN001, ARG001
        if "with_baseline" in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def ranged(statement: str) -> bool:
    """Sums only recent months, looking each person's baseline up in the index."""
    return "first_answer" in statement and " OVER " not in statement


def of_a_few_people(statement: str) -> bool:
    return "IN (SELECT report_segments.user_id" in statement


def set_department(engine, user_id: str, department: str) -> None:  # noqa: ANN001
    with session_scope(engine) as session:
        member = session.execute(select(Member).where(Member.slack_user_id == user_id)).scalars().one()
        member.department = department
        session.add(member)


# ---------------------------------------------------------------- answers


def test_first_view_sums_everything_and_the_next_one_nothing(engine):
    program(engine)
    with aggregations(engine) as seen:
        first = view(engine)
    assert len(seen) == 1 and " OVER " in seen[0]  # every answer, baselines over each person's months
    with aggregations(engine) as seen:
        again = view(engine)
    assert seen == [] and again == first == from_scratch(engine)
    assert_up_to_date(engine)


def test_new_answers_sum_only_their_month_again(engine):
    people = program(engine)
    assert_up_to_date(engine)
    add_answers(engine, [(user, datetime(2026, 4, 25, 9, tzinfo=UTC), "who5", 88) for user in people[:12]])
    add_answers(engine, [("U0000", datetime(2026, 4, 25, 9, tzinfo=UTC), "burnout", 5)])
    with aggregations(engine) as seen:
        summed = view(engine)
    assert len(seen) == 1 and ranged(seen[0])
    assert summed == from_scratch(engine)
    assert kept(engine) == from_scratch(engine)


def test_a_late_answer_that_becomes_a_baseline_changes_every_later_month(engine):
    """A build that publishes the change from baseline (WHO5_CHANGE): a new baseline moves later months."""
    program(engine)
    assert_up_to_date(engine, WITH_CHANGE)
    before = from_scratch(engine, metrics=WITH_CHANGE)
    add_answers(engine, [(LATE, datetime(2026, 3, 30, 23, 59, tzinfo=UTC), "who5", 40)])  # before their April answers
    after = from_scratch(engine, metrics=WITH_CHANGE)
    assert {key[1] for key in after if after[key] != before.get(key)} == {date(2026, 3, 1), date(2026, 4, 1)}
    with aggregations(engine) as seen:
        summed = view(engine, WITH_CHANGE)
    assert len(seen) == 1 and ranged(seen[0])  # March and April, January and February kept
    assert summed == after
    assert_up_to_date(engine, WITH_CHANGE)


def test_same_day_answers_follow_the_tie_rules_when_only_recent_months_are_summed(engine):
    program(engine)
    assert_up_to_date(engine)
    # TIE's first day holds 60 and 40: the baseline is 40, not the 20 of the next UTC day.
    # April's latest day holds 100 and 96: 100 counts. Summed with the baseline looked up per person.
    add_answers(engine, [(TIE, datetime(2026, 4, 29, 8, tzinfo=UTC), "who5", 100),
                         (TIE, datetime(2026, 4, 29, 20, tzinfo=UTC), "who5", 96)])
    with aggregations(engine) as seen:
        summed = view(engine)
    assert len(seen) == 1 and ranged(seen[0])
    assert summed == from_scratch(engine)
    with Session(engine) as session:  # TIE alone, through the same per-person lookups
        alone = aggregate(session, team_id=TEAM_ID, definition=Definition.of(metrics=WITH_CHANGE), segments={TIE: ("tie", "tie", "tie", "tie")},
                          months=(date(2026, 4, 1), date(2026, 5, 1)), only_these_people=True)
    april = alone[("who5", date(2026, 4, 1), ("tie", "tie", "tie", "tie"))]
    assert (april.values.total, april.change.n, april.change.total) == (100, 1, 100 - 40)


# ---------------------------------------------------------------- profiles


def test_a_department_change_moves_the_persons_past_answers(engine):
    program(engine)
    assert_up_to_date(engine)
    set_department(engine, "U0001", "Radiology")
    with aggregations(engine) as seen:
        summed = view(engine)
    assert len(seen) == 2 and all(of_a_few_people(s) for s in seen)  # out of Surgery, into Radiology
    assert summed == from_scratch(engine)
    assert any(key[2][1] == "Radiology" for key in kept(engine))
    assert kept(engine) == from_scratch(engine)


def test_joining_a_first_group_and_joining_the_program_are_counted(engine):
    program(engine)
    assert_up_to_date(engine)
    with session_scope(engine) as session:
        group = Group(team_id=TEAM_ID, name="Late group", cohort="2026-spring", status="active",
                      created_at=JANUARY, updated_at=JANUARY)
        session.add(group)
        session.flush()
        session.add(GroupMember(group_id=group.id, team_id=TEAM_ID, slack_user_id="U0002", joined_at=JANUARY))  # not first
        session.add(Member(team_id=TEAM_ID, slack_user_id="U0NEW", department="Surgery", career_stage="PGY-2", status="active",
                           consented_at=JANUARY, created_at=JANUARY, updated_at=JANUARY))
        session.add(GroupMember(group_id=group.id, team_id=TEAM_ID, slack_user_id="U0NEW", joined_at=JANUARY))
    add_answers(engine, [("U0NEW", datetime(2026, 2, 3, 12, tzinfo=UTC), "who5", 52)])
    assert_up_to_date(engine)
    assert any(key[2][0] == "2026-spring" for key in kept(engine))


def test_a_changed_flag_rule_sums_everything_again(engine):
    program(engine)
    assert_up_to_date(engine)
    text = (Path(__file__).parent.parent / "bot" / "prompts" / "instruments.toml").read_text(encoding="utf-8")
    strict = load_catalogue(text.replace('label = "Burnout (3 or more)", at_least = 3', 'label = "Burnout (3 or more)", at_least = 4'))
    with Session(engine) as session:
        report = exact_trend_report(session, team_id=TEAM_ID, min_group=MIN_GROUP, catalogue=strict)
        reference = trend_report_from_aggregates(pulse_aggregates(session, team_id=TEAM_ID, catalogue=strict),
                                                 min_group=MIN_GROUP, catalogue=strict)
    assert report == reference
    assert kept(engine) == from_scratch(engine, strict) != from_scratch(engine)
    assert_up_to_date(engine)  # and back


# ---------------------------------------------------------------- forget-me


def test_forget_me_takes_the_person_out_of_every_summary_at_once(engine):
    program(engine)
    assert_up_to_date(engine)
    with session_scope(engine) as session:
        erase_person(session, team_id=TEAM_ID, user_id="U0007")
    # Before anyone views the report again, no summary holds anything of theirs.
    assert kept(engine) == from_scratch(engine)
    with engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            for row in connection.execute(table.select()):
                assert "U0007" not in json.dumps([str(v) for v in row]), f"{table.name} still names the person"
    with aggregations(engine) as seen:
        summed = view(engine)
    assert seen == [] and summed == from_scratch(engine)  # nothing to sum again: the erasure kept them exact
    assert_up_to_date(engine)


def test_forget_me_after_answers_no_view_has_summed_yet(engine):
    program(engine)
    assert_up_to_date(engine)
    add_answers(engine, [("U0008", datetime(2026, 4, 27, 9, tzinfo=UTC), "who5", 12),
                         ("U0009", datetime(2026, 4, 27, 9, tzinfo=UTC), "who5", 92)])
    with session_scope(engine) as session:
        erase_person(session, team_id=TEAM_ID, user_id="U0008")
    expected = from_scratch(engine)
    # April was summed before U0008's last answer: its cells went; every other month was taken out exactly.
    assert kept(engine) == {key: cell for key, cell in expected.items() if key[1] < date(2026, 4, 1)}
    assert_up_to_date(engine)


def test_my_data_shows_the_segment_a_persons_answers_are_counted_under(engine):
    program(engine)
    assert_up_to_date(engine)
    with Session(engine) as session:
        exported = export_person(session, team_id=TEAM_ID, user_id="U0001")
        assert session.get(PulseReportSegment, (TEAM_ID, "U0001")) is not None
    assert exported["report_summaries"] == [
        {"report_segment": {"cohort": "2025-fall", "department": "Surgery", "career_stage": "Trainee", "site": "Not recorded"}}
    ]


def test_views_at_the_same_time_take_turns(engine):
    program(engine)
    for round_ in range(2):  # the first views build every month, the next ones April again
        add_answers(engine, [(LATE, datetime(2026, 4, 22 + round_, 9, tzinfo=UTC), "burnout", 4)])
        with ThreadPoolExecutor(max_workers=3) as pool:  # one sums, the others wait for it and find nothing to do
            views = list(pool.map(lambda _: view(engine), range(3)))
        assert views[0] == views[1] == views[2] == from_scratch(engine) == kept(engine)


@pytest.mark.parametrize("people", [0, 1])
def test_a_team_without_answers_has_an_empty_report(engine, people):
    if people:
        seed_people(engine, {"U0LONE": ("Medicine", "PGY-1")})
    assert view(engine) == {} == from_scratch(engine)
    assert kept(engine) == {}


def test_the_web_process_prepares_every_workspaces_report_at_start(services, engine):
    from bot.runtime.report_warmup import warm_reports
    from storage.workspaces import ensure_workspace

    program(engine)
    with session_scope(engine) as session:
        ensure_workspace(session, team_id=TEAM_ID)
    assert kept(engine) == {}
    assert warm_reports(services) == 1
    assert kept(engine) == from_scratch(engine)
    with aggregations(engine) as seen:
        view(engine)
    assert seen == []  # an admin's first view sums nothing
