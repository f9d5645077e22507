"""The warm admin view with the month fingerprints kept by the database, against reading them from every answer.

Run from the project root (PostgreSQL; the data stays in the schema between runs)::

    .venv/bin/python bench/bench_month_fingerprints.py --load [--answers 5000000] [--months 30] \
        --postgres postgresql://postgres@127.0.0.1:5432/bench_report17d
    .venv/bin/python bench/bench_month_fingerprints.py [--rounds 3] [--repeat 5] --postgres ...
    .venv/bin/python bench/bench_month_fingerprints.py --drop --postgres ...

``--load`` generates the program of ``bench_admin_report.py``, loads it and takes the first
view (summaries and ledger). Without it, the same process, on the same data, times the warm
view (``storage.reports.admin_report``, best of ``--repeat``) with ``month_fingerprints`` as it
is (one row a month of ``survey_response_months``) and as it was at ``--before`` (per-month
range scans over every answer's index entry), alternately for ``--rounds`` rounds, so both see
the same load. Prints wall and CPU time of each, and the load average.
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

from sqlalchemy import create_engine, text  # noqa: E402

import bench_admin_report as bench  # noqa: E402
import storage.pulse_cache as pulse_cache  # noqa: E402
from storage.migrate import upgrade  # noqa: E402

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", metavar="URL", required=True)
    parser.add_argument("--load", action="store_true")
    parser.add_argument("--drop", action="store_true")
    parser.add_argument("--answers", type=int, default=5_000_000)
    parser.add_argument("--months", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--before", default=BEFORE, help=f"the commit to compare with (default {BEFORE})")
    args = parser.parse_args()
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
