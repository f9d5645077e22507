"""Slack answering 429s, 500s, 503s, timeouts and connection resets in bursts during a large delivery.

The clock delivers the load of tests/support/fault_load.py while a thread injects seeded bursts
of failures into the stand-in (every method alike; timeouts on posts), spread over the delivery (burst k when k/(n+1)
of the posts are out), so normal answers come in between. The bot's client retries some itself (429 after Retry-After, 5xx, resets); what it
gives up on becomes a passing failure, and the clock backs the row off (``retry_at``). A
timeout is an answer that comes too late: Slack did the work, so a post the bot believes
failed is already in the channel and the retry must find it by its metadata key. Between
ticks the backed-off rows' ``retry_at`` is moved to now, as if the backoff had passed. Once
the bursts end, everything is delivered exactly once and nothing failed for good.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections import Counter

from sqlalchemy import update

from bot.runtime.clock import MAX_ATTEMPTS, Clock
from storage import schedule
from storage.db import session_scope, utcnow
from storage.models import ScheduledAction
from tests.conftest import TEAM_ID
from tests.support.fault_load import accepted_posts, check_exactly_once, open_due, seed_load

GROUPS = 60
MEMBERS = 4
SEED = int(os.environ.get("COMPASS_FAULT_SEED", "4242"))  # another seed explores other bursts
CLIENT_TIMEOUT = 0.5  # seconds (the bot's default is 15); a timeout here is an answer 0.4 s later than that
KINDS = ("429", "500", "503", "timeout", "reset")


def burst_plan(rng: random.Random, count: int) -> list[tuple[str, int]]:
    """(kind, how many calls in a row fail); every kind at least twice."""
    kinds = [KINDS[n % len(KINDS)] for n in range(count)]
    rng.shuffle(kinds)
    return [(kind, rng.randint(2, 6)) for kind in kinds]


def inject(standin, kind: str, times: int) -> None:  # noqa: ANN001
    if kind == "429":
        standin.inject("*", retry_after=1, times=times)
    elif kind in ("500", "503"):
        standin.inject("*", status=int(kind), times=times)
    elif kind == "timeout":
        # Posts, so that Slack has carried out what the bot believes failed.
        standin.inject("chat.postMessage", delay=CLIENT_TIMEOUT + 0.4, times=times)
    else:
        standin.inject("*", reset=True, times=times)


def pull_retries_forward(engine) -> int:  # noqa: ANN001
    """The backoff has passed: backed-off rows are due again now."""
    with session_scope(engine) as session:
        result = session.execute(update(ScheduledAction)
                                 .where(ScheduledAction.status == schedule.PENDING, ScheduledAction.retry_at.is_not(None))
                                 .values(retry_at=utcnow()))
        return result.rowcount or 0


def test_bursts_of_slack_failures_end_with_everything_delivered_once(services, engine, standin, caplog):
    caplog.set_level(logging.INFO, logger="bot")
    load = seed_load(engine, standin, groups=GROUPS, members=MEMBERS, now=utcnow(), team_id=TEAM_ID, prefix="UB")
    services.clients.default.timeout = CLIENT_TIMEOUT
    standin.latency = 0.005
    plan = burst_plan(random.Random(SEED), 10)
    expected_posts = sum(load.expected().values())
    clock = Clock(services, worker_id="clock-bursts", batch=5, workers=4)

    bursts_over = threading.Event()

    def burst() -> None:
        for number, (kind, times) in enumerate(plan, start=1):
            while accepted_posts(standin) < expected_posts * number // (len(plan) + 1):
                time.sleep(0.002)  # normal answers in between
            before = len(standin.calls)
            inject(standin, kind, times)
            while len(standin.calls) < before + times:  # the clock's retries use up the last ones
                time.sleep(0.002)
        bursts_over.set()

    started = time.monotonic()
    burster = threading.Thread(target=burst, name="bursts", daemon=True)
    burster.start()
    reports = []
    while True:
        reports.append(clock.tick())
        if bursts_over.is_set() and open_due(engine, utcnow()) == 0:
            break
        assert len(reports) < 15, f"still not delivered after {len(reports)} ticks: {reports}"
        pulled = pull_retries_forward(engine)
        if not pulled and not reports[-1].total():
            time.sleep(0.05)  # the bursts go on; nothing is due until they hit something
    burster.join(timeout=5)
    elapsed = time.monotonic() - started

    summary = check_exactly_once(engine, standin, load)
    assert sum(r.failed for r in reports) == 0 and sum(r.dropped for r in reports) == 0
    assert summary["max_attempts"] < MAX_ATTEMPTS
    statuses = Counter("reset" if call.status is None else call.status for call in standin.calls)
    injected = Counter()
    for kind, times in plan:
        injected[kind] += times
    # The bursts really reached the bot, and it needed its retries.
    assert statuses[429] >= injected["429"] and statuses[500] >= injected["500"] and statuses["reset"] >= injected["reset"]
    assert summary["retried_rows"] > 0
    # Every post that timed out had reached the channel: its retry found it by its key and did not post again.
    found_again = caplog.text.count("was already posted")
    assert found_again >= injected["timeout"]
    print(f"\n{engine.dialect.name}: {summary['actions']} actions, {summary['posts']} posts through {len(plan)} bursts "
          f"{dict(injected)}; answers {dict(statuses)}; {len(reports)} ticks, {sum(r.retried for r in reports)} backoffs, "
          f"{summary['retried_rows']} rows needed more than one attempt (max {summary['max_attempts']}), {found_again} posts found by "
          f"metadata instead of posted again; {elapsed:.1f}s")
