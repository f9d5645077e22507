"""One clock process of bench_workspaces.py: the bot's own ``Clock``, noting where its time goes.

Argument: a JSON config (id, scale, batch, go, ready). It says it is ready, waits for the go file,
ticks until no row is due, and prints one JSON line: what it delivered, when the wave first reached
it, and its counts: token takes (row locks and round trips) and refusals, sleeps for a refill,
claims, time getting a workspace's Slack client, connections opened, and its database statements,
commits and connection checkouts.
"""

import json
import os
import re
import sys
import threading
import time
from datetime import timedelta

from sqlalchemy import event, text

import storage.rate_budgets as rate_budgets
from bot.runtime.clock import Clock, give_way_to_interactive_work
from bot.runtime.services import Services, SlackClients
from bot.runtime.settings import load_settings
from bot.slack.client import configure_rate_limits
from bot.slack.rate_limits import SlackRateLimiter
from storage import schedule
from storage.db import utcnow

config = json.loads(sys.argv[1])
stats = {"takes": 0, "take_s": 0.0, "refused": 0, "ahead": 0, "sleeps": 0, "sleep_s": 0.0, "claims": 0, "claimed": 0, "claim_s": 0.0,
         "empty_claims": 0, "client_s": 0.0, "connects": 0, "statements": 0, "commits": 0, "checkouts": 0}
# When (time.time()) the wave reached this clock: first tick, claim with rows, lane and granted take; refused takes by second.
moments, refused_at = {}, {}
lock = threading.Lock()
take_shared, claim_due = rate_budgets.SharedBuckets._take_shared, schedule.claim_due
deliver_lane, for_team = Clock._deliver_lane, SlackClients.for_team


def timed_take(self, buckets, ahead=0.0):
    started = time.perf_counter()
    wait = take_shared(self, buckets, ahead)
    with lock:
        stats["takes"] += 1
        stats["take_s"] += time.perf_counter() - started
        stats["refused"] += wait > ahead
        stats["ahead"] += 0 < wait <= ahead
        if wait > ahead:
            refused_at[int(time.time())] = refused_at.get(int(time.time()), 0) + 1
        else:
            moments.setdefault("first_take", time.time())
    return wait


def timed_sleep(seconds):
    with lock:
        stats["sleeps"] += 1
        stats["sleep_s"] += seconds
    time.sleep(seconds)


def timed_claim(*args, **kwargs):
    started = time.perf_counter()
    rows = claim_due(*args, **kwargs)
    with lock:
        stats["claims"] += 1
        stats["claimed"] += len(rows)
        stats["empty_claims"] += not rows
        stats["claim_s"] += time.perf_counter() - started
        if rows:
            moments.setdefault("first_claim", time.time())
    return rows


def timed_lane(self, lane, report):
    moments.setdefault("first_lane", time.time())
    return deliver_lane(self, lane, report)


def timed_for_team(self, team_id):
    started = time.perf_counter()
    client = for_team(self, team_id)
    with lock:
        stats["client_s"] += time.perf_counter() - started
    return client


TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE)\s+(\w+)|^SELECT\s+(\w+)\(")  # a table, or a function called
by_statement = {}


def count_statement(_connection, _cursor, statement, *_):
    """Statements by verb and first table ("SELECT members"), to see what a post costs."""
    verb, table = statement.split(None, 1)[0], TABLE.search(statement)
    kind = f"{verb} {table.group(1) or table.group(2)}" if table else verb
    with lock:
        stats["statements"] += 1
        by_statement[kind] = by_statement.get(kind, 0) + 1


def counter(name):
    def count(*_):
        with lock:
            stats[name] += 1
    return count


Clock._deliver_lane, SlackClients.for_team = timed_lane, timed_for_team
rate_budgets.SharedBuckets._take_shared = timed_take
schedule.claim_due = timed_claim
settings = load_settings()
give_way_to_interactive_work(settings.compass_clock_nice)  # as `compass-bot clock` does at start
services = Services.from_settings(settings)
configure_rate_limits(SlackRateLimiter(posts_per_minute=settings.compass_posts_per_minute, scale=config["scale"],
                                       store=rate_budgets.SharedBuckets(services.engine), sleep=timed_sleep))
# Budgets x scale stretch the wave's time by 1/scale; so the lease (5 minutes), or rows claimed ahead and waiting
# for their workspace's budget would outlive it where at Slack's pace they start within seconds.
clock = Clock(services, worker_id=config["id"], batch=config["batch"], lease=timedelta(minutes=5) / min(1.0, config["scale"]))
event.listen(services.engine, "connect", counter("connects"))
event.listen(services.engine, "before_cursor_execute", count_statement)
event.listen(services.engine, "commit", counter("commits"))
event.listen(services.engine.pool, "checkout", counter("checkouts"))
open(config["ready"], "w").close()
while not os.path.exists(config["go"]):
    time.sleep(0.005)
delivered = 0
moments["first_tick"] = time.time()
while True:
    report = clock.tick()
    delivered += report.delivered
    if report.total():
        continue
    with services.engine.connect() as connection:
        left = connection.execute(text("SELECT count(*) FROM scheduled_actions WHERE status IN ('pending', 'claimed') "
                                       "AND due_at <= :now"), {"now": utcnow()}).scalar()
    if not left:
        break
    time.sleep(0.1)
print(json.dumps({"id": config["id"], "delivered": delivered, "moments": moments, "refused_at": refused_at, "by_statement": by_statement, **stats}),
      flush=True)
