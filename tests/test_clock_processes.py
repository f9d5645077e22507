"""Two clock processes on PostgreSQL deliver every action of 200 groups exactly once.

Each worker is a real OS process (``python -c`` with the bot's own Clock) pointed at the
Slack stand-in and the test database; they start together and tick until nothing is due.
The stand-in's recorded posts are then compared with the schedule. (A second clock on
SQLite refusing to start is tested in tests/test_serve_process.py.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, time as clock_time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from bot.domain import group_series as gs
from bot.domain.scheduling import Series, SessionSlot
from storage import groups as store
from storage import schedule
from storage.db import session_scope, utcnow
from storage.models import Member, ScheduledAction
from storage.workspaces import ensure_workspace
from tests.conftest import ADMIN_ID, BOT_TOKEN, SIGNING_SECRET, TEAM_ID
from tests.test_groups_flow import key_of

GROUPS = 200
MEMBERS = 3
TZ = "America/Chicago"
# Which of a session's actions each group has due now (the others are dropped as out of date, or not due yet).
OFFSETS = {
    "post": timedelta(seconds=-30),  # the session just started: the guide (the lead's note is a day late)
    "remind1h": timedelta(minutes=50),  # the hour-before reminder is 10 minutes late
    "remind24h": timedelta(hours=23),  # the day-before reminder is an hour late
    "attendance": timedelta(hours=-2, minutes=-5),  # the attendance check is 5 minutes late
}

WORKER = """
import json, os, sys, time
from bot.runtime.clock import Clock
from bot.runtime.settings import load_settings
from bot.runtime.services import Services

services = Services.from_settings(load_settings())
clock = Clock(services, worker_id=sys.argv[1], batch=5)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.01)
delivered, idle = 0, 0
while idle < 3:
    report = clock.tick()
    delivered += report.delivered
    idle = 0 if report.total() else idle + 1
    if not report.total():
        time.sleep(0.2)
print(json.dumps({"worker": sys.argv[1], "delivered": delivered}))
"""


def seed_groups(engine, standin, now: datetime) -> dict[int, tuple[str, list[str]]]:  # noqa: ANN001
    """200 active groups with a planned series whose first session puts one kind of action due now.

    Returns each group's channel and members (the first leads).
    """
    kinds = list(OFFSETS)
    made: dict[int, tuple[str, list[str]]] = {}
    with session_scope(engine) as session:
        ensure_workspace(session, team_id=TEAM_ID)
        for g in range(GROUPS):
            people = [f"UW{g:03d}{m}" for m in range(MEMBERS)]
            for user_id in people:
                standin.add_user(user_id, name=user_id.lower(), tz=TZ)
                # No quiet hours and the hour-before reminder asked for: every action goes out when due, at any
                # time of day the suite runs (this test is about two clocks, not about who hears what when).
                session.add(Member(team_id=TEAM_ID, slack_user_id=user_id, status="active", consented_at=now, created_at=now,
                                   updated_at=now, timezone=TZ, remind_hour_before=True, quiet_start="00:00", quiet_end="00:00"))
            channel = standin.add_channel(f"compass-load-{g:03d}", is_private=True, members=["UBOT", *people])
            group = store.create_group(session, team_id=TEAM_ID, name=f"Load {g}", cohort="load", mode="mixed", audience="all",
                                       timezone=TZ, lead_user_id=people[0], member_ids=people, now=now)
            kind = kinds[g % len(kinds)]
            first = (now + OFFSETS[kind]).replace(microsecond=0)
            local = first.astimezone(ZoneInfo(TZ))
            group.channel_id, group.status, group.weekday, group.local_time = channel, "active", local.weekday(), f"{local:%H:%M}"
            slots = tuple(SessionSlot(n + 1, first + timedelta(days=14 * n), (local + timedelta(days=14 * n)).date()) for n in range(12))
            series = Series(gs.series_uid_id(group.id, 1), TZ, local.weekday(), clock_time(local.hour, local.minute), slots)
            store.save_sessions(session, group_id=group.id, cycle=1, slots=series.sessions)
            # The first session's actions, as the series scheduled them (the later sessions' are not due for weeks).
            for action in gs.session_actions(group.id, 1, series.sessions[0]):
                schedule.schedule(session, key=action.key, kind=action.kind, due_at=action.due_at, team_id=TEAM_ID, payload=action.payload)
            made[group.id] = (channel, people)
    return made


def test_two_clock_processes_deliver_every_action_of_200_groups_exactly_once(engine, standin, database_url, tmp_path):
    if engine.dialect.name != "postgresql":
        pytest.skip("several clocks at once is a PostgreSQL deployment (SQLite allows one clock)")
    now = utcnow()
    made = seed_groups(engine, standin, now)
    with Session(engine) as session:
        due = list(session.exec(select(ScheduledAction).where(ScheduledAction.due_at <= now)))
    # Per kind of group: all five actions of a session two hours ago, four of one that just started, three, two
    # (the lead's note is due with the day-before reminder).
    assert len(due) == GROUPS // 4 * (5 + 4 + 3 + 2)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "COMPASS_", "DATABASE_URL"))}
    env.update(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=standin.url,
               DATABASE_URL=database_url, COMPASS_ADMINS=ADMIN_ID, COMPASS_POSTS_PER_MINUTE="10000")
    go = tmp_path / "go"
    root = Path(__file__).resolve().parent.parent
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, f"clock-{n}", str(go)], env=env, cwd=root,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in (1, 2)]
    time.sleep(0.5)  # both importing; then they start together
    started = time.monotonic()
    go.touch()
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=180)
        assert worker.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    elapsed = time.monotonic() - started

    with Session(engine) as session:
        rows = {r.key: r for r in session.exec(select(ScheduledAction).where(ScheduledAction.due_at <= now))}
    assert {r.status for r in rows.values()} <= {"done", "dropped"}
    done = {key for key, r in rows.items() if r.status == "done"}
    by_worker = Counter(r.claimed_by for r in rows.values() if r.status == "done")
    assert set(by_worker) == {"clock-1", "clock-2"}, by_worker  # both did real work, in parallel
    assert sum(r["delivered"] for r in results) == len(done)
    assert all(r.attempts == 1 for r in rows.values())  # no row was ever claimed twice

    # Compare the stand-in's posts with the schedule: one message per delivered key and recipient, none for the rest.
    posted: Counter = Counter()
    for group_channel, people in made.values():
        for message in standin.messages(group_channel):
            if key_of(message):
                posted[(key_of(message), "channel")] += 1
        for user_id in people:
            for message in standin.dm_messages(user_id):
                if key_of(message):
                    posted[(key_of(message), user_id)] += 1
    assert max(posted.values()) == 1
    expected: Counter = Counter()
    for key in done:
        what = key.rsplit(":", 1)[1]
        people = made[int(key.split(":")[1])][1]
        # The lead's day-before message is the note, not the members' reminder.
        targets = {"post": ["channel"], "leadnote": [people[0]], "remind24h": people[1:]}.get(what, people)
        for target in targets:
            expected[(key, target)] += 1
    assert posted == expected
    kinds = Counter(key.rsplit(":", 1)[1] for key in done)
    # The lead's note is useful until the session ends: delivered (late) in three of the four kinds of group.
    assert kinds == {"post": 50, "leadnote": 150, "remind1h": 50, "remind24h": 50, "attendance": 50}
    print(f"\n{len(done)} actions ({sum(expected.values())} posts) delivered by two clock processes in {elapsed:.1f}s: {dict(by_worker)}")
