"""Peak memory of `compass-bot serve` with 10,000 members under realistic load (target: under 200 MB).

Run from the project root::

    .venv/bin/python bench/bench_serve_memory.py [--members 10000] [--seed 0]
        [--postgres postgresql://postgres@127.0.0.1:5432/test] [--tracemalloc]

For each database it runs the same experiment twice, in this order: with an empty database (the
baseline) and with ``--members`` people. An experiment:

1. seeds a fresh SQLite file (or a scratch schema of the PostgreSQL database, dropped after): every
   member with a full profile (about 98% enrolled, 1% invited, 1% left, some paused), the enrolled
   ones in groups of 7 (about 1,400 for 10,000), each group with its channel and a series of 12
   sessions, about half held (attendance and RSVPs recorded), the rest planned with their
   reminders and posts in the schedule; near-peer pairs (one for every 10 members) with check-ins;
   a baseline survey, a pulse after every second session (answered 85% of the time, 10% still open)
   and a 6-month follow-up for everyone enrolled, with every answer; and, as the heartbeat's first
   work, the session posts, lead notes, reminders and attendance questions of 100 groups due now;
2. starts the Slack stand-in in this process with every member and group channel, and runs
   `compass-bot serve` as a real subprocess against it (the heartbeat runs in that process);
3. once /healthz answers, drives signed requests through its HTTP endpoint from 8 concurrent
   senders, shuffled and spread evenly over ``--load-seconds``: App Home opened by 300 people and
   10 times by an admin (the admin Home builds the program report), `/compass help` (1,000),
   `/compass pair status` (300), `/compass my-data` (60, a JSON file upload), `/compass report` by
   the admin (3: report, chart and CSV), RSVP clicks on the next session (1,000) and "keep my
   data" clicks (300). The Home tabs and files are as many as Slack's rate limits let the bot
   publish in that time (the bot waits for its budget, as it must with real Slack);
4. waits until every request had its follow-up (message, Home tab or file), and at least
   ``--min-seconds`` since start, so the heartbeat ran more than once;
5. reads the peak resident set (VmHWM in /proc/PID/status) of the serve process and of any child,
   and the peak of the whole process tree sampled from launch (at start serve prepares its
   database in a short-lived child process, which has exited by then); the verdict takes the
   larger of the two.

A third baseline is the peak RSS of a bare ``python -c "import bot.runtime.app, bot.slack.web"``. The script
prints each figure, the ratios, the verdict against the target, and where the resident memory of
the 10,000-member server is (its largest mappings, from /proc/PID/smaps). With ``--tracemalloc``
the 10,000-member server also runs under tracemalloc, and the Python allocations still held after
the load are listed by package (this slows the server and adds tracemalloc's own memory, so the
peak of that run is not the figure).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from slack_sdk.signature import SignatureVerifier  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from bot.domain import group_series as gs  # noqa: E402
from bot.domain.instruments import default_catalogue  # noqa: E402
from bot.domain.scheduling import SessionSlot  # noqa: E402
from bot.standin import SlackStandIn  # noqa: E402
from storage import groups as store  # noqa: E402
from storage import pairing as pairing_store  # noqa: E402
from storage import schedule  # noqa: E402
from storage.db import make_engine, session_scope, utcnow  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import (  # noqa: E402
    Member,
    PairCheckin,
    PairingRound,
    SessionAttendance,
    SessionRsvp,
    Survey,
    SurveyResponse,
)
from storage.workspaces import ensure_workspace  # noqa: E402
from tests.support.responses import ResponseSink  # noqa: E402

TEAM = "T0BENCH"
TOKEN = "xoxb-bench"
SECRET = "bench-secret"
ADMIN = "UADMIN0001"
TARGET_MB = 200.0
SCHEMA = "bench_serve_memory"
GROUP_SIZE = 7
SESSIONS = 12
HELD = 6  # sessions already held in every group
HOMES, ADMIN_HOMES, MY_DATA, REPORTS = 300, 10, 60, 3  # within Slack's budgets over --load-seconds (see workload)
DUE_GROUPS = 100  # groups whose next session has something due at start: the heartbeat's first work
ZONES = ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles")
SPECIALTIES = (("Internal Medicine", 30), ("Surgery", 14), ("Pediatrics", 12), ("Family Medicine", 10),
               ("Emergency Medicine", 8), ("Anesthesiology", 7), ("Psychiatry", 6), ("Radiology", 5), ("Neurology", 4),
               ("Obstetrics and Gynecology", 2), ("Dermatology", 1), ("Medical Genetics", 1))
SITES = ("Main campus", "North clinic", "Children's", "VA")
AVAILABILITY = ("Tue 18:00-21:00;Thu 12:00-13:00", "Mon 12:00-13:00;Wed 18:00-20:00", "Thu 18:30-20:30", "Fri 12:00-13:30")
WAVE_INSTRUMENTS = ("burnout", "who5", "phq2", "meaning", "connection", "intent_to_leave")
PULSE_INSTRUMENTS = ("burnout", "who5", "group_worth")
# Each due group has one of these falling due a minute after seeding (a quarter each, as in
# bench_session_tick), so the heartbeat delivers them on time, while the server is under load.
DUE_IN = timedelta(minutes=1)
DUE = {"post": DUE_IN, "remind1h": timedelta(hours=1) + DUE_IN, "remind24h": timedelta(hours=24) + DUE_IN,
       "attendance": timedelta(hours=-2) + DUE_IN}


# ---------------------------------------------------------------- seeding


def seed(engine, standin: SlackStandIn, members: int, rng: random.Random) -> dict:  # noqa: ANN001, C901
    """The program, as the bot would have left it after about seven months; returns what the load needs."""
    now = utcnow().replace(microsecond=0)
    catalogue = default_catalogue()
    names, weights = zip(*SPECIALTIES)
    people: list[dict] = []
    for index in range(members):
        user = f"U{index:07d}"
        trainee = rng.random() < 0.5
        roll = rng.random()
        status = "invited" if roll < 0.01 else "left" if roll < 0.02 else "paused" if roll < 0.05 else "active"
        consented = now - timedelta(days=rng.randint(200, 215)) if status != "invited" else None
        tz = rng.choice(ZONES)
        people.append(dict(
            team_id=TEAM, slack_user_id=user, display_name=f"Dr. Bench {index}", email=f"bench{index}@example.org",
            career_stage=f"PGY-{rng.randint(1, 5)}" if trainee else f"ATTENDING-{rng.randint(0, 35)}",
            specialty=rng.choices(names, weights)[0], department=rng.choices(names, weights)[0], site=rng.choice(SITES),
            timezone=tz, availability=rng.choice(AVAILABILITY),
            near_peer_role=rng.choice(("mentee", "both")) if trainee else rng.choice(("mentor", "none", "none")),
            mentor_capacity=rng.randint(1, 3), supervisor_ids="", lead_willing=rng.random() < 0.3, status=status,
            paused_until=(now + timedelta(days=rng.randint(3, 60))).date() if status == "paused" else None,
            invited_at=now - timedelta(days=230), invitation_sent_at=now - timedelta(days=230), consented_at=consented,
            left_at=now - timedelta(days=rng.randint(1, 100)) if status == "left" else None,
            created_at=now - timedelta(days=230), updated_at=now - timedelta(days=10),
        ))
        standin.add_user(user, tz=tz, real_name=f"Dr. Bench {index}", email=f"bench{index}@example.org")
    standin.add_user(ADMIN, tz="America/New_York", real_name="Program Admin")

    with session_scope(engine) as session:
        ensure_workspace(session, team_id=TEAM, name="Bench Health", bot_user_id=standin.bot_user_id)
        if people:
            session.execute(Member.__table__.insert(), people)

    enrolled = [p for p in people if p["status"] in ("active", "paused")]
    groups: dict[int, dict] = {}  # group id -> {"members", "channel", "next_session", "held": [(session id, date)]}
    attendance, rsvps, due_actions = [], [], 0
    with session_scope(engine) as session:
        for g in range(len(enrolled) // GROUP_SIZE):
            chunk = enrolled[g * GROUP_SIZE:(g + 1) * GROUP_SIZE]
            ids = [p["slack_user_id"] for p in chunk]
            tz = chunk[0]["timezone"]
            channel = standin.add_channel(f"compass-{g:04d}", is_private=True, members=[standin.bot_user_id, *ids])
            formed = now - timedelta(days=HELD * 14 + 10)
            group = store.create_group(session, team_id=TEAM, name=f"Compass group {g + 1}", cohort="2026-spring",
                                       mode="mixed", audience="all", timezone=tz, lead_user_id=ids[0], member_ids=ids,
                                       now=formed)
            if g < DUE_GROUPS:
                anchor = (now + list(DUE.values())[g % len(DUE)]).replace(second=0)
            else:
                anchor = (now + timedelta(days=rng.randint(1, 13))).replace(minute=rng.choice((0, 30)), second=0)
            local = anchor.astimezone(ZoneInfo(tz))
            group.channel_id, group.status = channel, "active"
            group.weekday, group.local_time = local.weekday(), f"{local:%H:%M}"
            slots = [SessionSlot(n, anchor + timedelta(days=14 * (n - HELD - 1)),
                                 (local + timedelta(days=14 * (n - HELD - 1))).date(), "held" if n <= HELD else "scheduled")
                     for n in range(1, SESSIONS + 1)]
            rows = store.save_sessions(session, group_id=group.id, cycle=1, slots=slots)
            held = [(row.id, row.starts_at) for row in rows if row.status == "held"]
            upcoming = next(row for row in rows if row.status == "scheduled")
            for session_id, starts_at in held:
                for user_id in ids:
                    if rng.random() < 0.8:
                        rsvps.append(dict(session_id=session_id, slack_user_id=user_id, answer="going",
                                          answered_at=starts_at - timedelta(hours=20)))
                    attendance.append(dict(session_id=session_id, slack_user_id=user_id, attended=rng.random() < 0.75,
                                           answered_at=starts_at + timedelta(hours=3)))
            for user_id in ids[: rng.randint(0, GROUP_SIZE)]:
                rsvps.append(dict(session_id=upcoming.id, slack_user_id=user_id, answer="going", answered_at=now))
            planned = gs.session_actions(group.id, 1, slots[HELD])
            if g < DUE_GROUPS:  # only what falls due now in the next session, as in bench_session_tick
                planned = [action for action in planned if action.due_at <= now + DUE_IN]
            planned += [action for action in gs.pulse_actions(group.id, 1, slots) if action.due_at > now]
            for action in planned:
                due_actions += action.due_at <= now + DUE_IN
                schedule.schedule(session, key=action.key, kind=action.kind, due_at=action.due_at, team_id=TEAM,
                                  payload=action.payload)
            groups[group.id] = {"members": ids, "channel": channel, "next_session": upcoming.id,
                                "held": [starts_at for _, starts_at in held]}
        if attendance:
            session.execute(SessionAttendance.__table__.insert(), attendance)
            session.execute(SessionRsvp.__table__.insert(), rsvps)

    # Near-peer pairs: one published round, a pair for every 10 members, with their check-ins.
    mentees = [p["slack_user_id"] for p in enrolled if p["near_peer_role"] in ("mentee", "both")]
    mentors = [p["slack_user_id"] for p in enrolled if p["near_peer_role"] in ("mentor", "both")]
    rng.shuffle(mentees)
    rng.shuffle(mentors)
    paired: list[str] = []
    with session_scope(engine) as session:
        if mentees and mentors:
            round_ = PairingRound(team_id=TEAM, number=1, status="published", preview="{}", created_by=ADMIN,
                                  created_at=now - timedelta(days=150), published_at=now - timedelta(days=150))
            session.add(round_)
            session.flush()
            checkins = []
            for mentee, mentor in list(zip(mentees, mentors))[: members // 10]:
                if mentee == mentor:
                    continue
                pair = pairing_store.create_pair(session, round_=round_, mentee_id=mentee, mentor_id=mentor,
                                                 score=round(rng.uniform(0.5, 3.0), 2),
                                                 reasons=["one year ahead in training", "same specialty"],
                                                 now=now - timedelta(days=150))
                pair.met = rng.random() < 0.6
                paired += [mentee, mentor]
                for number in (1, 2):
                    for user_id in (mentee, mentor):
                        answered = rng.random() < 0.7
                        checkins.append(dict(pair_id=pair.id, slack_user_id=user_id, number=number,
                                             sent_at=now - timedelta(days=150 - 42 * number),
                                             answer=rng.choice(("met", "not_yet")) if answered else "",
                                             answered_at=now - timedelta(days=149 - 42 * number) if answered else None))
            session.execute(PairCheckin.__table__.insert(), checkins)

    # Surveys: a baseline at enrolment, a pulse after every second held session, a 6-month follow-up.
    group_of = {user_id: (group_id, info["held"]) for group_id, info in groups.items() for user_id in info["members"]}
    surveys, responses = [], []
    for person in enrolled:
        user = person["slack_user_id"]
        wellbeing = rng.gauss(0, 1)
        moments = [("baseline", "baseline", person["consented_at"] + timedelta(minutes=5), WAVE_INSTRUMENTS)]
        if person["slack_user_id"] in group_of:
            group_id, held = group_of[user]
            moments += [("pulse", f"pulse:{group_id}:1:{position}", held[position - 1] + timedelta(days=1), PULSE_INSTRUMENTS)
                        for position in range(2, HELD + 1, 2)]
        moments.append(("followup", "6m", person["consented_at"] + timedelta(days=182), WAVE_INSTRUMENTS))
        for number, (kind, wave, sent_at, instruments) in enumerate(moments):
            survey = dict(id=len(surveys) + 1, team_id=TEAM, slack_user_id=user, kind=kind, wave=wave,
                          instruments=",".join(instruments), sent_at=sent_at, reminded_at=None, completed_at=None)
            surveys.append(survey)
            last = number == len(moments) - 1
            if kind == "pulse" and rng.random() > 0.85:
                survey["status"] = "expired"
                continue
            if last and rng.random() < 0.1:
                survey.update(status="sent", sent_at=now - timedelta(days=2))  # still open: Home offers it
                continue
            answered_at = sent_at + timedelta(hours=rng.randint(1, 40))
            survey.update(status="completed", completed_at=answered_at)
            for instrument_id in instruments:
                instrument = catalogue.instrument(instrument_id)
                options = sorted(instrument.option_values)
                position = min(len(options) - 1, max(0, int(len(options) / 2 + wellbeing + rng.gauss(0, 1))))
                answers = [options[min(len(options) - 1, max(0, position + rng.randint(-1, 1)))] for _ in instrument.items]
                score = sum(answers) * instrument.multiplier
                responses.append(dict(survey_id=survey["id"], team_id=TEAM, slack_user_id=user, instrument=instrument_id,
                                      answers=json.dumps(answers), score=float(score),
                                      flags=json.dumps(sorted(instrument.flags_for(score))), answered_at=answered_at))
    with engine.begin() as connection:
        for start in range(0, len(surveys), 20_000):
            connection.execute(Survey.__table__.insert(), surveys[start:start + 20_000])
        for start in range(0, len(responses), 20_000):
            connection.execute(SurveyResponse.__table__.insert(), responses[start:start + 20_000])
        if engine.dialect.name == "postgresql":
            connection.execute(text("SELECT setval(pg_get_serial_sequence('surveys', 'id'), (SELECT coalesce(max(id), 1) FROM surveys))"))
            connection.execute(text("ANALYZE"))
        else:
            connection.exec_driver_sql("ANALYZE")
    return {"people": [p["slack_user_id"] for p in people], "groups": groups, "paired": paired, "due_actions": due_actions,
            "counts": {"members": len(people), "groups": len(groups), "sessions": len(groups) * SESSIONS,
                       "pairs": len(paired) // 2, "surveys": len(surveys), "answers": len(responses)}}


# ---------------------------------------------------------------- load


class Slack:
    """Signed requests to the bot's endpoint, built as Slack builds them."""

    def __init__(self, endpoint: str, standin: SlackStandIn, sink: ResponseSink):
        self.endpoint = endpoint
        self.signer = SignatureVerifier(SECRET)
        self.standin = standin
        self.sink = sink
        self.events = 0
        self.failed: Counter = Counter()
        self._local = threading.local()
        self._lock = threading.Lock()

    def _post(self, body: str, content_type: str, *, response_url: str = "") -> bool:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = httpx.Client(timeout=60)
        ts = str(int(time.time()))
        headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts,
                   "X-Slack-Signature": self.signer.generate_signature(timestamp=ts, body=body)}
        response = client.post(self.endpoint, content=body.encode(), headers=headers)
        if response.status_code != 200:  # e.g. Bolt gave up waiting 3 s for ack(): Slack would show an error
            with self._lock:
                self.failed[response.status_code] += 1
        if response_url:  # a command: help answers in its acknowledgement, which Slack shows like a reply
            self.sink.record_acknowledgement(response_url, response)
        return response.status_code == 200

    def command(self, user: str, text_: str) -> bool:
        response_url = self.sink.new_url()
        return self._post(urlencode({"token": "legacy-unused", "team_id": TEAM, "team_domain": "bench", "channel_id": "C0GENERAL",
                              "channel_name": "general", "user_id": user, "user_name": user.lower(), "command": "/compass",
                              "text": text_, "api_app_id": "A0COMPASS", "response_url": response_url,
                              "trigger_id": self.standin.new_trigger_id()}), "application/x-www-form-urlencoded",
                          response_url=response_url)

    def click(self, user: str, action_id: str, value: str, block_id: str = "b") -> bool:
        payload = {"type": "block_actions", "team": {"id": TEAM, "domain": "bench"},
                   "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM},
                   "api_app_id": "A0COMPASS", "trigger_id": self.standin.new_trigger_id(), "response_url": self.sink.new_url(),
                   "container": {"type": "view"},
                   "actions": [{"type": "button", "action_id": action_id, "block_id": block_id, "value": value,
                                "action_ts": f"{time.time():.6f}"}]}
        return self._post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")

    def home_opened(self, user: str) -> bool:
        with self._lock:
            self.events += 1
            event_id = f"Ev{self.events:010d}"
        return self._post(json.dumps({"token": "legacy-unused", "team_id": TEAM, "api_app_id": "A0COMPASS", "type": "event_callback",
                               "event_id": event_id, "event_time": int(time.time()),
                               "event": {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home",
                                         "event_ts": f"{time.time():.6f}"}}), "application/json")


def workload(seeded: dict, rng: random.Random, *, members: int) -> list[tuple]:
    """The shuffled requests: (kind, user, argument). The same mix for the empty baseline (same user ids).

    The bot keeps inside Slack's published rate limits (views.publish and files.* 100 a minute,
    conversations.open 50), so the Home tabs, files and reports are as many as those budgets allow
    over the load window; commands answered at their response_url and clicks have no such limit.
    """
    people = seeded["people"] or [f"U{index:07d}" for index in range(members)]
    paired = seeded["paired"] or people
    in_groups = [(user, info["next_session"]) for info in seeded["groups"].values() for user in info["members"]]
    if not in_groups:
        in_groups = [(user, 1_000_000 + n) for n, user in enumerate(people)]
    work = [("home", user, None) for user in rng.sample(people, min(HOMES, len(people)))]
    work += [("home", ADMIN, None)] * ADMIN_HOMES
    work += [("command", user, "help") for user in rng.choices(people, k=1000)]
    work += [("command", user, "pair status") for user in rng.choices(paired, k=300)]
    work += [("command", user, "my-data") for user in rng.sample(people, min(MY_DATA, len(people)))]
    work += [("command", ADMIN, "report")] * REPORTS
    work += [("click", user, ("rsvp_going", str(session_id))) for user, session_id in rng.choices(in_groups, k=1000)]
    work += [("click", user, ("forget_me_cancel", "cancel")) for user in rng.choices(people, k=300)]
    rng.shuffle(work)
    return work


def kind_name(item: tuple) -> str:
    kind, user, arg = item
    if kind == "home":
        return "home admin" if user == ADMIN else "home member"
    return f"command {arg}" if kind == "command" else f"click {arg[0]}"


# ---------------------------------------------------------------- memory


def tree(pid: int) -> list[int]:
    children: dict[int, list[int]] = defaultdict(list)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    children[int(handle.read().rsplit(")", 1)[1].split()[1])].append(int(entry))
            except OSError:
                continue
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def status_kb(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def largest_mappings(pid: int, top: int = 8) -> list[tuple[str, int]]:
    """Resident kB per mapped file (shared libraries) or [anonymous], from /proc/PID/smaps."""
    sizes: Counter = Counter()
    current = "[anonymous]"
    with open(f"/proc/{pid}/smaps") as handle:
        for line in handle:
            parts = line.split()
            if parts and "-" in parts[0] and len(parts) >= 5 and not parts[0].endswith(":"):
                path = parts[5] if len(parts) >= 6 else ""
                current = "[anonymous]" if not path or path in ("[heap]", "[stack]") or path.startswith("[anon") else path
            elif parts and parts[0] == "Rss:":
                sizes[current] += int(parts[1])
    packages: Counter = Counter()
    for path, kb in sizes.items():
        if "site-packages/" in path:
            path = "site-packages/" + path.split("site-packages/", 1)[1].split("/", 1)[0] + "/ (shared libraries)"
        elif path.startswith("/") and ".so" in path:
            path = "other shared libraries"
        elif path.startswith("/"):
            path = "other mapped files (python, locale, ...)"
        packages[path] += kb
    return packages.most_common(top)


class Sampler(threading.Thread):
    """Samples the RSS of the serve process tree (every 20 ms at first, then every 100 ms); keeps the
    peak of the sum, when it was (seconds after launch) and how many processes made it up (serve
    prepares its database in a child process at start)."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_kb = 0
        self.peak_at = 0.0
        self.peak_processes = 1
        self.started = time.monotonic()
        self.stop = threading.Event()

    def run(self) -> None:
        # Every 20 ms in the first 10 s: the migration child at start lives for about half a second.
        while not self.stop.wait(0.02 if time.monotonic() - self.started < 10 else 0.1):
            pids = tree(self.pid)
            total = sum(status_kb(pid, "VmRSS") for pid in pids)
            if total > self.peak_kb:
                self.peak_kb, self.peak_at, self.peak_processes = total, time.monotonic() - self.started, len(pids)


TRACEMALLOC_WRAPPER = """
import os, signal, sys, tracemalloc
from collections import Counter
tracemalloc.start(1)
def dump(*_):
    snapshot = tracemalloc.take_snapshot()
    sizes = Counter()
    for stat in snapshot.statistics("filename"):
        name = stat.traceback[0].filename
        if "site-packages/" in name:
            name = name.split("site-packages/", 1)[1].split("/", 1)[0]
        elif "/bot/" in name or "/storage/" in name:
            name = "compass-bot (" + name.split("/")[-2] + "/" + name.split("/")[-1] + ")"
        elif "python3" in name:
            name = "stdlib " + name.split("/")[-1]
        sizes[name] += stat.size
    with open(os.environ["BENCH_TRACEMALLOC_OUT"], "w") as out:
        for name, size in sizes.most_common(25):
            out.write(f"{size / 1e6:9.2f} MB  {name}\\n")
        current, peak = tracemalloc.get_traced_memory()
        out.write(f"{peak / 1e6:9.2f} MB  at the peak of traced Python allocations\\n")
        out.write(f"{sum(sizes.values()) / 1e6:9.2f} MB  in all (traced Python allocations)\\n")
signal.signal(signal.SIGUSR1, dump)
from bot.cli import main
sys.exit(main(["serve", "--host", "127.0.0.1"]))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def import_baseline_kb() -> int:
    code = ("import bot.runtime.app, bot.slack.web\n"
            "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def experiment(label: str, database_url: str, serve_url: str, members: int, args: argparse.Namespace,
               *, traced: bool = False, variant: bool = False) -> dict:
    rng = random.Random(args.seed)
    with SlackStandIn(team_id=TEAM, bot_token=TOKEN, bot_user_id="UBOT") as standin:
        sink = ResponseSink()
        engine = make_engine(database_url) if database_url.startswith("sqlite") else create_engine(
            database_url, connect_args={"options": f"-csearch_path={args.schema}"})
        try:
            upgrade(engine)
            started = time.perf_counter()
            seeded = seed(engine, standin, members, rng)
        finally:
            engine.dispose()
        for user in (f"U{index:07d}" for index in range(members, args.members)):
            standin.add_user(user)  # the empty baseline gets the same people in Slack, none in the database
        print(f"[{label}] seeded in {time.perf_counter() - started:.0f} s: "
              + ", ".join(f"{v:,} {k}" for k, v in seeded["counts"].items()))
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "COMPASS_", "DATABASE_URL"))}
        env.update(SLACK_BOT_TOKEN=TOKEN, SLACK_SIGNING_SECRET=SECRET, SLACK_API_URL=standin.url, DATABASE_URL=serve_url,
                   COMPASS_ADMINS=ADMIN, PORT=str(port), PYTHONPATH=str(ROOT))
        workdir = Path(tempfile.mkdtemp(prefix="compass-memory-"))
        if variant:
            env.update(dict(item.split("=", 1) for item in args.variant_env))
        if traced:
            env["BENCH_TRACEMALLOC_OUT"] = str(workdir / "tracemalloc.txt")
            command = [sys.executable, "-c", TRACEMALLOC_WRAPPER]
        elif variant and args.variant_cmd:
            command = shlex.split(args.variant_cmd)
        else:
            command = [sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1"]
        log = open(workdir / "serve.log", "w")  # noqa: SIM115
        server = subprocess.Popen(command, env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
        launched = time.monotonic()
        sampler = Sampler(server.pid)
        sampler.start()
        try:
            deadline = launched + 120
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"[{label}] serve did not start; see {workdir / 'serve.log'}")
                time.sleep(0.2)
            started_kb = status_kb(server.pid, "VmRSS")
            slack = Slack(f"http://127.0.0.1:{port}/slack/events", standin, sink)
            work = workload(seeded, rng, members=args.members)
            kinds = Counter(kind_name(item) for item in work)
            spacing = args.load_seconds / len(work)

            def send(item: tuple) -> tuple[str, bool]:
                kind, user, arg = item
                if kind == "home":
                    return kind, slack.home_opened(user)
                if kind == "command":
                    return kind, slack.command(user, arg)
                return kind, slack.click(user, arg[0], arg[1])

            def run_batch(batch: list[tuple]) -> None:
                """Send a batch evenly paced, then wait until every request had its follow-up."""
                replies_before, homes_before = len(sink.all_messages()), len(standin.calls_to("views.publish"))
                batch_started = time.monotonic()

                def paced(numbered: tuple[int, tuple]) -> tuple[str, bool]:
                    delay = batch_started + numbered[0] * spacing - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    return send(numbered[1])

                with ThreadPoolExecutor(max_workers=8) as pool:
                    answered = Counter(kind for kind, ok in pool.map(paced, enumerate(batch)) if ok)
                # Every command and click answers at its response_url; every Home opened is published.
                replies = answered["command"] + answered["click"]
                wait_until = time.monotonic() + 300
                while time.monotonic() < wait_until and (
                        len(sink.all_messages()) - replies_before < replies
                        or len(standin.calls_to("views.publish")) - homes_before < answered["home"]):
                    time.sleep(0.2)
                if len(sink.all_messages()) - replies_before < replies:
                    print(f"[{label}] WARNING: only {len(sink.all_messages()) - replies_before} of {replies} replies arrived")

            load_started = time.monotonic()
            steps = []
            if args.by_kind:  # one kind after the other, with the resident memory after each
                by_kind: dict[str, list[tuple]] = defaultdict(list)
                for item in work:
                    by_kind[kind_name(item)].append(item)
                for name in sorted(by_kind, key=lambda k: (k in ("home admin", "command report"), k)):
                    run_batch(by_kind[name])
                    steps.append((name, len(by_kind[name]), status_kb(server.pid, "VmRSS"), status_kb(server.pid, "VmHWM")))
            else:
                run_batch(work)
            drained = time.monotonic() - load_started
            while time.monotonic() - launched < args.min_seconds:  # let the heartbeat tick again
                time.sleep(0.5)
            time.sleep(1.0)
            pids = tree(server.pid)
            hwm = {pid: status_kb(pid, "VmHWM") for pid in pids}
            mappings = largest_mappings(server.pid)
            posts = [c for c in standin.calls_to("chat.postMessage") if str(c.args.get("channel", "")).startswith("C")]
            dms = [c for c in standin.calls_to("chat.postMessage") if not str(c.args.get("channel", "")).startswith("C")]
            traced_top = ""
            if traced:
                os.kill(server.pid, signal.SIGUSR1)
                out = workdir / "tracemalloc.txt"
                for _ in range(600):
                    if out.exists() and "in all" in out.read_text():
                        break
                    time.sleep(0.1)
                traced_top = out.read_text() if out.exists() else "(no tracemalloc output)"
        finally:
            sampler.stop.set()
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
            log.close()
            sink.close()
        errors = [line for line in (workdir / "serve.log").read_text().splitlines() if " ERROR " in line or "Traceback" in line]
        print(f"[{label}] {len(work):,} requests ({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))}) "
              f"sent and handled in {drained:.0f} s; {len(posts)} posts in group channels (the heartbeat), "
              f"{len(dms)} DMs; "
              f"{len(errors)} error lines in the log")
        if slack.failed:
            print(f"[{label}] NOT ACKNOWLEDGED: {dict(slack.failed)} (HTTP status: count); see {workdir / 'serve.log'}")
        if steps:
            print(f"[{label}] one kind of request after the other (resident memory after each, MB):")
            previous = started_kb
            for name, count, rss, hwm_now in steps:
                print(f"    {name:<28} {count:5d}  RSS {rss / 1024:6.1f}  peak so far {hwm_now / 1024:6.1f}  "
                      f"(+{(hwm_now - previous) / 1024:.1f})")
                previous = max(previous, hwm_now)
        return {"hwm_kb": sum(hwm.values()), "processes": len(pids), "started_kb": started_kb, "sampled_kb": sampler.peak_kb,
                "sampled_at": sampler.peak_at, "sampled_processes": sampler.peak_processes,
                "mappings": mappings, "traced": traced_top, "log": workdir / "serve.log"}


def run_database(name: str, make_urls, args: argparse.Namespace, import_kb: int) -> None:  # noqa: ANN001
    empty_url, empty_serve = make_urls("empty")
    empty = experiment(f"{name}, empty", empty_url, empty_serve, 0, args)
    full_url, full_serve = make_urls("full")
    full = experiment(f"{name}, {args.members:,} members", full_url, full_serve, args.members, args)
    mb = lambda kb: kb / 1024  # noqa: E731
    print(f"\n{name}: peak RSS (VmHWM) of `compass-bot serve` ({full['processes']} process(es))")
    print(f"  bare `import bot.runtime.app, bot.slack.web`     {mb(import_kb):7.1f} MB")
    print(f"  serve, empty database             {mb(empty['hwm_kb']):7.1f} MB  (at start {mb(empty['started_kb']):.1f} MB)")
    print(f"  serve, {args.members:,} members          {mb(full['hwm_kb']):7.1f} MB  (at start {mb(full['started_kb']):.1f} MB, "
          f"sampled peak of the process tree {mb(full['sampled_kb']):.1f} MB, {full['sampled_at']:.0f} s after launch, "
          f"{full['sampled_processes']} process(es))")
    print(f"  ratio to the empty database {full['hwm_kb'] / empty['hwm_kb']:.2f}x, to the bare imports "
          f"{full['hwm_kb'] / import_kb:.2f}x; {args.members:,} members add {mb(full['hwm_kb'] - empty['hwm_kb']):.1f} MB")
    peak = max(full["hwm_kb"], full["sampled_kb"])  # the server's own peak, or the tree's if higher
    verdict = "meets" if mb(peak) < TARGET_MB else "EXCEEDS"
    print(f"  {verdict} the {TARGET_MB:.0f} MB target ({mb(peak):.1f} MB: the larger of the two peaks above)")
    print("  resident memory of the loaded server at the end, by mapping:")
    for path, kb in full["mappings"]:
        print(f"    {mb(kb):7.1f} MB  {path}")
    if args.variant_env or args.variant_cmd:
        variant = experiment(f"{name}, {args.members:,} members, variant", *make_urls("variant"), args.members, args,
                             variant=True)
        what = " ".join([*args.variant_env, args.variant_cmd or "compass-bot serve"])
        print(f"  variant ({what}): {mb(variant['hwm_kb']):.1f} MB, ratio to the default "
              f"{variant['hwm_kb'] / full['hwm_kb']:.2f}x ({mb(variant['hwm_kb'] - full['hwm_kb']):+.1f} MB); "
              f"{'meets' if mb(variant['hwm_kb']) < TARGET_MB else 'EXCEEDS'} the target")
    if args.tracemalloc:
        traced = experiment(f"{name}, {args.members:,} members, tracemalloc", *make_urls("traced"), args.members, args, traced=True)
        print("  Python allocations still held after the load (tracemalloc), by package:")
        print("".join(f"    {line}\n" for line in traced["traced"].splitlines()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--load-seconds", type=float, default=150.0,
                        help="spread the requests evenly over this many seconds (default 150)")
    parser.add_argument("--min-seconds", type=float, default=70.0,
                        help="keep each server up at least this long, so the minute heartbeat runs twice (default 70)")
    parser.add_argument("--postgres", metavar="URL", help="also run on this PostgreSQL database (in a scratch schema)")
    parser.add_argument("--schema", default=SCHEMA, help=argparse.SUPPRESS)
    parser.add_argument("--no-sqlite", action="store_true", help="only PostgreSQL")
    parser.add_argument("--by-kind", action="store_true",
                        help="send one kind of request after the other and show the resident memory after each")
    parser.add_argument("--variant-env", action="append", default=[], metavar="KEY=VALUE",
                        help="also run the loaded server with this environment (e.g. MALLOC_ARENA_MAX=2) and compare")
    parser.add_argument("--variant-cmd", help="also run the loaded server with this command instead of serve, and compare")
    parser.add_argument("--tracemalloc", action="store_true", help="also list what the Python heap holds (a third, traced run)")
    args = parser.parse_args(argv)

    import_kb = import_baseline_kb()
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as directory:
            def sqlite_urls(name: str) -> tuple[str, str]:
                url = f"sqlite:///{directory}/{name}.db"
                return url, url

            run_database("SQLite", sqlite_urls, args, import_kb)
    if args.postgres:
        url = args.postgres.replace("postgresql://", "postgresql+psycopg://", 1).replace("postgres://", "postgresql+psycopg://", 1)
        admin = create_engine(url)

        def postgres_urls(name: str) -> tuple[str, str]:
            with admin.begin() as connection:
                connection.execute(text(f"DROP SCHEMA IF EXISTS {args.schema} CASCADE"))
                connection.execute(text(f"CREATE SCHEMA {args.schema}"))
            separator = "&" if "?" in args.postgres else "?"
            return url, f"{args.postgres}{separator}options={quote(f'-csearch_path={args.schema}')}"

        try:
            run_database("PostgreSQL", postgres_urls, args, import_kb)
        finally:
            with admin.begin() as connection:
                connection.execute(text(f"DROP SCHEMA IF EXISTS {args.schema} CASCADE"))
            admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
