"""Two clock processes and two web processes at once on PostgreSQL.

Two `compass-bot serve --no-clock` processes answer Slack on two ports while two clock
processes deliver a large batch (tests/support/fault_load.py). As the DMs arrive, people click
their buttons (RSVP on the day-before reminders, "I was there" on the attendance checks),
alternating between the two web processes, some twice (the second click to the other
process); others run `/compass help`, and each app_home_opened event reaches one process while
Slack's retry of it (same ``event_id``) reaches the other. Then: every delivery exactly once
and claimed once, every click recorded once and answered with one message update, one Home
tab per event, one answer per command, and no 5xx from either process.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlmodel import Session, select

from bot.domain import group_series as gs
from bot.flows.sessions import ACTION_ATTENDED
from bot.slack.session_messages import ACTION_RSVP_GOING, ACTION_RSVP_NOT_GOING
from storage.db import utcnow
from storage.models import SessionAttendance, SessionRsvp
from tests.conftest import SIGNING_SECRET, TEAM_ID
from tests.support.fault_load import check_exactly_once, key_of, rows_of, seed_load
from tests.support.processes import ClockWorker, ServeProcess, bot_env
from tests.support.slack_requests import SlackRequests
from tests.support.waiting import eventually
from tests.test_groups_flow import buttons

GROUPS = 80
MEMBERS = 4
CLICK_GROUPS = 5  # per kind of button: 5 groups x 4 members (the web processes keep to Slack's chat.update budget)
COMMANDS = 10
HOME_EVENTS = 10


def test_two_clocks_and_two_web_processes_at_once(engine, standin, database_url, responses, tmp_path):
    if engine.dialect.name != "postgresql":
        pytest.skip("several processes on one database is a PostgreSQL deployment (SQLite allows one clock)")
    load = seed_load(engine, standin, groups=GROUPS, members=MEMBERS, now=utcnow(), team_id=TEAM_ID, prefix="UQ")
    standin.latency = 0.02
    env = bot_env(slack_api_url=standin.url, database_url=database_url)
    t0 = time.monotonic()
    webs = [ServeProcess(env, tmp_path, f"web-{n}") for n in (1, 2)]
    clocks: list[ClockWorker] = []
    slacks = [SlackRequests(endpoint=f"{web.url}/slack/events", signing_secret=SIGNING_SECRET, team_id=TEAM_ID,
                            responses=responses, standin=standin) for web in webs]
    go = tmp_path / "go"
    try:
        clocks = [ClockWorker(env, tmp_path, f"clock-{n}", lease=60, batch=5, workers=4, go=go) for n in (1, 2)]
        for process in [*webs, *clocks]:
            process.wait_healthy() if isinstance(process, ServeProcess) else process.wait_ready()
        up_in = time.monotonic() - t0

        # Whom to click for: the first CLICK_GROUPS groups with day-before reminders, and with attendance checks.
        # (a lead's day-before message is the lead's note, with no RSVP: members only)
        rsvp_people = [p for (_, people), key in _groups_with(load, gs.REMINDER_24H_KIND)[:CLICK_GROUPS] for p in people[1:]]
        attendance_people = [p for (_, people), key in _groups_with(load, gs.ATTENDANCE_KIND)[:CLICK_GROUPS] for p in people]
        statuses: Counter = Counter()
        lock = threading.Lock()
        clicks: list[tuple[str, str, str]] = []  # (person, action, process)
        during_delivery = Counter()
        clocks_done = threading.Event()

        def send(index: int, request) -> None:  # noqa: ANN001
            response = request(slacks[index % 2])
            with lock:
                statuses[response.status_code] += 1

        def click(index: int, user_id: str, wanted_key_part: str, action_id: str) -> None:
            message = eventually(lambda: next((m for m in standin.dm_messages(user_id) if wanted_key_part in key_of(m)), None),
                                 timeout=60, interval=0.01)
            button = buttons(message)[action_id]
            channel = standin.dm_channel(user_id)
            times = 2 if index % 5 == 0 else 1  # a double click, the second to the other process
            for n in range(times):
                send(index + n, lambda s: s.action(user_id, action_id, button["value"], channel_id=channel, message_ts=message["ts"]))
                with lock:
                    clicks.append((user_id, action_id, f"web-{(index + n) % 2 + 1}"))
                    during_delivery["clicks" if not clocks_done.is_set() else "after"] += 1

        def home(index: int, user_id: str) -> None:
            event = {"type": "app_home_opened", "user": user_id, "tab": "home", "channel": f"D{user_id}"}
            event_id = f"Ev0HOME{index:03d}"
            # Slack's retry reaches the other process at the same moment (Slack retries after 3 s without an answer).
            retry = threading.Thread(target=send, args=(index + 1, lambda s: s.event(event, event_id=event_id, retry_num=1)))
            retry.start()
            send(index, lambda s: s.event(event, event_id=event_id))
            retry.join()

        command_urls: list[str] = []

        def command(index: int, user_id: str) -> None:
            slack = slacks[index % 2]
            url = responses.new_url()
            form_response = slack.post(_command_form(user_id, url), "application/x-www-form-urlencoded")
            responses.record_acknowledgement(url, form_response)  # help answers in its acknowledgement
            with lock:
                statuses[form_response.status_code] += 1
                command_urls.append(url)

        started = time.monotonic()
        go.touch()
        with ThreadPoolExecutor(max_workers=6) as pool:
            futures = [pool.submit(click, i, p, ":remind24h", ACTION_RSVP_GOING if i % 2 else ACTION_RSVP_NOT_GOING)
                       for i, p in enumerate(rsvp_people)]
            futures += [pool.submit(click, i, p, ":attendance", ACTION_ATTENDED) for i, p in enumerate(attendance_people)]
            futures += [pool.submit(command, i, load.people[-1 - i]) for i in range(COMMANDS)]
            futures += [pool.submit(home, i, load.people[i * 3]) for i in range(HOME_EVENTS)]
            results = [clock.result(timeout=180) for clock in clocks]
            clocks_done.set()
            delivered_in = time.monotonic() - started
            for future in futures:
                future.result()

        # Every click, command and event was answered without a 5xx, and its effects arrive once.
        assert set(statuses) == {200}, statuses
        eventually(lambda: len(standin.calls_to("chat.update")) >= len(clicks), timeout=30)
        eventually(lambda: all(responses.messages(url) for url in command_urls), timeout=30)
        eventually(lambda: len(standin.calls_to("views.publish")) >= HOME_EVENTS, timeout=30)
        time.sleep(0.5)  # room for any second effect to show up
        assert len(standin.calls_to("chat.update")) == len(clicks)
        assert all(len(responses.messages(url)) == 1 and "/compass join" in responses.messages(url)[0]["text"] for url in command_urls)
        published = Counter(c.args.get("user_id") for c in standin.calls_to("views.publish"))
        assert published == Counter({load.people[i * 3]: 1 for i in range(HOME_EVENTS)})
        with Session(engine) as session:
            rsvps = session.exec(select(SessionRsvp)).all()
            attendance = session.exec(select(SessionAttendance)).all()
        assert sorted(r.slack_user_id for r in rsvps) == sorted(rsvp_people)
        assert {r.slack_user_id: r.answer for r in rsvps} == {
            p: "going" if i % 2 else "not_going" for i, p in enumerate(rsvp_people)}
        assert sorted(a.slack_user_id for a in attendance) == sorted(attendance_people) and all(a.attended for a in attendance)

        # The deliveries: each exactly once, each row claimed once, both clocks at work.
        summary = check_exactly_once(engine, standin, load)
        rows = rows_of(engine, load)
        assert summary["max_attempts"] == 1
        by_clock = Counter(row.claimed_by for row in rows.values())
        assert set(by_clock) == {"clock-1", "clock-2"}, by_clock
        assert sum(r["delivered"] for r in results) == len(rows)
    finally:
        for clock in clocks:
            clock.stop()
        for slack in slacks:
            slack.close()
        logs = [web.stop() for web in webs]
    for log in logs:
        assert "Traceback" not in log, log[-3000:]
    print(f"\nfour processes up in {up_in:.1f}s; {summary['actions']} actions ({summary['posts']} posts) delivered by two clocks in {delivered_in:.1f}s "
          f"({dict(by_clock)}); {len(clicks)} clicks ({during_delivery['clicks']} while the clocks ran), {COMMANDS} commands, "
          f"{HOME_EVENTS} events each delivered twice, over two web processes: answers {dict(statuses)}")


def _groups_with(load, kind: str) -> list:  # noqa: ANN001
    """(channel, people) and the due key of each group with an action of ``kind``, in group order."""
    found = []
    for key, action_kind in sorted(load.keys.items(), key=lambda item: int(item[0].split(":")[1])):
        if action_kind == kind and load.targets(key, kind):  # an action that DMs someone (see Load.targets)
            found.append((load.groups[int(key.split(":")[1])], key))
    return found


def _command_form(user_id: str, response_url: str) -> str:
    from urllib.parse import urlencode

    return urlencode({"token": "legacy-unused", "team_id": TEAM_ID, "team_domain": "compass", "channel_id": "C0GENERAL",
                      "channel_name": "general", "user_id": user_id, "user_name": user_id.lower(), "command": "/compass",
                      "text": "help", "api_app_id": "A0COMPASS", "response_url": response_url,
                      "trigger_id": f"1.{response_url.rsplit('/', 1)[-1]}.abc"})  # each command has its own trigger
