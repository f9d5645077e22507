"""The admin report over 1,000,000 pulse answers, as an admin waits for it, against plain Python over the rows.

Run from the project root::

    .venv/bin/python bench/bench_admin_report.py [--answers 1000000] [--seed 0] [--repeat 3]
        [--postgres postgresql://postgres@127.0.0.1:5432/test]

It generates a plausible program (about 12,000 physicians in 12 departments, groups of 8
in four cohorts, a baseline at enrolment, a pulse about every four weeks answered 85% of
the time, follow-ups at 6 and 12 months, over two years) until it holds the requested
number of answers (``survey_responses`` rows), then times on SQLite (always) and on
PostgreSQL (with ``--postgres``; tables go into a scratch schema that is dropped after;
``VACUUM ANALYZE`` after the bulk load, as autovacuum leaves a table in use):

* **python** (the baseline): every answer row fetched into Python and aggregated there
  (one row per person, instrument and month, then per segment), then suppression and
  estimates (``trend_report_from_aggregates``), as from a fresh process;
* **sql from scratch**: ``storage.pulse_aggregates.pulse_aggregates``, two GROUP BYs in
  the database over every answer;
* **admin report** (``storage.reports.admin_report``, what ``/compass report``, the admin's
  App Home and ``compass-bot report`` call: program summary and trends, from the pulse
  summaries of ``storage.pulse_cache``), each the best of ``--repeat`` rounds:

  - *warm view*: nothing changed since the last view;
  - *after new answers*: 1,000 answers (500 people's pulse) arrive in the latest month,
    which is what most views find in a running program;
  - *first view*: no summaries yet, nothing remembered by the process;
  - *after a restart*: summaries kept, nothing remembered by the process;
  - *after a department change*: one person moves department;
  - *forget-me*: erasing one person (the summaries are corrected in the same
    transaction), then the next view.

The first admin report is checked cell by cell against the plain Python one, and after each
kind of change the summaries against the aggregates of every answer and the report against
theirs. Prints each time, and the ratio of the Python baseline to the admin report.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, delete, func, select, text  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlmodel import Session  # noqa: E402

from bot.domain.instruments import default_catalogue  # noqa: E402
from bot.domain.publication import plan_publication  # noqa: E402
from bot.domain.trends import DEFAULT_METRICS, NOT_RECORDED, TrendReport, career_stage_band, month_of  # noqa: E402
from storage import ledger  # noqa: E402
from storage.db import make_engine, session_scope  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import (  # noqa: E402
    Group, GroupMember, Member, PulseReportMonth, PulseReportSegment, PulseReportState, ReportPublication, Survey,
    SurveyResponse,
)
from storage.personal_data import erase_person  # noqa: E402
from storage.pulse_aggregates import Aggregates, Definition, InstrumentCell, Moments, pulse_aggregates  # noqa: E402
from storage.pulse_cache import cached_pulse_aggregates  # noqa: E402
from storage.reports import (  # noqa: E402
    AdminReport, admin_report, exact_trend_report, forget_remembered_reports, trend_report_from_aggregates,
)

TEAM = "T0BENCH"
START = datetime(2024, 1, 8, 14, 0, tzinfo=timezone.utc)
MONTHS = 24
PULSE_EVERY = timedelta(days=28)
PULSE_ANSWER_RATE = 0.85
DEPARTMENTS = (
    ("Medicine", 30), ("Surgery", 14), ("Pediatrics", 12), ("Family Medicine", 10), ("Emergency Medicine", 8),
    ("Anesthesiology", 7), ("Psychiatry", 6), ("Radiology", 5), ("Neurology", 4), ("Obstetrics", 2),
    ("Dermatology", 1), ("Genetics", 1),
)
COHORTS = ("2024-spring", "2024-fall", "2025-spring", "2025-fall")
SITES = ("Main campus", "Northside", "Riverside clinic")  # a health system of three hospitals: rows per site
WAVE_INSTRUMENTS = ("burnout", "who5", "phq2", "meaning", "connection", "intent_to_leave")
PULSE_INSTRUMENTS = ("burnout", "who5", "group_worth")
SCHEMA = "bench_admin_report"


# ---------------------------------------------------------------- the program


def generate(answers: int, seed: int, months: int = MONTHS) -> tuple[list[dict], list[dict], list[dict], list[dict], list[dict]]:
    """Members, groups, group members, surveys and responses, as rows for bulk insert."""
    rng = random.Random(seed)
    catalogue = default_catalogue()
    per_person = len(WAVE_INSTRUMENTS) * 3 + PULSE_ANSWER_RATE * len(PULSE_INSTRUMENTS) * (months * 30 // 28)
    people = int(answers / per_person * 1.05) + 1
    names, weights = zip(*DEPARTMENTS)
    members, groups, group_members, surveys, responses = [], [], [], [], []
    for index in range(people):
        user = f"U{index:08d}"
        trainee = rng.random() < 0.5
        stage = f"PGY-{rng.randint(1, 5)}" if trainee else f"ATTENDING-{rng.randint(0, 35)}"
        joined = START + timedelta(days=rng.randint(0, 60))
        members.append(dict(team_id=TEAM, slack_user_id=user, department=rng.choices(names, weights)[0], career_stage=stage,
                            site=SITES[index % len(SITES)], status="active", consented_at=joined, invited_at=START, created_at=joined, updated_at=joined))
        if index % 8 == 0:
            groups.append(dict(id=index // 8 + 1, team_id=TEAM, name=f"Group {index // 8 + 1}",
                               cohort=COHORTS[(index // 8) % len(COHORTS)], status="active", created_at=START, updated_at=START))
        group_members.append(dict(group_id=index // 8 + 1, team_id=TEAM, slack_user_id=user, status="active", joined_at=joined))
        wellbeing = rng.gauss(0, 1)  # a person's tendency, so answers are correlated over time
        moments = [("baseline", joined, WAVE_INSTRUMENTS)]
        moments += [(f"{months}m", joined + timedelta(days=30 * months), WAVE_INSTRUMENTS) for months in (6, 12)]
        at, number = joined + timedelta(days=14), 0
        while at < START + timedelta(days=30 * months):
            number += 1
            if rng.random() < PULSE_ANSWER_RATE:
                moments.append((f"pulse:{index // 8 + 1}:1:{number}", at, PULSE_INSTRUMENTS))
            at += PULSE_EVERY
        for wave, answered_at, instruments in moments:
            survey_id = len(surveys) + 1
            surveys.append(dict(id=survey_id, team_id=TEAM, slack_user_id=user, kind=_survey_kind(wave),
                                wave=wave, instruments=",".join(instruments), status="completed", sent_at=answered_at,
                                completed_at=answered_at))
            for instrument_id in instruments:
                instrument = catalogue.instrument(instrument_id)
                options = sorted(instrument.option_values)
                position = min(len(options) - 1, max(0, int(len(options) / 2 + wellbeing + rng.gauss(0, 1))))
                item_answers = [options[min(len(options) - 1, max(0, position + rng.randint(-1, 1)))] for _ in instrument.items]
                responses.append(dict(survey_id=survey_id, team_id=TEAM, slack_user_id=user, instrument=instrument_id,
                                      answers=json.dumps(item_answers), score=float(sum(item_answers) * instrument.multiplier),
                                      flags="[]", answered_at=answered_at + timedelta(minutes=rng.randint(0, 600))))
                if len(responses) == answers:
                    return members, groups, group_members, surveys, responses
    return members, groups, group_members, surveys, responses


def _survey_kind(wave: str) -> str:
    if wave == "baseline":
        return "baseline"
    return "pulse" if wave.startswith("pulse:") else "followup"


def _scalar_defaults(model) -> dict:  # noqa: ANN001
    """Column defaults the ORM would fill in (COPY does not)."""
    return {
        column.name: column.default.arg
        for column in model.__table__.columns
        if column.default is not None and column.default.is_scalar
    }


def load(engine: Engine, rows: tuple[list[dict], ...]) -> None:
    members, groups, group_members, surveys, responses = rows
    surveys = [s for s in surveys if s["id"] <= responses[-1]["survey_id"]]
    from storage.models import Survey, Workspace

    tables = [(Workspace, [dict(team_id=TEAM, name="Bench", bot_user_id="", created_at=START)]), (Member, members),
              (Group, groups), (GroupMember, group_members), (Survey, surveys), (SurveyResponse, responses)]
    if engine.dialect.name == "postgresql":
        raw = engine.raw_connection()
        try:
            with raw.cursor() as cursor:
                for model, table_rows in tables:
                    defaults = _scalar_defaults(model)
                    columns = list(defaults | table_rows[0])
                    with cursor.copy(f"COPY {model.__tablename__} ({', '.join(columns)}) FROM STDIN") as copy:
                        for row in table_rows:
                            copy.write_row([row.get(c, defaults.get(c)) for c in columns])
                for model in (Group, Survey):
                    table = model.__tablename__
                    cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
            raw.commit()
            raw.driver_connection.autocommit = True
            with raw.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE")
        finally:
            raw.close()
        return
    with engine.begin() as connection:
        for model, table_rows in tables:
            connection.execute(model.__table__.insert(), table_rows)
        connection.exec_driver_sql("ANALYZE")
    with engine.connect() as connection:  # a database in use has its WAL checkpointed now and then
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


# ---------------------------------------------------------------- the plain Python aggregation


def python_aggregates(session: Session) -> Aggregates:
    """Fetch every answer and aggregate in Python: the report without SQL aggregation."""
    catalogue = default_catalogue()
    wanted = sorted({metric.instrument for metric in DEFAULT_METRICS})
    changes = {metric.instrument for metric in DEFAULT_METRICS if metric.kind == "change"}
    segments = _segments(session)
    latest: dict[tuple[str, str, date], tuple[date, float]] = {}
    first: dict[tuple[str, str], tuple[date, float]] = {}
    answers = session.execute(
        select(SurveyResponse.slack_user_id, SurveyResponse.instrument, SurveyResponse.answered_at, SurveyResponse.score).where(
            SurveyResponse.team_id == TEAM, SurveyResponse.instrument.in_(wanted)
        )
    )
    for user, instrument_id, answered_at, score in answers:
        day = answered_at.astimezone(timezone.utc).date()
        key = (user, instrument_id, day.replace(day=1))
        if key not in latest or (day, score) > latest[key]:
            latest[key] = (day, score)
        if (user, instrument_id) not in first or (day, score) < first[(user, instrument_id)]:
            first[(user, instrument_id)] = (day, score)
    aggregates: Aggregates = defaultdict(InstrumentCell)
    for (user, instrument_id, month), (day, score) in latest.items():
        if user not in segments:
            continue
        value = int(score)
        cell = aggregates[(instrument_id, month, segments[user])]
        cell.values.add(Moments(1, value, value * value))
        for flag in catalogue.instrument(instrument_id).flags_for(value):
            cell.flagged[flag] = cell.flagged.get(flag, 0) + 1
        base_day, base_score = first[(user, instrument_id)]
        if instrument_id in changes and (day, score) != (base_day, base_score):
            difference = value - int(base_score)
            cell.change.add(Moments(1, difference, difference * difference))
    return dict(aggregates)


def _segments(session: Session) -> dict[str, tuple[str, str, str, str]]:
    first_cohort: dict[str, tuple] = {}
    for user, cohort, joined_at, row_id in session.execute(
        select(GroupMember.slack_user_id, Group.cohort, GroupMember.joined_at, GroupMember.id).join(Group, Group.id == GroupMember.group_id)
        .where(Group.team_id == TEAM)
    ):
        if user not in first_cohort or (joined_at, row_id) < first_cohort[user][:2]:
            first_cohort[user] = (joined_at, row_id, cohort)
    return {
        user: (first_cohort.get(user, (None, None, ""))[2] or NOT_RECORDED, department or NOT_RECORDED, career_stage_band(stage),
               site or NOT_RECORDED)
        for user, department, stage, site in session.execute(
            select(Member.slack_user_id, Member.department, Member.career_stage, Member.site).where(Member.team_id == TEAM)
        )
    }


def _normalised(aggregates: Aggregates) -> dict:
    return {
        key: (cell.values.n, cell.values.total, cell.values.squares, {f: c for f, c in cell.flagged.items() if c},
              cell.change.n, cell.change.total, cell.change.squares)
        for key, cell in aggregates.items()
    }


# ---------------------------------------------------------------- timing


@dataclass(frozen=True)
class Timing:
    wall: float
    cpu: float  # this process only: all of SQLite's work, none of the PostgreSQL server's

    def __str__(self) -> str:
        return f"{self.wall * 1000:6.0f} ms (this process's CPU {self.cpu * 1000:5.0f} ms)"

    def best(self, other: "Timing") -> "Timing":
        return Timing(min(self.wall, other.wall), min(self.cpu, other.cpu))


NEVER = Timing(float("inf"), float("inf"))


def timed(work):  # noqa: ANN001, ANN201
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return Timing(time.perf_counter() - wall, time.process_time() - cpu), result


def best_of(repeat: int, work):  # noqa: ANN001, ANN201
    best, result = NEVER, None
    for _ in range(repeat):
        timing, result = timed(work)
        best = best.best(timing)
    return best, result


def python_report(session: Session, min_group: int) -> tuple[Aggregates, TrendReport]:
    """The plain Python baseline: aggregate every row in Python, then suppress, as a fresh process would."""
    forget_remembered_reports()
    aggregates = python_aggregates(session)
    return aggregates, trend_report_from_aggregates(aggregates, min_group=min_group)


def view(engine: Engine, min_group: int) -> AdminReport:
    """What an admin waits for: ``/compass report`` and the App Home call exactly this."""
    with Session(engine) as session:
        return admin_report(session, team_id=TEAM, min_group=min_group)


def check(name: str, engine: Engine, report: AdminReport, min_group: int, expected: Aggregates | None = None,
          expected_from: str = "the aggregates of every answer") -> None:
    """The summaries equal the aggregates of every answer (or ``expected``); the exact report equals
    theirs; and the published report equals what the publication plan makes of that exact report and
    the ledger: the closed months already in the ledger as recorded, the others planned afresh."""
    with Session(engine) as session:
        expected = expected if expected is not None else pulse_aggregates(session, team_id=TEAM)
        kept = cached_pulse_aggregates(session, team_id=TEAM, definition=Definition.of())
        exact = exact_trend_report(session, team_id=TEAM, min_group=min_group)
        published = ledger.published_cells(session, team_id=TEAM)
    if _normalised(kept) != _normalised(expected):
        raise SystemExit(f"{name}: the summaries differ from {expected_from}")
    expected_exact = trend_report_from_aggregates(expected, min_group=min_group)
    if exact != expected_exact:
        raise SystemExit(f"{name}: the exact report from the summaries differs from the one from {expected_from}")
    kinds = {metric.id: metric.kind for metric in expected_exact.metrics}
    plan = plan_publication(expected_exact.cells, published, min_group=expected_exact.min_group,
                            open_month=month_of(report.as_of), metric_kinds=kinds)
    if not plan.cells or plan.new:
        raise SystemExit(f"{name}: the view did not record what it published in the ledger")
    if (report.trends.cells, report.trends.months) != (plan.cells, plan.months):
        raise SystemExit(f"{name}: the published report differs from the plan for the report from {expected_from}")


def new_answers(engine: Engine, people: int) -> int:
    """A pulse (burnout and WHO-5) answered by ``people`` members on the last day with answers."""
    with session_scope(engine) as session:
        when = session.execute(select(func.max(SurveyResponse.answered_at))).scalar_one()
        users = session.execute(select(Member.slack_user_id).where(Member.team_id == TEAM).order_by(Member.slack_user_id)
                                .limit(people)).scalars().all()
        batch = time.time_ns()  # waves are unique per person
        for number, user in enumerate(users):
            survey = Survey(team_id=TEAM, slack_user_id=user, kind="pulse", wave=f"bench:{batch}:{number}", instruments="burnout,who5",
                            status="completed", sent_at=when, completed_at=when)
            session.add(survey)
            session.flush()
            for instrument, score in (("burnout", 1 + number % 5), ("who5", 4 * (number % 26))):
                session.add(SurveyResponse(survey_id=survey.id, team_id=TEAM, slack_user_id=user, instrument=instrument,
                                           answers="[]", score=float(score), flags="[]", answered_at=when))
    return 2 * len(users)


def move_department(engine: Engine, user: str) -> None:
    with session_scope(engine) as session:
        member = session.execute(select(Member).where(Member.team_id == TEAM, Member.slack_user_id == user)).scalars().one()
        member.department = "Dermatology" if member.department != "Dermatology" else "Genetics"
        session.add(member)


def forget(engine: Engine, user: str) -> None:
    with session_scope(engine) as session:
        erase_person(session, team_id=TEAM, user_id=user)


def drop_summaries(engine: Engine) -> None:
    """Back to no summaries and nothing published at all, and nothing remembered by the process."""
    with session_scope(engine) as session:
        for model in (PulseReportMonth, PulseReportSegment, PulseReportState, ReportPublication):
            session.execute(delete(model))
    forget_remembered_reports()


def after_each(repeat: int, change, work) -> tuple[Timing, Timing]:  # noqa: ANN001
    """Best times of ``repeat`` rounds of: change (given the round), then work."""
    best_change, best_work = NEVER, NEVER
    for round_ in range(repeat):
        changed, _ = timed(lambda: change(round_))
        worked, _ = timed(work)
        best_change, best_work = best_change.best(changed), best_work.best(worked)
    return best_change, best_work


def measure(name: str, engine: Engine, repeat: int, min_group: int) -> None:
    with Session(engine) as session:
        answers = session.execute(select(text("count(*)")).select_from(SurveyResponse)).scalar_one()
        python_time, (py_aggregates, py_report) = best_of(repeat, lambda: python_report(session, min_group))
        sql_time, sql_aggregates = best_of(repeat, lambda: pulse_aggregates(session, team_id=TEAM))
    if _normalised(sql_aggregates) != _normalised(py_aggregates):
        raise SystemExit(f"{name}: the SQL and Python aggregates differ")

    def look() -> AdminReport:
        return view(engine, min_group)

    _, first = after_each(repeat, lambda _: drop_summaries(engine), look)
    report = look()
    check(name, engine, report, min_group, expected=py_aggregates, expected_from="the plain Python aggregates")
    if report.trends.cells == py_report.cells:
        raise SystemExit(f"{name}: the published report shows the exact figures")
    warm, _ = best_of(max(repeat, 3), look)  # cheap, and the figure the target is about
    _, restart = after_each(repeat, lambda _: forget_remembered_reports(), look)

    movers = [f"U{8 * (round_ + 1):08d}" for round_ in range(repeat)]  # the first member of distinct groups
    forgotten = [f"U{8 * (round_ + 1) + 1:08d}" for round_ in range(repeat)]
    added: list[int] = []
    _, after_answers = after_each(repeat, lambda _: added.append(new_answers(engine, 500)), look)
    check(name, engine, look(), min_group)
    _, after_move = after_each(repeat, lambda round_: move_department(engine, movers[round_]), look)
    check(name, engine, look(), min_group)
    erasure, after_erasure = after_each(repeat, lambda round_: forget(engine, forgotten[round_]), look)
    report = look()
    check(name, engine, report, min_group)

    shown = sum(1 for cell in report.trends.cells if not cell.suppressed)
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"{name}: {answers:,} answers -> {len(sql_aggregates):,} segment rows -> {len(report.trends.cells):,} cells "
          f"({shown:,} shown, {len(report.trends.cells) - shown:,} suppressed), {len(report.trends.months)} months")
    print(f"  plain Python over every row (aggregation and report): {python_time.wall:.3f} s; "
          f"SQL from scratch: {sql_time.wall:.3f} s")
    print(f"  admin report, warm view (best of {max(repeat, 3)}): {warm}   python / admin report: "
          f"{python_time.wall / warm.wall:.1f}x")
    print(f"  after {added[0]:,} new answers this month: {after_answers}   python / admin report: "
          f"{python_time.wall / after_answers.wall:.1f}x")
    print(f"  first view (no summaries, nothing published yet): {first}")
    print(f"  after a restart (summaries kept):   {restart}")
    print(f"  after a department change:          {after_move}")
    print(f"  forget-me: the erasure              {erasure}")
    print(f"             then a view              {after_erasure}")
    print(f"  (best of {repeat}; every published report equal to the plan for the report from every answer; "
          f"load average {load} on {os.cpu_count()} CPUs)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--answers", type=int, default=1_000_000, help="survey_responses rows to generate (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--months", type=int, default=MONTHS,
                        help=f"months of pulses per person (default {MONTHS}); 30 with 5,000,000 answers gives about 50,000 people")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best is reported")
    parser.add_argument("--min-group", type=int, default=5)
    parser.add_argument("--postgres", metavar="URL", help="also run on this PostgreSQL database (in a scratch schema)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    rows = generate(args.answers, args.seed, args.months)
    print(f"generated {len(rows[0]):,} people, {len(rows[1]):,} groups, {len(rows[4]):,} answers "
          f"in {time.perf_counter() - started:.1f} s")

    databases: list[tuple[str, Engine]] = []
    admin = None
    with tempfile.TemporaryDirectory() as directory:
        try:
            if not args.no_sqlite:
                engine = make_engine(f"sqlite:///{directory}/bench.db")
                databases.append(("SQLite", engine))
                upgrade(engine)
                started = time.perf_counter()
                load(engine, rows)
                print(f"loaded SQLite in {time.perf_counter() - started:.1f} s")
            if args.postgres:
                url = args.postgres.replace("postgresql://", "postgresql+psycopg://", 1).replace("postgres://", "postgresql+psycopg://", 1)
                admin = create_engine(url)
                with admin.begin() as connection:
                    connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
                    connection.execute(text(f"CREATE SCHEMA {SCHEMA}"))
                engine = create_engine(url, connect_args={"options": f"-csearch_path={SCHEMA}"})
                databases.append(("PostgreSQL", engine))
                upgrade(engine)
                started = time.perf_counter()
                load(engine, rows)
                print(f"loaded PostgreSQL in {time.perf_counter() - started:.1f} s")
            # Held through the views, the generated rows (5,000,000 dicts at the largest size) made every
            # full garbage collection walk them: 0.4 s of a 1 s warm view that a server process never pays.
            del rows
            gc.collect()
            for name, engine in databases:
                measure(name, engine, args.repeat, args.min_group)
        finally:
            for _, engine in databases:
                engine.dispose()
            if admin is not None:
                with admin.begin() as connection:
                    connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
                admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
