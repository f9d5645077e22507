"""The PostgreSQL server restarted in the middle of a run: the bot reconnects and carries on.

A PostgreSQL server of the test's own (tests/support/private_postgres.py; the shared one on
5432 is never touched) holds the schedule of a large delivery. While the clock delivers it,
the server is stopped (``pg_ctl stop -m fast``: every connection is cut) and started again.
During the outage the bot's real HTTP endpoint still answers: /healthz says 503, a command
gets the kind "couldn't reach my database" answer, an event gets a 503 so Slack retries it; after it the same
requests work. Meanwhile the clock's ticks fail, are logged, and the ticks after the restart
carry on: everything is delivered exactly once.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import httpx
import pytest
from sqlalchemy.exc import SQLAlchemyError

import bot.runtime.clock
import bot.flows.sessions
from bot.runtime.clock import Clock
from bot.runtime.settings import load_settings
from bot.runtime.services import Services
from storage.db import make_engine, utcnow
from storage.migrate import upgrade
from tests.conftest import ADMIN_ID, BOT_TOKEN, SIGNING_SECRET, TEAM_ID
from tests.support.fault_load import accepted_posts, check_exactly_once, open_due, seed_load
from tests.support.private_postgres import private_postgres  # noqa: F401 (a fixture)
from tests.support.server import running_bot
from tests.support.slack_requests import SlackRequests
from tests.support.waiting import eventually

GROUPS = 80
MEMBERS = 4
LEASE = timedelta(seconds=2)


def test_clock_and_web_carry_on_after_postgresql_restarts(private_postgres, standin, responses, monkeypatch):
    # Minutes compressed into seconds, as in tests/support/processes.py: the lease, the takeover of an
    # interrupted session post (kept below the lease) and the retry backoff.
    monkeypatch.setattr(bot.runtime.clock, "BASE_BACKOFF", timedelta(seconds=0.2))
    monkeypatch.setattr(bot.flows.sessions, "POST_CLAIM_STALE", LEASE * 0.75)
    settings = load_settings(_env_file=None, slack_bot_token=BOT_TOKEN, slack_signing_secret=SIGNING_SECRET, slack_app_token=None,
                             slack_client_id=None, slack_client_secret=None, slack_api_url=standin.url,
                             database_url=private_postgres.url, compass_admins=ADMIN_ID)
    engine = make_engine(settings.database_url)
    upgrade(engine)
    services = Services(settings=settings, engine=engine)
    load = seed_load(engine, standin, groups=GROUPS, members=MEMBERS, now=utcnow(), team_id=TEAM_ID, prefix="UP")
    expected_posts = sum(load.expected().values())
    standin.latency = 0.04  # slow enough that the restart lands in the middle of the delivery
    clock = Clock(services, worker_id="clock-pg", batch=5, lease=LEASE, workers=4)

    ticks = {"total": 0, "during_outage": 0}
    outage = threading.Event()
    finished = threading.Event()

    def run_clock() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            clock.tick()  # never raises: an unreachable database is logged and tried again next tick
            ticks["total"] += 1
            if outage.is_set():
                ticks["during_outage"] += 1
            try:
                if open_due(engine, utcnow()) == 0 and not outage.is_set():
                    finished.set()
                    return
            except SQLAlchemyError:
                pass
            time.sleep(0.05)

    with running_bot(services) as url:
        slack = SlackRequests(endpoint=f"{url}/slack/events", signing_secret=SIGNING_SECRET, team_id=TEAM_ID,
                              responses=responses, standin=standin)
        runner = threading.Thread(target=run_clock, name="clock-runner", daemon=True)
        started = time.monotonic()
        runner.start()
        eventually(lambda: accepted_posts(standin) >= expected_posts // 4, timeout=60, interval=0.005,
                   message="the clock did not get going")
        posts_before = accepted_posts(standin)
        outage.set()
        private_postgres.stop("fast")
        try:
            health = httpx.get(f"{url}/healthz", timeout=10)
            assert health.status_code == 503 and health.json()["database"] == "unreachable"
            assert slack.command("U0ANA", "pause").status_code == 200
            during = eventually(lambda: responses.messages(slack.last_response_url), timeout=20)[-1]["text"]
            assert "couldn't reach my database" in during
            home_event = {"type": "app_home_opened", "user": "U0BEN", "tab": "home", "channel": "D0BEN"}
            event_during = slack.event(home_event, event_id="Ev0OUTAGE")
            # Not recorded, so not handled: a 503 makes Slack send it again (below, once the server is back).
            assert event_during.status_code == 503 and "Traceback" not in event_during.text
            time.sleep(0.5)  # the clock keeps ticking against a dead server meanwhile
            assert runner.is_alive()
        finally:
            private_postgres.start()
            outage.clear()
        posts_during_outage = accepted_posts(standin) - posts_before

        # Back: the same command works, health is green, a new event publishes the Home tab (once).
        assert slack.command("U0ANA", "pause").status_code == 200
        after = eventually(lambda: responses.messages(slack.last_response_url), timeout=20)[-1]["text"]
        assert "haven't joined Compass" in after
        assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
        assert not [c for c in standin.calls_to("views.publish") if c.args.get("user_id") == "U0BEN"]
        assert slack.event(home_event, event_id="Ev0OUTAGE", retry_num=1).status_code == 200  # Slack's retry
        eventually(lambda: any(c.args.get("user_id") == "U0BEN" for c in standin.calls_to("views.publish")), timeout=20)
        assert slack.event(home_event, event_id="Ev0OUTAGE", retry_num=2).status_code == 200  # a late duplicate retry
        assert finished.wait(timeout=120), "the clock did not finish the delivery after the restart"
        elapsed = time.monotonic() - started
        time.sleep(0.3)
        assert sum(1 for c in standin.calls_to("views.publish") if c.args.get("user_id") == "U0BEN") == 1
        slack.close()
    runner.join(timeout=10)

    summary = check_exactly_once(engine, standin, load)
    engine.dispose()
    assert summary["retried_rows"] > 0, "the restart did not interrupt any delivery"
    print(f"\n{summary['actions']} actions, {summary['posts']} posts; restart after {posts_before} posts "
          f"({posts_during_outage} accepted while the server was down or starting); {ticks['during_outage']} ticks during the "
          f"outage, {summary['retried_rows']} rows retried (max attempts {summary['max_attempts']}); "
          f"event during outage answered {event_during.status_code}; {elapsed:.1f}s")
