"""One workspace's wave never keeps the clock's threads from the others (bot/runtime/clock.py).

Workspace A has many deliveries due first, each of which waits (as on its own exhausted Slack
budget) until workspace B's one delivery has gone out, or gives up after a few seconds. A fair
clock gives B a thread while A waits; one that fills every thread with A makes each of A's
deliveries wait its whole time out first.
"""

from __future__ import annotations

import threading
from datetime import timedelta

from bot.runtime.clock import Clock
from storage import schedule
from storage.db import session_scope, utcnow

PATIENCE = 5.0  # seconds an A delivery waits for B


def test_a_workspace_waiting_on_its_budget_leaves_threads_for_another(services):
    now = utcnow()
    with session_scope(services.engine) as session:
        for n in range(12):
            schedule.schedule(session, key=f"wave:a:{n}", kind="wave_a", due_at=now - timedelta(minutes=10, seconds=n),
                              team_id="T0A", subject_user_id=f"UA{n:02d}")
        schedule.schedule(session, key="wave:b:0", kind="wave_b", due_at=now - timedelta(minutes=1), team_id="T0B",
                          subject_user_id="UB00")
    b_sent = threading.Event()
    waited_out: list[str] = []

    def deliver_a(_services, _client, row, _payload) -> None:  # noqa: ANN001
        if not b_sent.wait(PATIENCE):
            waited_out.append(row.key)

    clock = Clock(services, workers=2, batch=4)
    clock.handlers = {"wave_a": deliver_a, "wave_b": lambda *_: b_sent.set()}
    report = clock.tick()
    assert report.delivered == 13
    assert waited_out == []  # B went out while A's first deliveries waited


def test_every_workspace_with_rows_due_gets_a_thread_whatever_the_workers_setting(services):
    # Ten workspaces, one delivery each, every one waiting (as on its own Slack budget) until all ten are in
    # flight at once: a clock that keeps to its 2 configured threads leaves eight workspaces without one.
    workspaces = 10
    now = utcnow()
    with session_scope(services.engine) as session:
        for n in range(workspaces):
            schedule.schedule(session, key=f"wave:{n}", kind="wave", due_at=now - timedelta(minutes=1), team_id=f"T{n:02d}",
                              subject_user_id=f"U{n:02d}")
    all_in_flight = threading.Barrier(workspaces, timeout=PATIENCE)
    stranded: list[str] = []

    def deliver(_services, _client, row, _payload) -> None:  # noqa: ANN001
        try:
            all_in_flight.wait()
        except threading.BrokenBarrierError:
            stranded.append(row.key)

    clock = Clock(services, workers=2, batch=4)
    clock.handlers = {"wave": deliver}
    report = clock.tick()
    assert report.delivered == workspaces
    assert stranded == []
    assert clock.threads == 12  # 1.2 a workspace with rows due


def test_work_another_process_holds_is_retried_when_its_claim_would_be_stale_not_sooner(services):
    """A guide claimed by a process that died: quick retries would use up every attempt before the claim
    goes stale (the fault test's four clocks once failed a guide for good that way)."""
    from bot.runtime.delivery import RetryLater
    from sqlmodel import Session, select

    from storage.models import ScheduledAction

    now = utcnow()
    with session_scope(services.engine) as session:
        schedule.schedule(session, key="held:0", kind="held", due_at=now - timedelta(seconds=1), team_id="T0A")
    stale_at = now + timedelta(minutes=4)

    def deliver(*_args) -> None:  # noqa: ANN002
        raise RetryLater("another process is posting this guide right now", not_before=stale_at)

    clock = Clock(services, workers=1, batch=1)
    clock.handlers = {"held": deliver}
    assert clock.tick().total()
    with Session(services.engine) as session:
        row = session.exec(select(ScheduledAction).where(ScheduledAction.key == "held:0")).one()
    assert row.status == schedule.PENDING and row.retry_at >= stale_at  # not after the 30-second backoff


def test_rows_claimed_but_not_started_go_back_at_once_when_the_tick_stops_on_a_database_error(services, monkeypatch):
    """A tick refused a connection while claiming more used to leave the lanes it had claimed, not started,
    until their lease ended (5 minutes; 100 in the scaled bench): now they are pending again at once."""
    from sqlalchemy.exc import OperationalError
    from sqlmodel import Session, select

    from storage.models import ScheduledAction

    now = utcnow()
    with session_scope(services.engine) as session:
        for n in range(12):
            schedule.schedule(session, key=f"wave:{n}", kind="wave", due_at=now - timedelta(minutes=1, seconds=n),
                              team_id="T0A", subject_user_id=f"U{n:02d}")
    real_claim, claims = schedule.claim_due, []

    def claim_then_refused(*args, **kwargs):  # noqa: ANN002, ANN003
        claims.append(kwargs.get("limit"))
        if len(claims) == 1:
            return real_claim(*args, **kwargs)
        raise OperationalError("SELECT ...", {}, Exception("FATAL: sorry, too many clients already"))

    monkeypatch.setattr(schedule, "claim_due", claim_then_refused)
    delivered: list[str] = []
    clock = Clock(services, workers=1, batch=4)
    clock.handlers = {"wave": lambda _s, _c, row, _p: delivered.append(row.key)}
    clock.tick()
    assert len(claims) == 2 and delivered == []
    with Session(services.engine) as session:
        rows = session.exec(select(ScheduledAction)).all()
    assert {(row.status, row.claimed_by, row.attempts) for row in rows} == {("pending", "", 0)}
