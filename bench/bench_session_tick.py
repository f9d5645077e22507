"""How long one heartbeat takes when many groups have a session at the same moment.

Run from the project root::

    .venv/bin/python bench/bench_session_tick.py [--groups 200] [--members 7] [--database-url URL] [--profile]

It seeds the groups in a fresh SQLite file (or the PostgreSQL database you name: its
tables are used as they are, so give it an empty one), starts the Slack stand-in on
127.0.0.1 with Slack's rate limits off, makes every group's session post, lead note and
reminders due at once, and times ``Clock.tick()`` delivering them all. It prints the wall
time, actions and posts per second, and with ``--profile`` the 25 costliest functions.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.domain import group_series as gs  # noqa: E402
from bot.runtime.clock import Clock  # noqa: E402
from bot.runtime.settings import load_settings  # noqa: E402
from bot.slack.rate_limits import SlackRateLimiter  # noqa: E402
from bot.domain.scheduling import SessionSlot  # noqa: E402
from bot.runtime.services import Services  # noqa: E402
from bot.slack.client import configure_rate_limits  # noqa: E402
from bot.standin import SlackStandIn  # noqa: E402
from storage import groups as store  # noqa: E402
from storage import schedule  # noqa: E402
from storage.db import make_engine, session_scope, utcnow  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import Member  # noqa: E402
from storage.workspaces import ensure_workspace  # noqa: E402

TEAM = "T0BENCH"
TOKEN = "xoxb-bench"
TZ = "America/Chicago"
# Each group has one of these actions due now (a quarter each): the busiest mix a heartbeat sees.
DUE = {"post": timedelta(seconds=-30), "remind1h": timedelta(minutes=55), "remind24h": timedelta(hours=23, minutes=55),
       "attendance": timedelta(hours=-2, minutes=-1)}


def seed(engine, standin: SlackStandIn, groups: int, members: int) -> None:  # noqa: ANN001
    now = utcnow()
    kinds = list(DUE)
    with session_scope(engine) as session:
        ensure_workspace(session, team_id=TEAM)
        for g in range(groups):
            people = [f"UB{g:04d}{m:02d}" for m in range(members)]
            for user_id in people:
                standin.add_user(user_id, tz=TZ)
                session.add(Member(team_id=TEAM, slack_user_id=user_id, status="active", consented_at=now, created_at=now,
                                   updated_at=now, timezone=TZ))
            channel = standin.add_channel(f"compass-bench-{g:04d}", is_private=True, members=["UBOT", *people])
            group = store.create_group(session, team_id=TEAM, name=f"Bench {g}", cohort="bench", mode="mixed", audience="all",
                                       timezone=TZ, lead_user_id=people[0], member_ids=people, now=now)
            start = (now + DUE[kinds[g % len(kinds)]]).replace(microsecond=0)
            group.channel_id, group.status = channel, "active"
            local = start.astimezone(gs.ZoneInfo(TZ))
            group.weekday, group.local_time = local.weekday(), f"{local:%H:%M}"
            slots = [SessionSlot(n + 1, start + timedelta(days=14 * n), (local + timedelta(days=14 * n)).date()) for n in range(12)]
            store.save_sessions(session, group_id=group.id, cycle=1, slots=slots)
            for action in gs.session_actions(group.id, 1, slots[0]):
                if action.due_at <= now:
                    schedule.schedule(session, key=action.key, kind=action.kind, due_at=action.due_at, team_id=TEAM,
                                      payload=action.payload)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--members", type=int, default=7)
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, SlackStandIn(team_id=TEAM, bot_token=TOKEN, bot_user_id="UBOT") as standin:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        settings = load_settings(_env_file=None, slack_bot_token=TOKEN, slack_signing_secret="x", slack_api_url=standin.url,
                                 database_url=url, compass_posts_per_minute=10_000)
        engine = make_engine(settings.database_url)
        upgrade(engine)
        services = Services(settings=settings, engine=engine)
        configure_rate_limits(SlackRateLimiter(posts_per_minute=settings.compass_posts_per_minute, scale=1_000))
        started = time.perf_counter()
        seed(engine, standin, args.groups, args.members)
        print(f"seeded {args.groups} groups of {args.members} in {time.perf_counter() - started:.1f} s ({engine.dialect.name})")
        clock = Clock(services)
        profiler = cProfile.Profile() if args.profile else None
        posts_before = len(standin.calls_to("chat.postMessage"))
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        report = clock.tick()
        if profiler:
            profiler.disable()
        elapsed = time.perf_counter() - started
        posts = len(standin.calls_to("chat.postMessage")) - posts_before
        print(f"one tick: {report.delivered} delivered, {report.dropped} dropped, {report.retried} retried, {report.failed} failed")
        print(f"  {elapsed:.2f} s wall, {report.total() / elapsed:.0f} actions/s, {posts} posts ({posts / elapsed:.0f}/s), "
              f"{1000 * elapsed / max(posts, 1):.1f} ms per post")
        if profiler:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
