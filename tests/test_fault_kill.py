"""`kill -9` of the clock process at seeded random moments during a large delivery, then a restart.

Each round lets a real clock process (tests/support/processes.py) on the test database tick
and SIGKILLs it 0.1-1.2 s later (seeded, so the kill points are the same
on every run); a last one runs until nothing due is left. The stand-in answers each call
50 ms after carrying it out, so a kill often lands between Slack accepting a post and the
database recording it: the retry must find that post by its metadata key instead of posting
again. Then the stand-in's record is compared with the schedule (tests/support/fault_load.py).
Runs on SQLite (one clock at a time; its lock file must not outlive a killed clock) and on
PostgreSQL when TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import os
import random
import time

from storage.db import utcnow
from tests.conftest import TEAM_ID
from tests.support.fault_load import accepted_posts, check_exactly_once, seed_load
from tests.support.processes import ClockWorker, bot_env

GROUPS = 100
MEMBERS = 4
KILLS = 4
SEED = int(os.environ.get("COMPASS_FAULT_SEED", "9117"))  # another seed explores other kill points
LEASE = 2.0


def test_a_clock_killed_at_random_moments_loses_and_duplicates_nothing(engine, standin, database_url, tmp_path):
    load = seed_load(engine, standin, groups=GROUPS, members=MEMBERS, now=utcnow(), team_id=TEAM_ID)
    # Slack has stored each post 50 ms before the bot hears so: a kill often lands in between. It also bounds
    # the pace (4 threads, at most 80 posts a second), so no clock finishes the whole load before its kill.
    standin.latency = 0.05
    env = bot_env(slack_api_url=standin.url, database_url=database_url)
    rng = random.Random(SEED)
    started = time.monotonic()
    kills = []

    # Every clock is started (Python and the bot imported) at once and waits for its go file, so that each
    # restart follows its kill at once; each takes the SQLite clock lock only when it goes.
    names = [f"clock-{n}" for n in range(KILLS)] + ["clock-last"]
    workers = [ClockWorker(env, tmp_path, name, lease=LEASE, batch=5, workers=4, go=tmp_path / f"{name}.go") for name in names]
    try:
        for worker in workers[:-1]:
            worker.wait_ready()
            before = accepted_posts(standin)
            pause = rng.uniform(0.1, 1.2)
            (tmp_path / f"{worker.id}.go").touch()
            time.sleep(pause)
            assert worker.kill(), f"{worker.id} finished the whole delivery before its kill; make the load larger: {kills}"
            kills.append((round(pause, 2), accepted_posts(standin) - before))
        last = workers[-1]
        last.wait_ready()
        (tmp_path / "clock-last.go").touch()
        result = last.result(timeout=180)
    finally:
        for worker in workers:
            worker.stop()
    elapsed = time.monotonic() - started

    summary = check_exactly_once(engine, standin, load)
    assert summary["retried_rows"] > 0, "no kill landed while rows were claimed"
    assert result["delivered"] > 0
    logs = "".join((tmp_path / f"clock-{n}.log").read_text() for n in range(KILLS)) + last.log.read_text()
    assert "Traceback" not in last.log.read_text()
    found_again = logs.count("was already posted")
    print(f"\n{engine.dialect.name}: {summary['actions']} actions, {summary['posts']} posts; kills (seconds after start, posts "
          f"accepted in that life) {kills}; {summary['retried_rows']} rows claimed again (max attempts "
          f"{summary['max_attempts']}); {found_again} posts found by metadata instead of posted again; {elapsed:.1f}s")
