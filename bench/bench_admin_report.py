"""The admin trend report over 1,000,000 pulse answers: SQL aggregation vs plain Python over the rows.

Run from the project root::

    .venv/bin/python bench/bench_admin_report.py [--answers 1000000] [--seed 0]
        [--postgres postgresql://postgres@127.0.0.1:5432/test]

It generates a plausible program (about 12,000 physicians in 12 departments, groups of 8
in four cohorts, a baseline at enrolment, a pulse about every four weeks answered 85% of
the time, follow-ups at 6 and 12 months, over two years) until it holds the requested
number of answers (``survey_responses`` rows), then times on SQLite (always) and on
PostgreSQL (with ``--postgres``; tables go into a scratch schema that is dropped after):

* **sql**: ``storage.reports.pulse_aggregates``: two GROUP BYs in the database down to
  sums per instrument, month and segment;
* **python**: the same aggregates from every answer row fetched into Python and
  aggregated there (one row per person, instrument and month, then per segment);

then the suppression and estimates both share (``trend_report_from_aggregates``), cold
and with suppression plans remembered from an earlier view. It checks that both paths
produce identical aggregates and report cells, and prints the wall time of each (best of
``--repeat`` runs) and the ratio python / sql.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, select, text  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlmodel import Session  # noqa: E402

from bot.instruments import default_catalogue  # noqa: E402
from bot.trends import DEFAULT_METRICS, NOT_RECORDED, career_stage_band  # noqa: E402
from storage.db import make_engine  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import Group, GroupMember, Member, SurveyResponse  # noqa: E402
from storage.reports import (  # noqa: E402
    Aggregates,
    InstrumentCell,
    Moments,
    pulse_aggregates,
    suppression_plan,
    trend_report_from_aggregates,
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
WAVE_INSTRUMENTS = ("burnout", "who5", "phq2", "meaning", "connection", "intent_to_leave")
PULSE_INSTRUMENTS = ("burnout", "who5", "group_worth")
SCHEMA = "bench_admin_report"


# ---------------------------------------------------------------- the program


def generate(answers: int, seed: int) -> tuple[list[dict], list[dict], list[dict], list[dict], list[dict]]:
    """Members, groups, group members, surveys and responses, as rows for bulk insert."""
    rng = random.Random(seed)
    catalogue = default_catalogue()
    per_person = len(WAVE_INSTRUMENTS) * 3 + PULSE_ANSWER_RATE * len(PULSE_INSTRUMENTS) * (MONTHS * 30 // 28)
    people = int(answers / per_person * 1.05) + 1
    names, weights = zip(*DEPARTMENTS)
    members, groups, group_members, surveys, responses = [], [], [], [], []
    for index in range(people):
        user = f"U{index:08d}"
        trainee = rng.random() < 0.5
        stage = f"PGY-{rng.randint(1, 5)}" if trainee else f"ATTENDING-{rng.randint(0, 35)}"
        joined = START + timedelta(days=rng.randint(0, 60))
        members.append(dict(team_id=TEAM, slack_user_id=user, department=rng.choices(names, weights)[0], career_stage=stage,
                            status="active", consented_at=joined, invited_at=START, created_at=joined, updated_at=joined))
        if index % 8 == 0:
            groups.append(dict(id=index // 8 + 1, team_id=TEAM, name=f"Group {index // 8 + 1}",
                               cohort=COHORTS[(index // 8) % len(COHORTS)], status="active", created_at=START, updated_at=START))
        group_members.append(dict(group_id=index // 8 + 1, team_id=TEAM, slack_user_id=user, status="active", joined_at=joined))
        wellbeing = rng.gauss(0, 1)  # a person's tendency, so answers are correlated over time
        moments = [("baseline", joined, WAVE_INSTRUMENTS)]
        moments += [(f"{months}m", joined + timedelta(days=30 * months), WAVE_INSTRUMENTS) for months in (6, 12)]
        at, number = joined + timedelta(days=14), 0
        while at < START + timedelta(days=30 * MONTHS):
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
                cursor.execute("SELECT setval(pg_get_serial_sequence('groups', 'id'), (SELECT max(id) FROM groups))")
                cursor.execute("ANALYZE")
            raw.commit()
        finally:
            raw.close()
        return
    with engine.begin() as connection:
        for model, table_rows in tables:
            connection.execute(model.__table__.insert(), table_rows)
        connection.exec_driver_sql("ANALYZE")


# ---------------------------------------------------------------- the plain Python aggregation


def python_aggregates(session: Session) -> Aggregates:
    """Fetch every answer and aggregate in Python: the report without SQL aggregation."""
    catalogue = default_catalogue()
    wanted = sorted({metric.instrument for metric in DEFAULT_METRICS})
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
        if (day, score) != (base_day, base_score):
            difference = value - int(base_score)
            cell.change.add(Moments(1, difference, difference * difference))
    return dict(aggregates)


def _segments(session: Session) -> dict[str, tuple[str, str, str]]:
    first_cohort: dict[str, tuple] = {}
    for user, cohort, joined_at, row_id in session.execute(
        select(GroupMember.slack_user_id, Group.cohort, GroupMember.joined_at, GroupMember.id).join(Group, Group.id == GroupMember.group_id)
        .where(Group.team_id == TEAM)
    ):
        if user not in first_cohort or (joined_at, row_id) < first_cohort[user][:2]:
            first_cohort[user] = (joined_at, row_id, cohort)
    return {
        user: (first_cohort.get(user, (None, None, ""))[2] or NOT_RECORDED, department or NOT_RECORDED, career_stage_band(stage))
        for user, department, stage in session.execute(
            select(Member.slack_user_id, Member.department, Member.career_stage).where(Member.team_id == TEAM)
        )
    }


def _normalised(aggregates: Aggregates) -> dict:
    return {
        key: (cell.values.n, cell.values.total, cell.values.squares, {f: c for f, c in cell.flagged.items() if c},
              cell.change.n, cell.change.total, cell.change.squares)
        for key, cell in aggregates.items()
    }


# ---------------------------------------------------------------- timing


def best_of(repeat: int, work):  # noqa: ANN001, ANN201
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - started)
    return best, result


def measure(name: str, engine: Engine, repeat: int, min_group: int) -> None:
    with Session(engine) as session:
        sql_aggregation, sql_aggregates = best_of(repeat, lambda: pulse_aggregates(session, team_id=TEAM))
        py_aggregation, py_aggregates = best_of(repeat, lambda: python_aggregates(session))
        answers = session.execute(select(text("count(*)")).select_from(SurveyResponse)).scalar_one()

    def cold_report():  # noqa: ANN202
        suppression_plan.cache_clear()
        return trend_report_from_aggregates(sql_aggregates, min_group=min_group)

    cold, report = best_of(repeat, cold_report)
    warm, _ = best_of(repeat, lambda: trend_report_from_aggregates(sql_aggregates, min_group=min_group))
    if _normalised(sql_aggregates) != _normalised(py_aggregates):
        raise SystemExit(f"{name}: the SQL and Python aggregates differ")
    if trend_report_from_aggregates(py_aggregates, min_group=min_group) != report:
        raise SystemExit(f"{name}: the reports differ")
    shown = sum(1 for cell in report.cells if not cell.suppressed)
    print(f"{name}: {answers:,} answers -> {len(sql_aggregates):,} segment rows -> {len(report.cells):,} cells "
          f"({shown:,} shown, {len(report.cells) - shown:,} suppressed), {len(report.months)} months")
    print(f"  aggregation: sql {sql_aggregation:.3f} s, python over every row {py_aggregation:.3f} s, "
          f"ratio python / sql {py_aggregation / sql_aggregation:.1f}x")
    print(f"  suppression and estimates: {cold:.3f} s cold, {warm:.3f} s with plans remembered from an earlier view")
    print(f"  whole report: sql {sql_aggregation + cold:.3f} s cold / {sql_aggregation + warm:.3f} s warm; "
          f"python {py_aggregation + cold:.3f} s cold / {py_aggregation + warm:.3f} s warm")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--answers", type=int, default=1_000_000, help="survey_responses rows to generate (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best is reported")
    parser.add_argument("--min-group", type=int, default=5)
    parser.add_argument("--postgres", metavar="URL", help="also run on this PostgreSQL database (in a scratch schema)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    rows = generate(args.answers, args.seed)
    print(f"generated {len(rows[0]):,} people, {len(rows[1]):,} groups, {len(rows[4]):,} answers "
          f"in {time.perf_counter() - started:.1f} s")

    with tempfile.TemporaryDirectory() as directory:
        engine = make_engine(f"sqlite:///{directory}/bench.db")
        upgrade(engine)
        started = time.perf_counter()
        load(engine, rows)
        print(f"loaded SQLite in {time.perf_counter() - started:.1f} s")
        measure("SQLite", engine, args.repeat, args.min_group)
        engine.dispose()

    if args.postgres:
        url = args.postgres.replace("postgresql://", "postgresql+psycopg://", 1).replace("postgres://", "postgresql+psycopg://", 1)
        admin = create_engine(url)
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
            connection.execute(text(f"CREATE SCHEMA {SCHEMA}"))
        engine = create_engine(url, connect_args={"options": f"-csearch_path={SCHEMA}"})
        try:
            upgrade(engine)
            started = time.perf_counter()
            load(engine, rows)
            print(f"loaded PostgreSQL in {time.perf_counter() - started:.1f} s")
            measure("PostgreSQL", engine, args.repeat, args.min_group)
        finally:
            engine.dispose()
            with admin.begin() as connection:
                connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
            admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
