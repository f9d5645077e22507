"""The heartbeat: every minute, claim due rows of the schedule and deliver them.

The database is the schedule; APScheduler is only the clock. Rows are claimed with a
lease (and ``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so a restart, a missed tick or
a second process can neither lose nor duplicate a delivery. On SQLite only one clock
process may run: a lock file next to the database enforces it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import threading
import time
import zlib
from collections import Counter, deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy import distinct, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from bot.runtime.delivery import DeliveryFailed, DropDelivery, RetryLater
from bot.flows import FLOWS
from bot.runtime.services import Services
from bot.slack.rate_limits import scheduled_work
from storage import schedule
from storage.db import session_scope, utcnow
from storage.events import prune
from storage.models import ScheduledAction

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 60
MAX_ATTEMPTS = 6
BASE_BACKOFF = timedelta(seconds=30)
MAX_BACKOFF = timedelta(minutes=30)
FAIR_SHARE = 2
# Delivery threads a tick may use at most. A delivery holds a database connection only between its Slack calls
# (none while it sleeps on a budget); the PostgreSQL pool opens at most COMPASS_DB_CONNECTIONS
# (storage.db.make_engine), and a thread that finds them all in use waits for one.
MAX_THREADS = 40
# A tick stopped by a database error hands its unstarted rows back; the database may need a moment.
HAND_BACK_ATTEMPTS, HAND_BACK_PAUSE = 3, 0.5

Handler = Callable[..., None]
FailureHook = Callable[[Services, ScheduledAction, str], None]


class ClockAlreadyRunning(Exception):
    pass


@dataclass
class TickReport:
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    dropped: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, outcome: str, kind: str | None = None) -> None:
        with self._lock:
            setattr(self, outcome, getattr(self, outcome) + 1)
            if kind is not None:
                self.kinds[kind] = self.kinds.get(kind, 0) + 1

    def total(self) -> int:
        return self.delivered + self.retried + self.failed + self.dropped


def delivery_handlers() -> dict[str, Handler]:
    handlers: dict[str, Handler] = {}
    for flow in FLOWS:
        handlers.update(getattr(flow, "DELIVERIES", {}))
    return handlers


def failure_hooks() -> dict[str, FailureHook]:
    hooks: dict[str, FailureHook] = {}
    for flow in FLOWS:
        hooks.update(getattr(flow, "ON_FAILURE", {}))
    return hooks


def backoff(attempts: int) -> timedelta:
    return min(BASE_BACKOFF * (2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def workspaces_due(engine: Engine) -> int:
    """How many workspaces have unclaimed rows due now: a tick sizes its threads to them."""
    query = select(func.count(distinct(ScheduledAction.team_id))).where(
        ScheduledAction.status == schedule.PENDING, ScheduledAction.due_at <= utcnow())
    with engine.connect() as connection:
        return connection.execute(query).scalar() or 0


def lane_of(row: ScheduledAction) -> str:
    """Deliveries for one person (or one group, or one pairing round) keep their order; lanes run side by side."""
    if row.subject_user_id:
        return f"{row.team_id}:user:{row.subject_user_id}"
    payload = schedule.payload_of(row)
    for field_name in ("group_id", "round_id", "pair_id"):
        if payload.get(field_name) is not None:
            return f"{row.team_id}:{field_name}:{payload[field_name]}"
    return row.key


def in_lanes(rows: list[ScheduledAction]) -> list[list[ScheduledAction]]:
    lanes: dict[str, list[ScheduledAction]] = {}
    for row in rows:
        lanes.setdefault(lane_of(row), []).append(row)
    return list(lanes.values())


class Clock:
    """Delivers due rows with threads, so that Slack's rate limits (the shared, blocking limiter in
    bot.slack.client), not each call's latency, set the pace of a tick.

    A tick uses ``workers`` threads, or more when more workspaces have rows due: 1.2 a workspace
    (at most MAX_THREADS). A delivery thread spends most of a wave asleep on its workspace's budget,
    so a clock needs one per workspace with a wave to keep every budget busy, whatever the number of
    clocks: the shared budget, not the threads, divides the work between clocks. With fewer (as when
    threads were divided among clocks), workspaces sat with no thread in any clock while their rows
    waited, claimed, in one.

    Rows are claimed in small batches (``batch``) and only while fewer than two lanes per
    thread wait, so every claimed row starts well inside its lease and no second clock can
    take the same rows.
    """

    def __init__(self, services: Services, *, worker_id: str | None = None, batch: int = 20,
                 lease: timedelta = timedelta(minutes=5), max_attempts: int = MAX_ATTEMPTS, workers: int | None = None):
        self.services = services
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}"
        self.batch = batch
        self.lease = lease
        self.max_attempts = max_attempts
        self.workers = workers or services.settings.compass_clock_workers
        self.threads = self.workers  # this tick's
        self.handlers = delivery_handlers()
        self.on_failure = failure_hooks()

    def tick(self) -> TickReport:
        """Deliver everything due now; safe to call at any time, from any number of processes."""
        report = TickReport()
        try:
            self.threads = self.threads_for(workspaces_due(self.services.engine))
            with ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="clock") as pool:
                self._deliver_due(pool, report)
            with session_scope(self.services.engine) as session:
                prune(session)
        except SQLAlchemyError:
            log.exception("clock: the database is unreachable; the next heartbeat will try again")
        if report.total():
            log.info("clock: delivered %d, retrying %d, failed %d, dropped %d", report.delivered, report.retried, report.failed, report.dropped)
        return report

    def threads_for(self, workspaces_due: int) -> int:
        return max(self.workers, min(MAX_THREADS, -(-12 * workspaces_due // 10)))

    @property
    def fair_share(self) -> int:
        """Lanes of one workspace in flight while others have rows due: its deliveries mostly wait on its own
        Slack budget, and two keep that budget busy while one waits for Slack's answer."""
        return min(FAIR_SHARE, self.threads)

    def _deliver_due(self, pool: ThreadPoolExecutor, report: TickReport) -> None:
        """Claim and deliver, fairly across workspaces: a workspace already holding ``fair_share`` lanes
        (its deliveries waiting on its own Slack budget) gets no more threads while another workspace has
        rows due, so one big wave never keeps the threads from the others; when no other workspace has
        anything due it may take them all."""
        running: dict[Future, str] = {}  # each running lane's workspace
        waiting: dict[str, deque[list[ScheduledAction]]] = {}  # claimed lanes not yet started, by workspace
        nothing_due, others_due = False, True
        try:
            while True:
                if not nothing_due:
                    rows, others_due = self._claim(running, waiting, others_due)
                    if rows:
                        for lane in in_lanes(rows):
                            waiting.setdefault(lane[0].team_id, deque()).append(lane)
                        continue
                    nothing_due = True
                while len(running) < self.threads and waiting:
                    counts = Counter(running.values())
                    # The workspace with the fewest deliveries running; ties in this clock's own order, so that
                    # clocks short of threads for every workspace serve different ones rather than all the same.
                    team = min(waiting, key=lambda t: (counts[t], self._preference(t)))
                    if counts[team] >= self.fair_share and others_due:
                        break  # keep the thread for a workspace with rows due
                    running[pool.submit(self._deliver_lane, waiting[team].popleft(), report)] = team
                    if not waiting[team]:
                        del waiting[team]
                if not running:
                    return
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    del running[future]
                # A finished delivery may have scheduled a follow-up that is due at once.
                nothing_due = False
        finally:
            # Everything started is finished before the tick ends; lanes claimed but not started (only
            # when an error got here first, e.g. a refused connection) go back to the schedule now.
            wait(list(running))
            self._hand_back([row for lanes in waiting.values() for lane in lanes for row in lane])

    def _hand_back(self, rows: list[ScheduledAction]) -> None:
        if not rows:
            return
        for attempt in range(HAND_BACK_ATTEMPTS):
            try:
                handed = schedule.hand_back(self.services.engine, rows, worker_id=self.worker_id)
            except SQLAlchemyError:
                time.sleep(HAND_BACK_PAUSE * (attempt + 1))
                continue
            log.warning("clock: handed %d claimed row(s) it had not started back to the schedule", handed)
            return
        log.warning("clock: could not hand %d claimed row(s) back; they return when their lease ends", len(rows))

    def _preference(self, team: str) -> int:
        return zlib.crc32(f"{self.worker_id}:{team}".encode())

    def _claim(self, running: dict[Future, str], waiting: dict[str, deque], others_due: bool) -> tuple[list[ScheduledAction], bool]:
        """Rows to deliver (at most two lanes per thread held), and whether a workspace not yet at its share has rows due."""
        held = Counter(running.values()) + Counter({team: len(lanes) for team, lanes in waiting.items()})
        busy = [team for team, lanes in held.items() if lanes >= self.fair_share]
        engine, rows = self.services.engine, []
        if busy and sum(held.values()) - sum(held[team] for team in busy) < self.threads:
            rows = schedule.claim_due(engine, worker_id=self.worker_id, lease=self.lease, limit=self.batch, skip_teams=busy)
            others_due = bool(rows)
        room = 2 * self.threads - sum(held.values())
        if not rows and room > 0:
            rows = schedule.claim_due(engine, worker_id=self.worker_id, lease=self.lease, limit=min(self.batch, room))
        return rows, others_due

    def _deliver_lane(self, lane: list[ScheduledAction], report: TickReport) -> None:
        # Scheduled work: its Slack calls leave a reserve of each budget for people clicking now.
        with scheduled_work():
            for row in lane:
                try:
                    self._deliver(row, report)
                except Exception:  # noqa: BLE001 - e.g. the database went away while recording the outcome
                    log.exception("clock: could not finish %s; its lease will hand it back", row.key)

    def _deliver(self, row: ScheduledAction, report: TickReport) -> None:
        engine = self.services.engine
        handler = self.handlers.get(row.kind)
        if handler is None:
            schedule.fail(engine, row, worker_id=self.worker_id, error=f"no handler for {row.kind}")
            report.count("failed")
            return
        try:
            handler(self.services, self.services.clients.for_team(row.team_id), row, schedule.payload_of(row))
        except DropDelivery as exc:
            log.info("clock: dropped %s: %s", row.key, exc)
            schedule.drop(engine, row, worker_id=self.worker_id, reason=str(exc))
            report.count("dropped")
            return
        except (RetryLater, SQLAlchemyError, OSError) as exc:
            self._retry_or_fail(row, f"{type(exc).__name__}: {exc}", report, not_before=getattr(exc, "not_before", None))
            return
        except DeliveryFailed as exc:
            self._fail(row, str(exc), report)
            return
        except Exception as exc:  # noqa: BLE001 - one broken row must not stop the others
            log.exception("clock: delivering %s raised", row.key)
            self._retry_or_fail(row, f"{type(exc).__name__}: {exc}", report)
            return
        schedule.complete(engine, row, worker_id=self.worker_id)
        report.count("delivered", row.kind)

    def _retry_or_fail(self, row: ScheduledAction, error: str, report: TickReport, *,
                       not_before: datetime | None = None) -> None:
        if row.attempts >= self.max_attempts:
            self._fail(row, error, report)
            return
        retry_at = max(utcnow() + backoff(row.attempts), not_before or utcnow())
        log.warning("clock: %s failed (attempt %d), retrying at %s: %s", row.key, row.attempts, retry_at.isoformat(), error)
        schedule.retry_later(self.services.engine, row, worker_id=self.worker_id, retry_at=retry_at, error=error)
        report.count("retried")

    def _fail(self, row: ScheduledAction, error: str, report: TickReport) -> None:
        log.error("clock: %s failed for good after %d attempt(s): %s", row.key, row.attempts, error)
        schedule.fail(self.services.engine, row, worker_id=self.worker_id, error=error)
        report.count("failed")
        hook = self.on_failure.get(row.kind)
        if hook is not None:
            try:
                hook(self.services, row, error)
            except Exception:  # noqa: BLE001
                log.exception("clock: the failure notice for %s could not be sent", row.key)


def give_way_to_interactive_work(increment: int) -> int:
    """Lower this process's CPU priority by ``increment`` (Unix nice), so that on a machine shared with a web
    process a click is answered before a wave's deliveries take the CPU. Returns the process's niceness."""
    if not hasattr(os, "nice"):
        return 0
    return os.nice(increment) if increment > 0 else os.nice(0)


def sqlite_lock_path(database_url: str) -> Path | None:
    path = database_url.removeprefix("sqlite:///")
    if not path or path == ":memory:" or database_url == path:
        return None
    return Path(path).resolve().with_name(Path(path).name + ".clock.lock")


class SingleClockLock:
    """Refuses a second clock process on the same SQLite database."""

    def __init__(self, path: Path):
        self.path = path
        self._handle = None

    def acquire(self) -> None:
        handle = open(self.path, "a+")  # noqa: SIM115 - held for the life of the process
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise ClockAlreadyRunning(
                f"another clock is already running on this SQLite database (lock {self.path}). "
                "Run one clock on SQLite, or use PostgreSQL (DATABASE_URL) for several."
            ) from None
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def start_heartbeat(clock: Clock, *, blocking: bool) -> BackgroundScheduler | BlockingScheduler:
    scheduler_class = BlockingScheduler if blocking else BackgroundScheduler
    scheduler = scheduler_class(timezone=timezone.utc)
    scheduler.add_job(
        clock.tick,
        "interval",
        seconds=HEARTBEAT_SECONDS,
        id="heartbeat",
        next_run_time=datetime.now(timezone.utc),
        misfire_grace_time=3600,
        coalesce=True,
        max_instances=1,
    )
    scheduler.start()
    return scheduler
