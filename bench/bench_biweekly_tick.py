"""The busiest heartbeat of a biweekly cycle at health-system scale, against Slack's rate limits.

Run from the project root::

    .venv/bin/python bench/bench_biweekly_tick.py [--members 10000] [--groups 1400] [--scale 20]
        [--latency 0.05] [--workers 16] [--database-url URL]

It seeds 10,000 members in 1,400 groups (of 7 and 8) whose second session ended two
hours ago, so one ``Clock.tick()`` owes every group its attendance check (a DM to the
lead) and every member the pulse survey that follows each second session (a DM each:
11,400 posts). The Slack stand-in answers after ``--latency`` seconds and enforces
Slack's tiers (chat.postMessage: 1 a second per channel plus the workspace budget,
default 300 a minute); the bot's own limiter uses the same budgets. ``--scale``
multiplies every budget on both sides alike, so the run takes a minute or two instead
of 40 minutes; the figure is the ratio, which does not depend on it.

The baseline is the rate-limit bound: for every budget the calls actually made needed
(each chat.postMessage spends the workspace budget and its channel's), the time a
perfect sender would take, ``max(0, calls - burst) / rate``; the bound is the largest.
It prints the tick's wall time, the bound, their ratio (target: at most 1.10) and the
share of calls answered 429 (target: under 1%).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.domain import group_series as gs  # noqa: E402
from bot.runtime.clock import Clock  # noqa: E402
from bot.runtime.settings import load_settings  # noqa: E402
from bot.slack.rate_limits import POST_MESSAGE, SlackRateLimiter, budgets_for  # noqa: E402
from bot.domain.scheduling import SessionSlot  # noqa: E402
from bot.runtime.services import Services  # noqa: E402
from bot.slack.client import configure_rate_limits  # noqa: E402
from bot.standin import SlackStandIn  # noqa: E402
from bot.standin.ratelimits import RateLimits  # noqa: E402
from storage import groups as store  # noqa: E402
from storage import schedule  # noqa: E402
from storage.db import make_engine, session_scope, utcnow  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import Member  # noqa: E402
from storage.workspaces import ensure_workspace  # noqa: E402

TEAM = "T0BENCH"
TOKEN = "xoxb-bench"
TZ = "America/Chicago"
POSTS_PER_MINUTE = 300


def group_sizes(members: int, groups: int) -> list[int]:
    base, extra = divmod(members, groups)
    return [base + 1 if g < extra else base for g in range(groups)]


def seed(engine, standin: SlackStandIn, sizes: list[int]) -> int:  # noqa: ANN001
    """Groups whose second session ended two hours ago; returns the number of actions due."""
    now = utcnow()
    second_start = (now - gs.ATTENDANCE_AFTER - timedelta(minutes=1)).replace(microsecond=0)
    due = 0
    with session_scope(engine) as session:
        ensure_workspace(session, team_id=TEAM)
        for g, size in enumerate(sizes):
            people = [f"UB{g:04d}{m:02d}" for m in range(size)]
            for user_id in people:
                standin.add_user(user_id, tz=TZ)
                session.add(Member(team_id=TEAM, slack_user_id=user_id, status="active", consented_at=now, created_at=now,
                                   updated_at=now, timezone=TZ, stage="attending"))
            channel = standin.add_channel(f"compass-bench-{g:04d}", is_private=True, members=["UBOT", *people])
            group = store.create_group(session, team_id=TEAM, name=f"Bench {g}", cohort="bench", mode="mixed", audience="all",
                                       timezone=TZ, lead_user_id=people[0], member_ids=people, now=now)
            local = second_start.astimezone(ZoneInfo(TZ))
            group.channel_id, group.status = channel, "active"
            group.weekday, group.local_time = local.weekday(), f"{local:%H:%M}"
            slots = [SessionSlot(n + 1, second_start + timedelta(days=14 * (n - 1)), (local + timedelta(days=14 * (n - 1))).date())
                     for n in range(12)]
            rows = store.save_sessions(session, group_id=group.id, cycle=1, slots=slots)
            rows[0].status = "held"
            for action in gs.planned_actions(group.id, 1, slots):
                if action.due_at <= now and action.kind in (gs.ATTENDANCE_KIND, gs.PULSE_KIND) and action.due_at > second_start:
                    schedule.schedule(session, key=action.key, kind=action.kind, due_at=action.due_at, team_id=TEAM,
                                      payload=action.payload)
                    due += 1
    return due


def rate_limit_bound(calls, *, scale: float) -> tuple[float, str]:  # noqa: ANN001
    """Seconds a perfect sender needs for these calls under the budgets, and the budget that binds."""
    spent: Counter = Counter()
    for call in calls:
        channel = call.args.get("channel") if call.method == POST_MESSAGE else None
        for scope, capacity, per_second in budgets_for(call.method, posts_per_minute=POSTS_PER_MINUTE, scale=scale):
            key = (call.method, channel if scope == "channel" else "*")
            spent[key] += 1
            spent.setdefault(("capacity", key), capacity)  # type: ignore[call-overload]
            spent.setdefault(("rate", key), per_second)  # type: ignore[call-overload]
    best, binding = 0.0, "none"
    for key, count in spent.items():
        if key[0] in ("capacity", "rate"):
            continue
        needed = max(0.0, count - spent[("capacity", key)]) / spent[("rate", key)]
        if needed > best:
            best, binding = needed, f"{key[0]} {'workspace' if key[1] == '*' else 'channel ' + key[1]}: {count} calls"
    return best, binding


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--groups", type=int, default=1_400)
    parser.add_argument("--scale", type=float, default=20.0, help="every budget times this, on both sides")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds the stand-in takes to answer")
    # 8 (the default setting) keeps Slack's real budget of 5 posts a second busy even at 1 s a call;
    # 20 times that budget at 50 ms a call needs more calls in flight.
    parser.add_argument("--workers", type=int, default=16, help="COMPASS_CLOCK_WORKERS (default 16 for --scale 20)")
    parser.add_argument("--database-url", help="default: a fresh SQLite file (give PostgreSQL an empty database)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, SlackStandIn(team_id=TEAM, bot_token=TOKEN, bot_user_id="UBOT") as standin:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        settings = load_settings(_env_file=None, slack_bot_token=TOKEN, slack_signing_secret="x", slack_api_url=standin.url,
                                 database_url=url, compass_posts_per_minute=POSTS_PER_MINUTE, compass_clock_workers=args.workers)
        engine = make_engine(settings.database_url)
        upgrade(engine)
        services = Services(settings=settings, engine=engine)
        started = time.perf_counter()
        due = seed(engine, standin, group_sizes(args.members, args.groups))
        print(f"seeded {args.members} members in {args.groups} groups, {due} actions due, "
              f"in {time.perf_counter() - started:.1f} s ({engine.dialect.name})")

        standin.latency = args.latency
        standin.rate_limits = RateLimits(scale=args.scale, post_message_per_minute=POSTS_PER_MINUTE, clock=time.monotonic)
        configure_rate_limits(SlackRateLimiter(posts_per_minute=POSTS_PER_MINUTE, scale=args.scale))
        before = len(standin.calls)
        started = time.perf_counter()
        report = Clock(services).tick()
        elapsed = time.perf_counter() - started
        calls = standin.calls[before:]
        answered = [c for c in calls if c.status is not None]
        limited = sum(1 for c in answered if c.status == 429)
        bound, binding = rate_limit_bound([c for c in answered if c.status != 429], scale=args.scale)
        posts = sum(1 for c in answered if c.method == POST_MESSAGE and c.status == 200)
        print(f"one tick: {report.delivered} delivered, {report.dropped} dropped, {report.retried} retried, {report.failed} failed; "
              f"{posts} posts, {len(answered)} calls ({dict(Counter(c.method for c in answered))})")
        print(f"  wall {elapsed:.1f} s; rate-limit bound {bound:.1f} s ({binding}); "
              f"ratio {elapsed / bound if bound else float('inf'):.3f} (target <= 1.10)")
        print(f"  429s: {limited} of {len(answered)} calls = {100 * limited / max(len(answered), 1):.2f}% (target < 1%); "
              f"scale {args.scale:g}, latency {1000 * args.latency:.0f} ms, {args.workers} workers")
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
