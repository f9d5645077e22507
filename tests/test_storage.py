"""Schema, engine settings and the schedule's claim semantics, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlmodel import Session, SQLModel

from storage import schedule
from storage.db import session_scope, utcnow
from storage.migrate import head_revision, is_up_to_date


def test_migrations_build_exactly_the_models(engine):
    assert is_up_to_date(engine)
    def ours(name, type_, parent_names):  # noqa: ANN001, ANN202
        # slack-sdk's OAuth installation and state stores create their own slack_* tables.
        return not (type_ == "table" and name.startswith("slack_"))

    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "include_name": ours})
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == []
    assert head_revision()


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(engine):
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() >= 5000
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1


def add(engine, key: str, *, due_in: timedelta = timedelta(0)) -> bool:  # noqa: ANN001
    with session_scope(engine) as session:
        return schedule.schedule(session, key=key, kind="test", due_at=utcnow() + due_in, team_id="T1")


def test_an_idempotency_key_is_scheduled_once(engine):
    assert add(engine, "k1") is True
    assert add(engine, "k1") is False
    rows = schedule.claim_due(engine, worker_id="w1")
    assert [r.key for r in rows] == ["k1"]


def test_only_due_rows_are_claimed_and_a_claim_is_exclusive(engine):
    add(engine, "now")
    add(engine, "later", due_in=timedelta(hours=1))
    first = schedule.claim_due(engine, worker_id="w1")
    assert [r.key for r in first] == ["now"]
    assert schedule.claim_due(engine, worker_id="w2") == []
    assert schedule.complete(engine, first[0], worker_id="w2") is False  # not its lease
    assert schedule.complete(engine, first[0], worker_id="w1") is True
    assert schedule.claim_due(engine, worker_id="w2", now=utcnow() + timedelta(hours=2))[0].key == "later"


def test_an_expired_lease_is_claimed_again_and_the_old_worker_cannot_finish(engine):
    add(engine, "k")
    (row,) = schedule.claim_due(engine, worker_id="dead", lease=timedelta(minutes=5))
    assert schedule.claim_due(engine, worker_id="alive", now=utcnow() + timedelta(minutes=4)) == []
    (again,) = schedule.claim_due(engine, worker_id="alive", now=utcnow() + timedelta(minutes=6))
    assert again.attempts == 2
    assert schedule.complete(engine, row, worker_id="dead") is False
    assert schedule.complete(engine, again, worker_id="alive") is True


def test_retry_waits_for_its_time_and_cancel_stops_pending_rows(engine):
    add(engine, "r")
    (row,) = schedule.claim_due(engine, worker_id="w")
    schedule.retry_later(engine, row, worker_id="w", retry_at=utcnow() + timedelta(minutes=1), error="ratelimited")
    assert schedule.claim_due(engine, worker_id="w") == []
    assert schedule.claim_due(engine, worker_id="w", now=utcnow() + timedelta(minutes=2))[0].key == "r"
    add(engine, "c1")
    add(engine, "c2")
    with session_scope(engine) as session:
        assert schedule.cancel(session, key_prefix="c") == 2
    with Session(engine) as session:
        assert schedule.get(session, key="c1").status == "cancelled"


def test_parallel_claimers_never_share_a_row(engine):
    if engine.dialect.name != "postgresql":
        return  # on SQLite one clock process runs at a time (lock file)
    for n in range(300):
        add(engine, f"p{n}")
    claimed: dict[str, list[str]] = {}

    def worker(name: str) -> None:
        mine: list[str] = []
        while rows := schedule.claim_due(engine, worker_id=name, limit=7):
            mine.extend(r.key for r in rows)
        claimed[name] = mine

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    keys = [key for keys in claimed.values() for key in keys]
    assert sorted(keys) == sorted(f"p{n}" for n in range(300))
    assert len(set(keys)) == len(keys)


def test_concurrent_first_requests_of_a_new_workspace_both_succeed(engine):
    import threading

    from sqlmodel import Session

    from storage.workspaces import ensure_workspace

    barrier = threading.Barrier(6)
    failures: list[BaseException] = []

    def first_request(index: int) -> None:
        try:
            with Session(engine) as session:
                barrier.wait()
                ensure_workspace(session, team_id="T0NEWCOMER", name=f"name {index}")
                session.commit()
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            failures.append(exc)

    threads = [threading.Thread(target=first_request, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
