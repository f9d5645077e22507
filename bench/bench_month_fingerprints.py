"""The warm admin view with the month fingerprints kept by the database, against reading them from every answer.

Run from the project root (PostgreSQL; the data stays in the schema between runs)::

    .venv/bin/python bench/bench_month_fingerprints.py --load [--answers 5000000] [--months 30] \
        --postgres postgresql://postgres@127.0.0.1:5432/bench_report17d
    .venv/bin/python bench/bench_month_fingerprints.py [--rounds 3] [--repeat 5] --postgres ...
    .venv/bin/python bench/bench_month_fingerprints.py --drop --postgres ...
    .venv/bin/python bench/bench_month_fingerprints.py --writes 2000 [--postgres ...]

``--load`` generates the program of ``bench_admin_report.py``, loads it and takes the first
view (summaries and ledger). Without it, the same process, on the same data, times the warm
view (``storage.reports.admin_report``, best of ``--repeat``) with ``month_fingerprints`` as it
is (one row a month of ``survey_response_months``) and as it was at ``--before`` (per-month
range scans over every answer's index entry), alternately for ``--rounds`` rounds, so both see
the same load. Prints wall and CPU time of each, and the load average.

``--writes N`` times what the triggers cost the answers' writers instead: N transactions each
storing one survey's two answers, as ``storage.surveys.complete_survey`` does, then N deleting
them again, on an empty SQLite file and (with ``--postgres``) a scratch schema, with the
triggers and with them dropped, alternately.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from datetime import datetime, timedelta, timezone  # noqa: E402

from sqlalchemy import create_engine, delete, text  # noqa: E402
from sqlmodel import Session  # noqa: E402

import bench_admin_report as bench  # noqa: E402
import storage.pulse_cache as pulse_cache  # noqa: E402
from storage.db import make_engine  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import Survey, SurveyResponse  # noqa: E402

SCHEMA = "bench_month_fingerprints"
BEFORE = "60a2dfc"  # the last commit reading the fingerprints from the answers


def fingerprints_as_at(commit: str):  # noqa: ANN201 - the function of that commit
    source = subprocess.run(["git", "show", f"{commit}:storage/pulse_aggregates.py"], capture_output=True, text=True,
                            check=True, cwd=Path(__file__).resolve().parent.parent).stdout
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as file:
        file.write(source)
    spec = importlib.util.spec_from_file_location("pulse_aggregates_before", file.name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    os.unlink(file.name)
    return module.month_fingerprints


def warm_view(engine, repeat: int) -> tuple[float, float]:  # noqa: ANN001
    """Best wall time of ``repeat`` warm views, and that view's CPU time, in ms."""
    bench.view(engine, 5)
    timings = []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        bench.view(engine, 5)
        timings.append(((time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000))
    return min(timings)


TRIGGERS = ("insert", "delete", "update", "truncate")


def writes(engine, count: int, start: int) -> tuple[float, float]:  # noqa: ANN001
    """Mean ms per transaction storing one survey's two answers, then per transaction deleting them."""
    moment = datetime(2026, 3, 1, tzinfo=timezone.utc)
    surveys = []
    started = time.perf_counter()
    for number in range(start, start + count):
        with Session(engine) as session:
            survey = Survey(team_id="TBENCH", slack_user_id=f"U{number:08d}", kind="pulse", wave=f"w{number}",
                            instruments="who5,burnout", status="completed", sent_at=moment, completed_at=moment)
            session.add(survey)
            session.flush()
            for instrument in ("who5", "burnout"):
                session.add(SurveyResponse(survey_id=survey.id, team_id="TBENCH", slack_user_id=survey.slack_user_id,
                                           instrument=instrument, score=3.0, answered_at=moment + timedelta(seconds=number)))
            session.commit()
            surveys.append(survey.id)
    stored = time.perf_counter() - started
    started = time.perf_counter()
    for survey_id in surveys:
        with Session(engine) as session:
            session.execute(delete(SurveyResponse).where(SurveyResponse.survey_id == survey_id))
            session.commit()
    return stored / count * 1000, (time.perf_counter() - started) / count * 1000


def time_writes(name: str, engine, count: int) -> None:  # noqa: ANN001
    upgrade(engine)
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as connection:
        definitions = {} if postgres else dict(connection.execute(text(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'survey_responses'")).all())
    writes(engine, count // 10, 0)  # warm up
    for round_ in range(1, 3):
        for triggers in (True, False):
            with engine.begin() as connection:
                for event in TRIGGERS:
                    name_ = f"survey_response_months_{event}"
                    if postgres:
                        state = "ENABLE" if triggers else "DISABLE"
                        connection.execute(text(f"ALTER TABLE survey_responses {state} TRIGGER {name_}"))
                    elif name_ in definitions:
                        connection.execute(text(f"DROP TRIGGER IF EXISTS {name_}"))
                        if triggers:
                            connection.execute(text(definitions[name_]))
            stored, deleted = writes(engine, count, round_ * 10 * count + (0 if triggers else count))
            print(f"{name}, round {round_}, {'with' if triggers else 'without'} the triggers: {stored:.2f} ms a "
                  f"transaction storing two answers, {deleted:.2f} ms deleting them; load average "
                  f"{', '.join(f'{load:.1f}' for load in os.getloadavg())}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", metavar="URL")
    parser.add_argument("--writes", type=int, metavar="N", help="time N writing transactions with and without the triggers")
    parser.add_argument("--load", action="store_true")
    parser.add_argument("--drop", action="store_true")
    parser.add_argument("--answers", type=int, default=5_000_000)
    parser.add_argument("--months", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--before", default=BEFORE, help=f"the commit to compare with (default {BEFORE})")
    args = parser.parse_args()
    if args.writes:
        with tempfile.TemporaryDirectory() as directory:
            engine = make_engine(f"sqlite:///{directory}/writes.db")
            time_writes("SQLite", engine, args.writes)
            engine.dispose()
        if args.postgres:
            url = args.postgres.replace("postgresql://", "postgresql+psycopg://", 1)
            admin = create_engine(url)
            with admin.begin() as connection:
                connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA}_writes CASCADE"))
                connection.execute(text(f"CREATE SCHEMA {SCHEMA}_writes"))
            engine = create_engine(url, connect_args={"options": f"-csearch_path={SCHEMA}_writes"})
            try:
                time_writes("PostgreSQL", engine, args.writes)
            finally:
                engine.dispose()
                with admin.begin() as connection:
                    connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA}_writes CASCADE"))
                admin.dispose()
        return 0
    if not args.postgres:
        parser.error("--postgres is needed")
    url = args.postgres.replace("postgresql://", "postgresql+psycopg://", 1)
    if args.load or args.drop:
        admin = create_engine(url)
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
            if args.load:
                connection.execute(text(f"CREATE SCHEMA {SCHEMA}"))
        admin.dispose()
        if args.drop:
            return 0
    engine = create_engine(url, connect_args={"options": f"-csearch_path={SCHEMA}"})
    if args.load:
        rows = bench.generate(args.answers, 0, args.months)
        upgrade(engine)
        started = time.perf_counter()
        bench.load(engine, rows)
        print(f"loaded {len(rows[4]):,} answers of {len(rows[0]):,} people in {time.perf_counter() - started:.1f} s")
        del rows
        started = time.perf_counter()
        bench.view(engine, 5)
        print(f"first view in {time.perf_counter() - started:.1f} s")
        return 0
    kept, before = pulse_cache.month_fingerprints, fingerprints_as_at(args.before)
    for round_ in range(1, args.rounds + 1):
        for name, fingerprints in (("kept by the database", kept), (f"read from the answers ({args.before})", before)):
            pulse_cache.month_fingerprints = fingerprints
            wall, cpu = warm_view(engine, args.repeat)
            print(f"round {round_}, fingerprints {name}: warm view {wall:.0f} ms (CPU {cpu:.0f} ms), "
                  f"load average {', '.join(f'{load:.1f}' for load in os.getloadavg())}", flush=True)
    pulse_cache.month_fingerprints = kept
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
