"""A whole health system: many workspaces, 1, 2 and 4 clock processes and one web process, one Slack budget each.

Run from the project root (PostgreSQL: several clocks are a PostgreSQL deployment)::

    .venv/bin/python bench/bench_workspaces.py --database-url postgresql://postgres@127.0.0.1:5432/bench_ws
        [--workspaces 20] [--members 2500] [--clocks 1,2,4] [--scale 4] [--latency 0.05] [--workers N]
        [--click-rate 2]

Seeds ``--workspaces`` workspaces (one Grid, an OAuth installation and bot token each) of
``--members`` members in groups of 7 and 8 whose second session ended two hours ago: one
post-session wave owes every group its attendance check (a DM to the lead) and every member
the pulse survey that follows each second session (a DM each). The Slack stand-in answers
after ``--latency`` seconds and enforces each workspace's tiers on its own (chat.postMessage:
one a second per channel, 300 a minute per workspace, every other method by tier), all
scaled by ``--scale`` on both sides so a run takes minutes. For each clock count it starts
that many ``Clock`` processes (the bot's own, ``--workers`` threads each) and one
``compass-bot serve --no-clock`` process that answers a button click every
1/``--click-rate`` seconds during the wave (signed as Slack signs it, answered at its
``response_url``), once it has done its start-up work (each installation authorized).

Baseline, measured on the same calls in the same run: the rate-limit bound of the busiest
workspace, ``max(0, calls - burst) / rate`` for its busiest budget (the time a perfect
sender needs). It prints wall time ÷ that bound (target ≤ 1.05 with 2 and 4 clocks), the
share of calls answered 429 (target < 0.5%), whether every due action was delivered exactly
once (checked: every row done, one message per action and recipient, none twice), p99 time to
acknowledge a click and to answer it at its response_url during the wave (target < 300 ms;
each workspace's first click apart from the later ones, and what a click cost the web process:
CPU, statements, commits and connection checkouts), and the clock processes' CPU per post. It says what set the pace: the clocks' CPU where they were
busy more than 80% of the wall time on the cores they could use, Slack's budgets where the ratio is
within 1.05, and otherwise waiting with CPU to spare.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import httpx  # noqa: E402
from slack_sdk.oauth.installation_store import Installation  # noqa: E402
from slack_sdk.signature import SignatureVerifier  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlmodel import Session, SQLModel, select  # noqa: E402

from bench_ack_latency import free_port, percentile  # noqa: E402
from bot.domain import group_series as gs  # noqa: E402
from bot.domain.scheduling import SessionSlot  # noqa: E402
from bot.runtime.services import ProgramInstallationStore  # noqa: E402
from bot.runtime.settings import Settings  # noqa: E402
from bot.slack.rate_limits import POST_MESSAGE, budgets_for  # noqa: E402
from bot.standin import SlackStandIn  # noqa: E402
from bot.standin.ratelimits import RateLimits  # noqa: E402
from storage import groups as store  # noqa: E402
from storage import schedule  # noqa: E402
from storage.db import make_engine, session_scope, utcnow  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import Member, ScheduledAction  # noqa: E402
from storage.workspaces import ensure_workspace  # noqa: E402

TZ = "America/Chicago"
POSTS_PER_MINUTE = 300
DEFAULT_CLOCK_NICE = Settings.model_fields["compass_clock_nice"].default
SECRET = "bench-secret"
CLIENT_ID, CLIENT_SECRET = "1111.2222", "bench-client-secret"



def group_sizes(members: int, groups: int) -> list[int]:
    base, extra = divmod(members, groups)
    return [base + 1 if g < extra else base for g in range(groups)]


def team_of(w: int) -> str:
    return f"T{w:03d}BENCH"


def token_of(w: int) -> str:
    return f"xoxb-bench-{w:03d}"


def reset(engine) -> None:  # noqa: ANN001
    names = [t.name for t in SQLModel.metadata.sorted_tables]
    with engine.begin() as connection:
        existing = {row[0] for row in connection.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"))}
        tables = [f'"{n}"' for n in names if n in existing] + [f'"{n}"' for n in sorted(existing) if n.startswith("slack_")]
        connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))


def seed(engine, standin: SlackStandIn, workspaces: int, members: int) -> int:  # noqa: ANN001
    """Every workspace's groups with their second session two hours ago; returns the actions due."""
    installations = ProgramInstallationStore(client_id=CLIENT_ID, engine=engine)
    installations.create_tables()
    now = utcnow()
    second_start = (now - gs.ATTENDANCE_AFTER - timedelta(minutes=1)).replace(microsecond=0)
    local = second_start.astimezone(ZoneInfo(TZ))
    due = 0
    for w in range(workspaces):
        team = team_of(w)
        standin.add_workspace_token(token_of(w), team)
        installations.save(Installation(app_id="A0COMPASS", team_id=team, bot_token=token_of(w), bot_id="B0BENCH",
                                        bot_user_id="UBOT", user_id=f"U{w:03d}ADMIN", installed_at=time.time()))
        with session_scope(engine) as session:
            ensure_workspace(session, team_id=team)
            for g, size in enumerate(group_sizes(members, max(1, members // 7))):
                people = [f"U{w:03d}{g:04d}{m}" for m in range(size)]
                for user_id in people:
                    standin.add_user(user_id, tz=TZ)
                    session.add(Member(team_id=team, slack_user_id=user_id, status="active", consented_at=now, created_at=now,
                                       updated_at=now, timezone=TZ, stage="attending",
                                       quiet_start="00:00", quiet_end="00:00"))  # no quiet hours: the bench runs at any hour
                channel = standin.add_channel(f"compass-{w:03d}-{g:04d}", is_private=True, members=["UBOT", *people])
                group = store.create_group(session, team_id=team, name=f"Bench {w}-{g}", cohort="bench", mode="mixed",
                                           audience="all", timezone=TZ, lead_user_id=people[0], member_ids=people, now=now)
                group.channel_id, group.status = channel, "active"
                group.weekday, group.local_time = local.weekday(), f"{local:%H:%M}"
                slots = [SessionSlot(n + 1, second_start + timedelta(days=14 * (n - 1)),
                                     (local + timedelta(days=14 * (n - 1))).date()) for n in range(12)]
                rows = store.save_sessions(session, group_id=group.id, cycle=1, slots=slots)
                rows[0].status = "held"
                for action in gs.planned_actions(group.id, 1, slots):
                    if action.due_at <= now and action.kind in (gs.ATTENDANCE_KIND, gs.PULSE_KIND) and action.due_at > second_start:
                        schedule.schedule(session, key=action.key, kind=action.kind, due_at=action.due_at, team_id=team,
                                          payload=action.payload)
                        due += 1
    return due


def busiest_bound(calls, tokens: dict[str, str], scale: float) -> tuple[float, str]:  # noqa: ANN001
    """The rate-limit bound of the busiest workspace: the largest ``max(0, calls - burst) / rate`` of any budget."""
    spent: Counter = Counter()
    shape: dict[tuple, tuple[float, float]] = {}
    for call in calls:
        channel = call.args.get("channel") if call.method == POST_MESSAGE else None
        for scope, capacity, per_second in budgets_for(call.method, posts_per_minute=POSTS_PER_MINUTE, scale=scale):
            key = (tokens.get(call.token or "", "?"), call.method, channel if scope == "channel" else "*")
            spent[key] += 1
            shape[key] = (capacity, per_second)
    best, binding = 0.0, "none"
    for key, count in spent.items():
        capacity, per_second = shape[key]
        needed = max(0.0, count - capacity) / per_second
        if needed > best:
            best, binding = needed, f"{key[0]} {key[1]} {'workspace' if key[2] == '*' else 'channel'}: {count} calls"
    return best, binding


def workspace_lags(posts, tokens: dict[str, str], scale: float, go_at: float) -> tuple[list[float], dict[str, list[float]]]:  # noqa: ANN001
    """Each workspace's last post after the start, less its own post budget's bound: time its budget sat unused;
    and that time in its parts, replaying the workspace's post bucket (full at the start): full before the first
    post, full after it, and the tokens still in it at the last post (the parts add up when a wave outlasts the burst)."""
    by_team: dict[str, list[float]] = {}
    for call in posts:
        by_team.setdefault(tokens.get(call.token or "", "?"), []).append(call.at)
    _, (_, capacity, per_second) = budgets_for(POST_MESSAGE, posts_per_minute=POSTS_PER_MINUTE, scale=scale)
    parts: dict[str, list[float]] = {"before the first post": [], "full after it": [], "left at the end": []}
    for times in by_team.values():
        times.sort()
        level, previous, full = capacity, times[0], 0.0
        for at in times:
            level += (at - previous) * per_second
            full, level, previous = full + max(0.0, level - capacity) / per_second, min(level, capacity) - 1, at
        parts["before the first post"].append(times[0] - go_at)
        parts["full after it"].append(full)
        parts["left at the end"].append(level / per_second)
    lags = sorted(max(times) - go_at - max(0.0, len(times) - capacity) / per_second for times in by_team.values())
    return lags, {name: sorted(values) for name, values in parts.items()}


class Clicks:
    """Button clicks on the web process during the wave: time to the HTTP acknowledgement and to the response_url answer."""

    def __init__(self, url: str, rate: float, workspaces: int):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.url, self.rate, self.workspaces = url, rate, workspaces
        self.sent: dict[int, float] = {}
        self.acked: list[float] = []
        self.acked_by_serial: dict[int, float] = {}
        self.answered: list[float] = []
        self.failed = 0
        self._stop = threading.Event()
        clicks = self

        class Sink(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                serial = int(self.path.rsplit("/", 1)[1])
                clicks.answered.append(time.perf_counter() - clicks.sent[serial])
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:  # noqa: ANN002
                pass

        self._sink = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
        self._sink.daemon_threads = True
        threading.Thread(target=self._sink.serve_forever, daemon=True).start()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _payload(self, serial: int) -> tuple[str, dict]:
        team, user = team_of(serial % self.workspaces), f"U{serial:08d}"
        payload = {"type": "block_actions", "team": {"id": team, "domain": "bench"},
                   "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": team},
                   "api_app_id": "A0COMPASS", "trigger_id": f"{serial}.1.bench",
                   "response_url": f"http://127.0.0.1:{self._sink.server_address[1]}/response/{serial}",
                   "container": {"type": "message", "channel_id": "C0BENCH", "message_ts": "1.0"},
                   "channel": {"id": "C0BENCH"}, "message": {"ts": "1.0"},
                   "actions": [{"type": "button", "action_id": "forget_me_cancel", "block_id": "forget_me", "value": "cancel",
                                "action_ts": f"{time.time():.6f}"}]}
        body = urlencode({"payload": json.dumps(payload)})
        ts = str(int(time.time()))
        headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": ts,
                   "X-Slack-Signature": SignatureVerifier(SECRET).generate_signature(timestamp=ts, body=body)}
        return body, headers

    def _run(self) -> None:
        serial = 0
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                serial += 1
                body, headers = self._payload(serial)
                self.sent[serial] = started = time.perf_counter()
                try:
                    response = client.post(f"{self.url}/slack/events", content=body, headers=headers)
                    if response.status_code == 200:
                        self.acked.append(time.perf_counter() - started)
                        self.acked_by_serial[serial] = self.acked[-1]
                    else:
                        self.failed += 1
                except httpx.HTTPError:
                    self.failed += 1
                self._stop.wait(max(0.0, 1 / self.rate - (time.perf_counter() - started)))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=15)
        time.sleep(0.5)  # the last answers
        self._sink.shutdown()


def environment(standin: SlackStandIn, url: str, workers: int, processes: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "COMPASS_", "DATABASE_URL"))}
    env.update(SLACK_SIGNING_SECRET=SECRET, SLACK_API_URL=standin.url, SLACK_CLIENT_ID=CLIENT_ID,
               SLACK_CLIENT_SECRET=CLIENT_SECRET, DATABASE_URL=url, COMPASS_POSTS_PER_MINUTE=str(POSTS_PER_MINUTE),
               COMPASS_CLOCK_WORKERS=str(workers), PYTHONPATH=str(ROOT),
               # The processes together inside PostgreSQL's default 100 connections (3 kept for superusers), as README says.
               COMPASS_DB_CONNECTIONS=str(min(25, 90 // processes)))
    return env


def exactly_once(engine, standin: SlackStandIn) -> tuple[bool, str]:  # noqa: ANN001
    """Every due row done, and one message per delivered action and recipient; none twice, none missing."""
    with Session(engine) as session:
        rows = list(session.exec(select(ScheduledAction).where(ScheduledAction.due_at <= utcnow())))
    statuses = Counter(row.status for row in rows)
    posts = Counter()
    for call in standin.calls_to(POST_MESSAGE):
        if call.status == 200 and call.response and call.response.get("ok"):
            metadata = call.args.get("metadata")
            metadata = json.loads(metadata) if isinstance(metadata, str) else (metadata or {})
            key = (metadata.get("event_payload") or {}).get("key", "")
            posts[(key, call.args.get("channel"))] += 1
    keys = {key for key, _ in posts}
    # After a session with a check-in, the pulse check-in asks "Were you there?" itself: that attendance action posts nothing.
    silent = {row.key for row in rows if row.kind == gs.ATTENDANCE_KIND and int(row.key.split(":")[3]) % gs.PULSE_EVERY == 0}
    done = {row.key for row in rows if row.status == "done"}
    twice = sum(1 for count in posts.values() if count > 1)
    missing = len(done - silent - keys)
    stray = len(keys & silent)
    ok = statuses.keys() <= {"done"} and twice == 0 and missing == 0 and stray == 0 and all(row.attempts == 1 for row in rows)
    return ok, (f"rows {dict(statuses)}, {sum(posts.values())} posts, {twice} sent twice, {missing} actions without a post, "
                f"{len(silent)} attendance checks asked by the check-in instead, {stray} of them posted")


def web_usage(pid: int, counts: Path) -> dict[str, float]:
    """The web process's CPU seconds so far (from /proc) and its statements and commits (from its counts file)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    return {"cpu": cpu, **json.loads(counts.read_text())}


def machine_times() -> tuple[int, int]:
    """(all, idle) CPU time of the whole machine so far, in clock ticks, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(fields[:8]), fields[3] + fields[4]  # user .. steal; idle + iowait


def postgres_seconds() -> float:
    """CPU seconds of the local PostgreSQL server so far: its live processes, and the backends that have
    exited (the postmaster's reaped children). Includes anything else using the server."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            pid, rest = stat.read_text().split(" (", 1)
            comm, fields = rest.rsplit(") ", 1)
        except (OSError, ValueError):
            continue
        if comm != "postgres":
            continue
        values = fields.split()
        ticks += int(values[11]) + int(values[12])  # utime, stime
        if values[1] == "1" or not Path(f"/proc/{values[1]}/stat").exists() or "postgres" not in Path(
                f"/proc/{values[1]}/stat").read_text().split(")")[0]:
            ticks += int(values[13]) + int(values[14])  # the postmaster: cutime, cstime of its exited backends
    return ticks / os.sysconf("SC_CLK_TCK")


def workers_for(args: argparse.Namespace, clocks: int) -> int:  # noqa: ARG001 - the same whatever the clock count
    # The clock's own minimum (COMPASS_CLOCK_WORKERS); each tick takes 1.2 threads per workspace with rows due
    # (bot.runtime.clock.Clock.threads_for), in every clock: the shared budget, not the threads, divides the work.
    return args.workers or 8


def run(args: argparse.Namespace, clocks: int, workdir: Path) -> dict:
    engine = make_engine(args.database_url, max_connections=5)  # the bench reads little; the processes get the rest
    upgrade(engine)
    reset(engine)
    with SlackStandIn(team_id=team_of(0), bot_token="xoxb-unused", bot_user_id="UBOT") as standin:
        started = time.perf_counter()
        due = seed(engine, standin, args.workspaces, args.members)
        # Statistics for the planner, as autovacuum would have gathered long before a database grew to this size; here
        # the rows are seconds old, and a server may run without autovacuum (this machine's test server does). Without
        # them a group's members were read by scanning every active member of every workspace, once a group.
        with engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
        print(f"  seeded {args.workspaces} x {args.members} members, {due} actions due, in {time.perf_counter() - started:.0f} s",
              flush=True)
        standin.latency = args.latency
        standin.rate_limits = RateLimits(scale=args.scale, post_message_per_minute=POSTS_PER_MINUTE)
        env = environment(standin, args.database_url, workers_for(args, clocks), clocks + 1)
        if args.clock_nice is not None:
            env["COMPASS_CLOCK_NICE"] = str(args.clock_nice)
        port = free_port()
        web_log = open(workdir / f"web-{clocks}.log", "w")  # noqa: SIM115
        web_counts = workdir / f"web-counts-{clocks}.json"
        web = subprocess.Popen([sys.executable, str(ROOT / "bench" / "workspace_web.py"), str(web_counts)],
                               env={**env, "PORT": str(port)}, cwd=ROOT, stdout=web_log, stderr=subprocess.STDOUT)
        go = workdir / f"go-{clocks}"
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        procs = []
        for n in range(clocks):
            config = {"id": f"clock-{n}", "scale": args.scale, "batch": 10, "go": str(go),
                      "ready": str(workdir / f"ready-{clocks}-{n}")}
            procs.append(subprocess.Popen([sys.executable, str(ROOT / "bench" / "workspace_clock.py"), json.dumps(config)], env=env, cwd=ROOT,
                                          stdout=subprocess.PIPE, stderr=open(workdir / f"clock-{clocks}-{n}.log", "w"), text=True))
        deadline = time.monotonic() + 120
        while not all((workdir / f"ready-{clocks}-{n}").exists() for n in range(clocks)):
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise SystemExit(f"a clock did not start; see {workdir}")
            time.sleep(0.05)
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if web.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the web process did not start; see {workdir}")
            time.sleep(0.1)
        # As in a web process that has been up a while: its start-up work (each installation authorized) is done.
        while "warm-up at start: authorize_installations" not in (workdir / f"web-{clocks}.log").read_text():
            if web.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the web process did not finish its start-up work; see {workdir}")
            time.sleep(0.1)
        clicks = Clicks(f"http://127.0.0.1:{port}", args.click_rate, args.workspaces)
        first_call = len(standin.calls)
        time.sleep(0.5)  # the web's counts file written since it started
        web_before = web_usage(web.pid, web_counts)
        machine_before = machine_times()
        postgres_before, own_before = postgres_seconds(), resource.getrusage(resource.RUSAGE_SELF)
        go_at = time.time()
        go.touch()
        clicks.start()
        delivered, stats, moments, refused_at, by_statement = 0, Counter(), [], Counter(), Counter()
        for proc in procs:
            out, _ = proc.communicate(timeout=3600)
            if proc.returncode != 0:
                raise SystemExit(f"a clock failed; see {workdir}")
            report = json.loads(out.strip().splitlines()[-1])
            delivered += report.pop("delivered")
            report.pop("id")
            by_statement.update(report.pop("by_statement"))
            moments.append({name: at - go_at for name, at in report.pop("moments").items()})
            refused_at.update({int((int(second) - go_at) // 10) * 10: n for second, n in report.pop("refused_at").items()})
            stats.update(report)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        machine_after = machine_times()
        postgres_after, own_after = postgres_seconds(), resource.getrusage(resource.RUSAGE_SELF)
        clicks.stop()
        time.sleep(0.3)
        web_after = web_usage(web.pid, web_counts)
        web.terminate()
        web.wait(timeout=30)
        web_log.close()
        calls = [c for c in standin.calls[first_call:] if c.status is not None]
        limited = sum(1 for c in calls if c.status == 429)
        posts = [c for c in calls if c.method == POST_MESSAGE and c.status == 200]
        wall = max(c.at for c in posts) - go_at
        tokens = {token_of(w): team_of(w) for w in range(args.workspaces)}
        bound, binding = busiest_bound([c for c in calls if c.status != 429], tokens, args.scale)
        lags, lag_parts = workspace_lags(posts, tokens, args.scale, go_at)
        once, detail = exactly_once(engine, standin)
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    engine.dispose()
    return {"clocks": clocks, "due": due, "delivered": delivered, "wall": wall, "bound": bound, "binding": binding,
            "calls": len(calls), "limited": limited, "once": once, "detail": detail, "posts": len(posts),
            "cpu": cpu, "postgres_cpu": postgres_after - postgres_before,
            "own_cpu": (own_after.ru_utime + own_after.ru_stime) - (own_before.ru_utime + own_before.ru_stime),
            "machine_busy": 1 - (machine_after[1] - machine_before[1]) / max(machine_after[0] - machine_before[0], 1),
            "ack_p99": percentile(clicks.acked, 0.99) if clicks.acked else float("nan"),
            "answer_p99": percentile(clicks.answered, 0.99) if clicks.answered else float("nan"),
            "ack_p50": percentile(clicks.acked, 0.5) if clicks.acked else float("nan"),
            # Serials 1..workspaces are each workspace's first click: its authorization is not cached yet.
            "first_acks": [a for n, a in clicks.acked_by_serial.items() if n <= args.workspaces],
            "later_acks": [a for n, a in clicks.acked_by_serial.items() if n > args.workspaces],
            "answer_p50": percentile(clicks.answered, 0.5) if clicks.answered else float("nan"),
            "clicks": len(clicks.sent), "answered": len(clicks.answered), "click_failures": clicks.failed,
            "web": {key: web_after[key] - web_before[key] for key in web_before},
            "stats": dict(stats), "lags": lags, "lag_parts": lag_parts, "moments": moments, "refused_at": refused_at,
            "by_statement": by_statement}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="an empty PostgreSQL database")
    parser.add_argument("--workspaces", type=int, default=20)
    parser.add_argument("--members", type=int, default=2500, help="members per workspace")
    parser.add_argument("--clocks", default="1,2,4")
    parser.add_argument("--scale", type=float, default=4.0, help="every budget times this, on both sides")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds the stand-in takes to answer")
    parser.add_argument("--workers", type=int, help="each clock's minimum of delivery threads (default 8; a tick takes "
                                                     "1.2 a workspace with rows due, at most 40)")
    # Bolt authorizes every request of an OAuth app with an auth.test call (it keeps no cache), outside the
    # bot's limiter: keep clicks under the workspaces' auth.test budget (Tier 4: 100 a minute, times --scale).
    parser.add_argument("--click-rate", type=float, default=2.0, help="button clicks a second during the wave, over all workspaces")
    # Web and clock processes share this machine's cores here, where a deployment gives the web its own:
    # a lower CPU priority for the clocks (which mostly wait on budgets) shows the clicks' latency without that.
    parser.add_argument("--clock-nice", type=int, default=None,
                        help="COMPASS_CLOCK_NICE for the clocks: how much nicer than the web they run (default: the bot's, 10)")
    args = parser.parse_args()
    if not args.database_url.startswith("postgresql"):
        raise SystemExit("several clocks share a PostgreSQL database; give --database-url postgresql://...")
    failed = False
    cores = os.cpu_count() or 1
    print(f"{args.workspaces} workspaces x {args.members} members, budgets x{args.scale:g}, stand-in latency "
          f"{1000 * args.latency:.0f} ms, {cores} cores, load average {os.getloadavg()[0]:.1f}"
          + f", clocks at nice +{DEFAULT_CLOCK_NICE if args.clock_nice is None else args.clock_nice} (COMPASS_CLOCK_NICE)")
    with tempfile.TemporaryDirectory() as tmp:
        for clocks in (int(n) for n in args.clocks.split(",")):
            print(f"{clocks} clock process(es), at least {workers_for(args, clocks)} delivery threads each "
                  f"({min(40, -(-12 * args.workspaces // 10))} while every workspace has rows due):", flush=True)
            r = run(args, clocks, Path(tmp))
            ratio = r["wall"] / r["bound"] if r["bound"] else float("inf")
            # A clock process runs Python on one core at a time (the GIL), so each can use at most one.
            busy = r["cpu"] / (r["wall"] * min(cores, clocks))
            failed |= not r["once"] or r["delivered"] != r["due"]
            print(f"  wall {r['wall']:.1f} s; bound of the busiest workspace {r['bound']:.1f} s ({r['binding']}); "
                  f"ratio {ratio:.3f} (target <= 1.05)")
            print(f"  429s: {r['limited']} of {r['calls']} calls = {100 * r['limited'] / max(r['calls'], 1):.2f}% (target < 0.5%)")
            print(f"  exactly once: {'yes' if r['once'] else 'NO'} ({r['delivered']} of {r['due']} actions delivered; {r['detail']})")
            print(f"  clicks during the wave: {r['clicks']} sent, p50 / p99 ack {1000 * r['ack_p50']:.0f} / {1000 * r['ack_p99']:.0f} ms, "
                  f"p50 / p99 answer {1000 * r['answer_p50']:.0f} / "
                  f"{1000 * r['answer_p99']:.0f} ms ({r['answered']} answered, {r['click_failures']} failed; target < 300 ms)")
            first, later = sorted(r["first_acks"]), sorted(r["later_acks"])
            if first and later:
                print(f"  acknowledgements: each workspace's first click p50 {1000 * percentile(first, 0.5):.0f} ms, max "
                      f"{1000 * first[-1]:.0f} ms; the {len(later)} later clicks p50 {1000 * percentile(later, 0.5):.0f} ms, "
                      f"p99 {1000 * percentile(later, 0.99):.0f} ms, max {1000 * later[-1]:.0f} ms")
            web, sent = r["web"], max(r["clicks"], 1)
            print(f"  the web process during the wave, a click: {1000 * web['cpu'] / sent:.1f} ms CPU, "
                  f"{web['statements'] / sent:.1f} statements, {web['commits'] / sent:.1f} commits, "
                  f"{web['checkouts'] / sent:.1f} connection checkouts")
            st, lags = r["stats"], r["lags"]
            print(f"  budget idle per workspace (its last post less its own post bound): median {lags[len(lags) // 2]:.1f} s, "
                  f"max {lags[-1]:.1f} s; clocks: {st.get('takes', 0)} token takes, {1000 * st.get('take_s', 0) / max(st.get('takes', 1), 1):.1f} ms "
                  f"each (row locks and round trips), {st.get('refused', 0)} refused, {st.get('ahead', 0)} granted ahead, "
                  f"{st.get('sleep_s', 0):.0f} thread-s asleep for a refill; {st.get('claims', 0)} claims ({st.get('empty_claims', 0)} empty), "
                  f"{st.get('claimed', 0) / max(st.get('claims', 1) - st.get('empty_claims', 0), 1):.1f} rows a claim, "
                  f"{1000 * st.get('claim_s', 0) / max(st.get('claims', 1), 1):.1f} ms each; {st.get('connects', 0)} database connections opened; "
                  f"{st.get('client_s', 0):.1f} thread-s getting a workspace's Slack client; a post: "
                  f"{st.get('statements', 0) / max(r['posts'], 1):.1f} statements, {st.get('commits', 0) / max(r['posts'], 1):.1f} "
                  f"commits, {st.get('checkouts', 0) / max(r['posts'], 1):.1f} connection checkouts")
            print("  the clocks' statements a post: " + ", ".join(f"{n / max(r['posts'], 1):.2f} {kind}"
                                                              for kind, n in r["by_statement"].most_common(12)))
            print("  of which (median / max): " + ", ".join(f"{name} {v[len(v) // 2]:.1f} / {v[-1]:.1f} s"
                                                       for name, v in r["lag_parts"].items()))
            print("  after the start: " + "; ".join(", ".join(f"{name} {at:.2f} s" for name, at in sorted(m.items(), key=lambda i: i[1]))
                                                 for m in r["moments"]))
            print("  refused takes by 10 s from the start: " + " ".join(f"{s}:{n}" for s, n in sorted(r["refused_at"].items())))
            print(f"  clock CPU {r['cpu']:.1f} s = {1000 * r['cpu'] / max(r['posts'], 1):.2f} ms a post; clocks busy "
                  f"{100 * busy:.0f}% of the cores they could use; the machine {100 * r['machine_busy']:.0f}% busy during the "
                  f"wave (clocks, web, PostgreSQL, stand-in), load average {os.getloadavg()[0]:.1f}"
                  + (f"; CPU by part: clocks {r['cpu']:.0f} s, PostgreSQL {r['postgres_cpu']:.0f} s, the stand-in and click driver "
                     f"{r['own_cpu']:.0f} s, web {r['web']['cpu']:.0f} s, of {cores * r['wall']:.0f} core-s")
                  + ("; the machine's CPU, not Slack, sets the pace" if busy > 0.8 or r["machine_busy"] > 0.9 else
                     "; slower than the budgets, with CPU to spare: waiting (for a core on a loaded machine, or in the clock)"
                     if ratio > 1.05 else "; Slack's budgets set the pace"), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
