"""Four clocks share one Slack budget through a kill -9 and a PostgreSQL restart, mid-wave.

On a PostgreSQL server of the test's own (tests/support/private_postgres.py; the shared server is
never touched), four real clock processes deliver a wave larger than the workspace's post budget
(the stand-in enforces Slack's, here at 120 posts a minute: a burst of 120, then 2 a second, and
answers 429 beyond it). Once the wave has spent its burst, one clock is killed with SIGKILL (its claimed
rows come back when their lease ends) and then the server is stopped and started again (every
connection cut; the clocks take their tokens from a quarter of the budget each in memory meanwhile,
and give the shared rows what they spent once it is back). Then: every action delivered once,
nothing posted twice, and the stand-in answered no call 429 (the budget was never exceeded).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from bot.standin import RateLimits
from storage.db import make_engine, utcnow
from storage.migrate import upgrade
from tests.conftest import TEAM_ID
from tests.support.fault_load import accepted_posts, check_exactly_once, seed_load
from tests.support.private_postgres import private_postgres  # noqa: F401 (a fixture)
from tests.support.processes import ROOT, bot_env
from tests.support.waiting import eventually

CLOCKS = 4
GROUPS = 50  # about 175 posts: the burst of 120, then about 27 s at 2 a second
MEMBERS = 4
POSTS_PER_MINUTE = 120  # low enough that the budget, not this machine's pace, binds after the burst
LEASE = 30.0  # longer than a claimed row waits for the budget behind the others a clock holds

WORKER = """
import json, os, sys, time
from datetime import timedelta
config = json.loads(sys.argv[1])

import logging
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(threadName)s %(name)s %(levelname)s %(message)s")
logging.getLogger("slack_sdk").setLevel(logging.WARNING)

import bot.runtime.clock
import bot.flows.sessions
from sqlalchemy.exc import SQLAlchemyError
from bot.runtime.clock import Clock
from bot.runtime.settings import load_settings
from bot.runtime.services import Services
from bot.slack.client import configure_rate_limits
from bot.slack.rate_limits import SlackRateLimiter
from storage.db import utcnow
from storage.rate_budgets import SharedBuckets
from tests.support.fault_load import open_due

bot.runtime.clock.BASE_BACKOFF = timedelta(seconds=0.2)
bot.flows.sessions.POST_CLAIM_STALE = timedelta(seconds=config["lease"] * 0.75)
settings = load_settings()
services = Services.from_settings(settings)
store = SharedBuckets(services.engine, fallback_share=1 / config["clocks"])
configure_rate_limits(SlackRateLimiter(posts_per_minute=settings.compass_posts_per_minute, store=store))
clock = Clock(services, worker_id=config["id"], batch=2, lease=timedelta(seconds=config["lease"]), workers=2)
open(config["ready"], "w").close()
while not os.path.exists(config["go"]):
    time.sleep(0.005)
delivered = 0
while True:
    report = clock.tick()
    delivered += report.delivered
    if report.total():
        continue
    try:
        left = open_due(services.engine, utcnow())
    except SQLAlchemyError:
        left = -1
    if left == 0:
        break
    time.sleep(0.1)
print(json.dumps({"id": config["id"], "delivered": delivered, "fallbacks": store.fallbacks}), flush=True)
"""


def test_four_clocks_keep_the_budget_through_a_kill_and_a_postgresql_restart(private_postgres, standin, tmp_path):
    engine = make_engine(private_postgres.url)
    upgrade(engine)
    load = seed_load(engine, standin, groups=GROUPS, members=MEMBERS, now=utcnow(), team_id=TEAM_ID, prefix="UB")
    expected_posts = sum(load.expected().values())
    burst = POSTS_PER_MINUTE
    assert expected_posts > burst + 40, "the wave must outlast the burst for the budget to bind"
    standin.rate_limits = RateLimits(post_message_per_minute=POSTS_PER_MINUTE)  # Slack's budgets, enforced
    standin.latency = 0.03

    env = bot_env(slack_api_url=standin.url, database_url=private_postgres.url)
    env["COMPASS_POSTS_PER_MINUTE"] = str(POSTS_PER_MINUTE)
    go = tmp_path / "go"
    clocks, logs = [], []
    for n in range(CLOCKS):
        config = {"id": f"clock-{n}", "lease": LEASE, "clocks": CLOCKS, "go": str(go), "ready": str(tmp_path / f"ready-{n}")}
        logs.append(open(tmp_path / f"clock-{n}.log", "w"))  # noqa: SIM115 - closed below
        clocks.append(subprocess.Popen([sys.executable, "-c", WORKER, json.dumps(config)], env=env, cwd=ROOT,
                                       stdout=subprocess.PIPE, stderr=logs[-1], text=True))
    try:
        eventually(lambda: all((tmp_path / f"ready-{n}").exists() for n in range(CLOCKS)), timeout=60,
                   message="the clocks did not start")
        started = time.monotonic()
        go.touch()

        eventually(lambda: accepted_posts(standin) >= burst + 10, timeout=60, interval=0.01,
                   message="the wave did not get past its burst")
        killed_at = accepted_posts(standin)
        clocks[0].kill()  # SIGKILL, mid-wave: its claimed rows wait for their lease to end
        clocks[0].wait(timeout=30)

        eventually(lambda: accepted_posts(standin) >= killed_at + 10, timeout=60, interval=0.01,
                   message="the three other clocks did not carry on")
        restarted_at = accepted_posts(standin)
        private_postgres.stop("fast")
        time.sleep(1.0)  # the clocks' deliveries in flight, and their ticks, meet a dead server
        private_postgres.start()
        assert restarted_at < expected_posts, "the wave ended before the restart; make it larger"

        results = []
        for clock in clocks[1:]:
            out, _ = clock.communicate(timeout=150)
            assert clock.returncode == 0, (tmp_path / "clock-1.log").read_text()[-3000:]
            results.append(json.loads(out.strip().splitlines()[-1]))
        elapsed = time.monotonic() - started
    finally:
        for clock in clocks:
            if clock.poll() is None:
                clock.kill()
                clock.wait(timeout=30)
        for log in logs:
            log.close()

    summary = check_exactly_once(engine, standin, load)
    engine.dispose()
    refused = standin.rate_limits.rejected_total
    assert refused == 0, f"Slack's budget was exceeded: {dict(standin.rate_limits.rejected)}"
    assert summary["retried_rows"] > 0, "neither the kill nor the restart interrupted a delivery"
    # The three clocks together could not have sent this wave faster than Slack's budget allows.
    assert elapsed >= (expected_posts - burst) / (POSTS_PER_MINUTE / 60) * 0.95
    print(f"\n{summary['actions']} actions, {summary['posts']} posts by {CLOCKS} clocks in {elapsed:.1f} s; killed one after "
          f"{killed_at} posts, restarted PostgreSQL after {restarted_at}; {summary['retried_rows']} rows retried; "
          f"{sum(r['fallbacks'] for r in results)} tokens decided in memory during the outage; 0 calls answered 429")
